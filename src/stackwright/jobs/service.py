"""Jobs and schedules: enqueue, list, show (with logs), cancel; cron schedules (create or replace, list,
delete). No HTTP here; the caller commits. Every lookup is scoped to a project: another project's job
is not found. The ``*_by`` functions are the changes people make (API, web UI): they check the actor's role and
write the audit entry.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from stackwright.auth import audit
from stackwright.core.clock import new_id, utcnow
from stackwright.core.db import rowcount
from stackwright.core.errors import Conflict, InvalidInput, NotFound
from stackwright.jobs.models import FINISHED, STATUSES, Job, JobLog, JobSchedule

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
CRON_FIELDS = ("minute", "hour", "day of month", "month", "day of week")
MAX_ATTEMPTS = 20
MAX_PARAMS_BYTES = 1_000_000


# -- cron -----------------------------------------------------------------------------------------------------


def check_cron(expr: str) -> str:
    """The expression, normalized; InvalidInput naming the bad field (5 fields: minute hour day month weekday)."""
    from croniter import croniter

    if not isinstance(expr, str) or not expr.strip():
        raise InvalidInput("The cron expression is empty.", hint='Use five fields, e.g. "*/5 * * * *" (every 5 minutes).')
    fields = expr.split()
    if len(fields) != 5:
        raise InvalidInput(f"Cron expression {expr!r} has {len(fields)} fields, not 5.",
                           hint='The fields are: minute hour day-of-month month day-of-week, e.g. "0 3 * * 1".')  # fmt: skip
    for index, value in enumerate(fields):
        probe = ["*"] * 5
        probe[index] = value
        if not croniter.is_valid(" ".join(probe)):
            raise InvalidInput(f"Cron expression {expr!r}: the {CRON_FIELDS[index]} field {value!r} is not valid.",
                               hint=_FIELD_HINTS[index])  # fmt: skip
    normalized = " ".join(fields)
    if not croniter.is_valid(normalized):
        raise InvalidInput(f"Cron expression {expr!r} is not valid.", hint='e.g. "*/5 * * * *" or "0 3 * * 1".')
    try:
        next_fire(normalized, utcnow())
    except Exception:  # noqa: BLE001 - croniter gives up searching for a date that does not exist
        raise InvalidInput(f"Cron expression {expr!r} never fires (no such date).", hint="Check the day of month against the month.") from None
    return normalized


_FIELD_HINTS = (
    "Minutes are 0-59, e.g. 0, */5, 0,30 or 10-20.",
    "Hours are 0-23, e.g. 3, */2 or 9-17.",
    "Days of the month are 1-31, e.g. 1 or 1,15.",
    "Months are 1-12 or jan-dec.",
    "Days of the week are 0-6 (0 is Sunday) or sun-sat, e.g. 1-5.",
)


def next_fire(cron: str, after: datetime) -> datetime:
    """The first time the schedule fires strictly after ``after`` (UTC)."""
    from croniter import croniter

    return croniter(cron, after).get_next(datetime)


# -- jobs -----------------------------------------------------------------------------------------------------


def check_max_attempts(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ATTEMPTS:
        raise InvalidInput(f"max_attempts must be a whole number from 1 to {MAX_ATTEMPTS}, not {value!r}.")
    return value


def check_params(kind_name: str, params: Any, settings: Any = None) -> tuple[str, dict[str, Any]]:
    """The kind (must be registered) and its validated params, or InvalidInput naming what is wrong. ``settings``
    (the server's) feed checks that need them: an evals.run spec may name python code only from the operator's
    allow-list, and none when they are not given."""
    import orjson

    from stackwright.jobs.kinds import EXTRA_CHECKS, get_kind

    kind = get_kind(kind_name)
    checked = kind.validate(params)
    if len(orjson.dumps(checked, default=str)) > MAX_PARAMS_BYTES:
        raise InvalidInput(f"Params of a job are limited to {MAX_PARAMS_BYTES} bytes of JSON.", hint="Pass a reference (a collection, a dataset) instead.")
    extra = EXTRA_CHECKS.get(kind.name)
    if extra is not None:
        extra(checked, settings)
    return kind.name, checked


def enqueue(session: Session, project_id: str, kind: str, params: Any, *, max_attempts: int = 1,
            run_key: str | None = None, schedule_id: str | None = None, checked: bool = False, settings: Any = None) -> Job:  # fmt: skip
    """Add a queued job (flushed, not committed); ``settings`` as in ``check_params``."""
    if not checked:
        kind, params = check_params(kind, params, settings)
    job_id = new_id("job")
    job = Job(id=job_id, project_id=project_id, kind=kind, params=params, status="queued", progress=0.0, attempts=0,
              max_attempts=check_max_attempts(max_attempts), run_key=run_key or job_id, schedule_id=schedule_id,
              cancel_requested=False, run_after=utcnow(), created_at=utcnow())  # fmt: skip
    session.add(job)
    session.flush()
    return job


def get_job(session: Session, project_id: str, job_id: str) -> Job:
    job = session.get(Job, job_id) if isinstance(job_id, str) and len(job_id) <= 32 else None
    if job is None or job.project_id != project_id:
        raise NotFound(f"No job {job_id!r} in this project.", hint="List jobs with `stackwright jobs list` or GET /api/v1/jobs.")
    return job


def list_jobs(session: Session, project_id: str, *, status: str | None = None, kind: str | None = None,
              limit: int = 50, offset: int = 0) -> list[Job]:  # fmt: skip
    query = select(Job).where(Job.project_id == project_id)
    if status is not None:
        if status not in STATUSES:
            raise InvalidInput(f"Unknown job status {status!r}.", hint=f"Use one of: {', '.join(STATUSES)}.")
        query = query.where(Job.status == status)
    if kind is not None:
        query = query.where(Job.kind == kind)
    return list(session.scalars(query.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit).offset(offset)))


def job_logs(session: Session, job_id: str, limit: int = 1000) -> list[JobLog]:
    return list(session.scalars(select(JobLog).where(JobLog.job_id == job_id).order_by(JobLog.id).limit(limit)))


def add_log(session: Session, job_id: str, attempt: int, message: str, level: str = "info") -> None:
    session.add(JobLog(job_id=job_id, attempt=attempt, level=level, message=str(message)[:10_000], created_at=utcnow()))


def cancel(session: Session, project_id: str, job_id: str) -> Job:
    """A queued job is cancelled now; a running one is asked to stop (it stops at its next progress
    report or cancel check). Conflict if the job already finished."""
    job = get_job(session, project_id, job_id)
    if job.status in FINISHED:
        raise Conflict(f"Job {job.id} already finished ({job.status}); there is nothing to cancel.")
    now = utcnow()
    done = rowcount(session.execute(
        update(Job).where(Job.id == job.id, Job.status == "queued")
        .values(status="cancelled", finished_at=now, error="cancelled before it started")
    ))  # fmt: skip
    if done:
        add_log(session, job.id, job.attempts, "cancelled before it started", "warning")
    else:
        session.execute(update(Job).where(Job.id == job.id).values(cancel_requested=True))
        add_log(session, job.id, job.attempts, "cancel requested", "warning")
    session.flush()
    session.refresh(job)
    return job


def enqueue_by(session: Session, actor: Any, project_id: str, kind: str, params: Any, *, max_attempts: int = 1, settings: Any) -> Job:
    """``enqueue`` on behalf of ``actor``: it needs the write scope, the params pass the same checks (python code in
    an evals.run spec only from the operator's allow-list in ``settings``), and it is audited as ``job.enqueue``."""
    actor.require_scope("write", "Enqueueing a job")
    job = enqueue(session, project_id, kind, params, max_attempts=max_attempts, settings=settings)
    audit.record(session, actor, "job.enqueue", "job", job.id, project_id=project_id, after={"kind": job.kind})
    return job


def cancel_by(session: Session, actor: Any, project_id: str, job_id: str) -> Job:
    """``cancel`` on behalf of ``actor`` (the API's key or the web UI's user): it needs the write scope (a member of
    the project or above), and the request is audited as ``job.cancel``."""
    actor.require_scope("write", "Cancelling a job")
    job = cancel(session, project_id, job_id)
    audit.record(session, actor, "job.cancel", "job", job.id, project_id=project_id)
    return job


def job_payload(job: Job, logs: list[JobLog] | None = None) -> dict[str, Any]:
    data = {
        "id": job.id, "kind": job.kind, "params": job.params, "status": job.status, "progress": job.progress,
        "attempts": job.attempts, "max_attempts": job.max_attempts, "result": job.result, "error": job.error,
        "schedule_id": job.schedule_id, "run_key": job.run_key, "cancel_requested": job.cancel_requested,
        "created_at": _iso(job.created_at), "started_at": _iso(job.started_at), "finished_at": _iso(job.finished_at),
        "heartbeat_at": _iso(job.heartbeat_at), "worker": job.worker,
    }  # fmt: skip
    if logs is not None:
        data["logs"] = [{"at": _iso(r.created_at), "attempt": r.attempt, "level": r.level, "message": r.message} for r in logs]
    return data


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


# -- schedules ------------------------------------------------------------------------------------------------


def check_schedule_name(name: Any) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise InvalidInput(f"Schedule name {name!r} is not valid.", hint="Use letters, digits, '.', '_' or '-' (at most 200).")
    return name


def set_schedule(session: Session, project_id: str, name: str, cron: str, kind: str, params: Any, *,
                 max_attempts: int = 1, enabled: bool = True, settings: Any = None) -> tuple[JobSchedule, bool]:  # fmt: skip
    """Create the schedule, or replace the one with that name; (row, created). The next run is computed from now;
    ``settings`` as in ``check_params``."""
    check_schedule_name(name)
    cron = check_cron(cron)
    kind, params = check_params(kind, params, settings)
    check_max_attempts(max_attempts)
    now = utcnow()
    row = session.scalar(select(JobSchedule).where(JobSchedule.project_id == project_id, JobSchedule.name == name))
    created = row is None
    if row is None:
        row = JobSchedule(id=new_id("sch"), project_id=project_id, name=name, created_at=now)
        session.add(row)
    row.cron, row.kind, row.params, row.max_attempts, row.enabled = cron, kind, params, max_attempts, bool(enabled)
    row.next_run_at = next_fire(cron, now)
    session.flush()
    return row, created


def get_schedule(session: Session, project_id: str, name: str) -> JobSchedule:
    row = session.scalar(select(JobSchedule).where(JobSchedule.project_id == project_id, JobSchedule.name == name))
    if row is None:
        raise NotFound(f"No job schedule named {name!r} in this project.", hint="List them with `stackwright jobs schedules`.")
    return row


def list_schedules(session: Session, project_id: str) -> list[JobSchedule]:
    return list(session.scalars(select(JobSchedule).where(JobSchedule.project_id == project_id).order_by(JobSchedule.name)))


def delete_schedule(session: Session, project_id: str, name: str) -> None:
    session.delete(get_schedule(session, project_id, name))
    session.flush()


def set_schedule_by(session: Session, actor: Any, project_id: str, name: str, cron: str, kind: str, params: Any, *,
                    max_attempts: int = 1, enabled: bool = True, settings: Any) -> tuple[JobSchedule, bool]:  # fmt: skip
    """``set_schedule`` on behalf of ``actor``: it needs the write scope and is audited as ``job_schedule.set``."""
    actor.require_scope("write", "Changing a job schedule")
    row, created = set_schedule(session, project_id, name, cron, kind, params, max_attempts=max_attempts, enabled=enabled, settings=settings)
    payload = schedule_payload(row)
    audit.record(session, actor, "job_schedule.set", "job_schedule", row.name, project_id=project_id,
                 after={k: payload[k] for k in ("cron", "kind", "enabled", "max_attempts")})  # fmt: skip
    return row, created


def delete_schedule_by(session: Session, actor: Any, project_id: str, name: str) -> None:
    """``delete_schedule`` on behalf of ``actor``: it needs the write scope and is audited as ``job_schedule.delete``."""
    actor.require_scope("write", "Deleting a job schedule")
    delete_schedule(session, project_id, name)
    audit.record(session, actor, "job_schedule.delete", "job_schedule", name, project_id=project_id)


def schedule_payload(row: JobSchedule) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "cron": row.cron, "kind": row.kind, "params": row.params,
            "max_attempts": row.max_attempts, "enabled": row.enabled, "next_run_at": _iso(row.next_run_at),
            "last_run_at": _iso(row.last_run_at), "created_at": _iso(row.created_at)}  # fmt: skip


def count_by_status(session: Session, project_id: str) -> dict[str, int]:
    rows = session.execute(select(Job.status, func.count()).where(Job.project_id == project_id).group_by(Job.status)).all()
    return {status: n for status, n in rows}
