"""Eval runs in the store: create, find (by id or name, within the project), list, case pages, results."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from stackwright.auth import audit
from stackwright.auth.actors import Actor
from stackwright.core.clock import new_id, utcnow
from stackwright.core.errors import NotFound
from stackwright.evals.models import EvalCaseResult, EvalRun

ACTIVE = ("running", "interrupted", "failed")
CASE_FIELDS = ("item_id", "repeat_index", "input", "expected", "output", "trace_id", "latency_ms", "input_tokens",
               "output_tokens", "cost", "error", "scores")  # fmt: skip


def check_can_start(actor: Actor) -> None:
    """Starting or resuming a run writes to the project: members and above (a write key), never a viewer."""
    actor.require_scope("write", "Starting an eval run")


def create_run(session: Session, actor: Actor, project_id: str, spec: dict[str, Any], spec_hash: str, spec_name: str, name: str,
               dataset_ref: str, seed: int, repeat: int, total: int) -> EvalRun:  # fmt: skip
    """Store a new run as running; audited as eval_run.start (name, spec, dataset, cases). 403 for a viewer."""
    check_can_start(actor)
    run = EvalRun(id=new_id("run"), project_id=project_id, name=name, spec_name=spec_name, spec=spec, spec_hash=spec_hash,
                  dataset_ref=dataset_ref, status="running", seed=seed, repeat=repeat, total_cases=total, created_at=utcnow())  # fmt: skip
    session.add(run)
    session.flush()
    audit.record(session, actor, "eval_run.start", "eval_run", run.id, project_id=project_id,
                 after={"name": name, "spec_name": spec_name, "dataset": dataset_ref, "total_cases": total})  # fmt: skip
    return run


def record_resume(session: Session, actor: Actor, run: EvalRun) -> None:
    """Audit a resume (eval_run.resume): the run goes back to running; only its cases without a result run."""
    audit.record(session, actor, "eval_run.resume", "eval_run", run.id, project_id=run.project_id,
                 before={"status": run.status}, after={"name": run.name})  # fmt: skip


def find_run(session: Session, project_id: str, ref: str) -> EvalRun:
    """A run by id, or the newest run with that name; 404 (also for another project's run)."""
    run = session.get(EvalRun, ref)
    if run is not None and run.project_id == project_id:
        return run
    run = session.scalar(
        select(EvalRun).where(EvalRun.project_id == project_id, EvalRun.name == ref).order_by(EvalRun.created_at.desc(), EvalRun.id.desc()).limit(1)
    )
    if run is None:
        raise NotFound(f"No eval run {ref!r} in this project.", hint="Give a run id or name from `stackwright evals list`.")
    return run


def latest_completed(session: Session, project_id: str, *, name: str | None = None, spec_name: str | None = None) -> EvalRun | None:
    query = select(EvalRun).where(EvalRun.project_id == project_id, EvalRun.status == "completed")
    if name is not None:
        query = query.where(EvalRun.name == name)
    if spec_name is not None:
        query = query.where(EvalRun.spec_name == spec_name)
    return session.scalar(query.order_by(EvalRun.finished_at.desc(), EvalRun.id.desc()).limit(1))


def recent_completed(session: Session, project_id: str, limit: int) -> list[EvalRun]:
    """The project's newest completed runs, newest first."""
    query = select(EvalRun).where(EvalRun.project_id == project_id, EvalRun.status == "completed")
    return list(session.scalars(query.order_by(EvalRun.finished_at.desc(), EvalRun.id.desc()).limit(limit)))


def case_traces(session: Session, run_id: str, limit: int) -> list[tuple[str, int, str | None]]:
    """(item id, repeat index, trace id) of at most ``limit`` case results of a run."""
    query = select(EvalCaseResult.item_id, EvalCaseResult.repeat_index, EvalCaseResult.trace_id).where(EvalCaseResult.run_id == run_id)
    return [(item, repeat, trace_id) for item, repeat, trace_id in session.execute(query.limit(limit))]


def done_pairs(session: Session, run_id: str) -> set[tuple[str, int]]:
    rows = session.execute(select(EvalCaseResult.item_id, EvalCaseResult.repeat_index).where(EvalCaseResult.run_id == run_id))
    return {(item_id, index) for item_id, index in rows}


def case_rows(session: Session, run_id: str) -> list[dict[str, Any]]:
    """Every case result of a run, in (item, repeat) order (plain columns, not ORM objects: a run has up to MAX_CASES)."""
    columns = [getattr(EvalCaseResult, f) for f in CASE_FIELDS]
    rows = session.execute(select(*columns).where(EvalCaseResult.run_id == run_id).order_by(EvalCaseResult.item_id, EvalCaseResult.repeat_index))
    return [dict(zip(CASE_FIELDS, r, strict=True)) for r in rows]


def case_payload(row: EvalCaseResult) -> dict[str, Any]:
    return {f: getattr(row, f) for f in CASE_FIELDS}


def write_cases(session: Session, run_id: str, rows: list[dict[str, Any]]) -> None:
    now = utcnow()
    session.execute(insert(EvalCaseResult.__table__), [{**r, "run_id": run_id, "created_at": now} for r in rows])


def finish(session: Session, run_id: str, status: str, summary: dict[str, Any] | None, error: str | None = None) -> None:
    session.execute(update(EvalRun).where(EvalRun.id == run_id).values(status=status, summary=summary, error=error, finished_at=utcnow()))


def set_status(session: Session, run_id: str, status: str, error: str | None = None) -> None:
    session.execute(update(EvalRun).where(EvalRun.id == run_id).values(status=status, error=error))


def run_payload(run: EvalRun, *, with_spec: bool = False) -> dict[str, Any]:
    out = {
        "id": run.id, "name": run.name, "spec_name": run.spec_name, "dataset": run.dataset_ref, "status": run.status,
        "seed": run.seed, "repeat": run.repeat, "total_cases": run.total_cases, "spec_hash": run.spec_hash,
        "summary": run.summary, "error": run.error, "created_at": run.created_at, "finished_at": run.finished_at,
    }  # fmt: skip
    if with_spec:
        out["spec"] = run.spec
    return out


def list_runs(session: Session, project_id: str, *, name: str | None = None, limit: int = 50, offset: int = 0,
              with_spec: bool = False) -> list[dict[str, Any]]:  # fmt: skip
    query = select(EvalRun).where(EvalRun.project_id == project_id)
    if name:
        query = query.where((EvalRun.name == name) | (EvalRun.spec_name == name))
    rows = session.scalars(query.order_by(EvalRun.created_at.desc(), EvalRun.id.desc()).limit(limit).offset(offset))
    return [run_payload(r, with_spec=with_spec) for r in rows]


def count_cases(session: Session, run_id: str) -> int:
    """How many case results a run has stored (its progress while it runs)."""
    return session.scalar(select(func.count()).select_from(EvalCaseResult).where(EvalCaseResult.run_id == run_id)) or 0


def cases_page(session: Session, run_id: str, *, offset: int = 0, limit: int = 100, failed_only: bool = False) -> list[dict[str, Any]]:
    query = select(EvalCaseResult).where(EvalCaseResult.run_id == run_id)
    if failed_only:
        query = query.where(EvalCaseResult.error.is_not(None))
    rows = session.scalars(query.order_by(EvalCaseResult.item_id, EvalCaseResult.repeat_index).limit(limit).offset(offset))
    return [case_payload(r) for r in rows]
