"""Evaluations: the runs list (`/ui/evals`) and one run (`/ui/evals/{run_id}`): each scorer's mean with its 95 %
interval, pass rates and unmeasured counts, the gates, and a paged per-case table (filter: failures only) linking
each case's trace. While a run runs, the page shows its progress; ui.js polls `/ui/evals/{run_id}/progress` and
reloads when it ends, and the page's own reload link does the same without script.

Everything is read through the evals layer's service in the session's current project: another project's run
is a 404 page. Starting a run is `eval_start.py`; comparing two is `eval_compare.py`.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select

from stackwright.core.deps import get_db
from stackwright.evals import service
from stackwright.evals.models import EvalCaseResult
from stackwright.ui.nav import NavEntry, add_nav
from stackwright.ui.pages import UserDep, WebUser, page_router, render

router = page_router()
EVALS = "/ui/evals"
RUNS_PER_PAGE = 50
CASES_PER_PAGE = 50
SHOWN_CHARS = 400  # a cell shows this much of an input, expected value or output; the trace has the rest

add_nav(NavEntry("Evaluations", EVALS, 34))


def shown(value: Any, limit: int = SHOWN_CHARS) -> str:
    """A value as text for a table cell (JSON for anything but a string), cut to ``limit`` characters."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def target_of(spec: dict[str, Any] | None) -> str:
    """What a run's spec evaluates, in a few words: ``prompt support-answer@3 on local/extractive``."""
    target = (spec or {}).get("target") or {}
    for kind in ("prompt", "route", "http", "python"):
        if target.get(kind):
            return f"{kind} {target[kind]}" + (f" on {target['model']}" if target.get("model") else "")
    return f"model {target.get('model', '?')}"


def verdict_of(run: dict[str, Any]) -> str:
    """The gate verdict of a run: passed, failed, no gates, or pending (not finished)."""
    summary = run.get("summary")
    if run["status"] != "completed" or summary is None:
        return "pending" if run["status"] == "running" else "none"
    if not summary.get("gates"):
        return "no gates"
    return "passed" if summary.get("passed") else "failed"


def offset_of(raw: str | None) -> int:
    try:
        return max(0, min(int(raw or 0), 10**7))
    except ValueError:
        return 0


@router.get(EVALS)
def runs_list(request: Request, user: UserDep, offset: str | None = Query(None, max_length=12)) -> Response:
    start = offset_of(offset)
    with get_db(request).read() as session:
        runs = service.list_runs(session, user.project_id, limit=RUNS_PER_PAGE + 1, offset=start, with_spec=True)
    rows = [{**r, "target": target_of(r.get("spec")), "verdict": verdict_of(r)} for r in runs[:RUNS_PER_PAGE]]
    return render(request, "evals.html", user=user, runs=rows, offset=start, per_page=RUNS_PER_PAGE,
                  next_offset=start + RUNS_PER_PAGE if len(runs) > RUNS_PER_PAGE else None, can_start=can_start(user))  # fmt: skip


def can_start(user: WebUser) -> bool:
    """Whether to offer the start forms (the service decides; a viewer's forged post is refused there)."""
    from stackwright.auth.actors import ROLE_RANK

    return ROLE_RANK.get(user.project.role if user.project else "", 0) >= ROLE_RANK["member"]


def _failing(case: dict[str, Any]) -> bool:
    return bool(case.get("error")) or any((s or {}).get("passed") is False for s in (case.get("scores") or {}).values())


def failing_page(session: Any, run_id: str, offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
    """A page of the run's failing cases (the target failed, or a scorer failed the case) and how many fail:
    the run's error and score columns are read once (a run has at most MAX_CASES cases), then one page."""
    query = select(EvalCaseResult.id, EvalCaseResult.error, EvalCaseResult.scores).where(EvalCaseResult.run_id == run_id)
    rows = session.execute(query.order_by(EvalCaseResult.item_id, EvalCaseResult.repeat_index)).all()
    ids = [row_id for row_id, error, scores in rows if _failing({"error": error, "scores": scores})]
    page = ids[offset : offset + limit]
    found = {r.id: service.case_payload(r) for r in session.scalars(select(EvalCaseResult).where(EvalCaseResult.id.in_(page)))} if page else {}
    return [found[i] for i in page if i in found], len(ids)


def case_view(case: dict[str, Any], scorer_names: list[str]) -> dict[str, Any]:
    scores = case.get("scores") or {}
    return {
        "item_id": case["item_id"], "repeat_index": case["repeat_index"], "input": shown(case.get("input")),
        "expected": shown(case.get("expected")), "output": shown(case.get("output")), "error": case.get("error"),
        "latency_ms": case.get("latency_ms"), "cost": case.get("cost"), "trace_id": case.get("trace_id"),
        "failing": _failing(case), "scores": [{"name": n, "value": None, "passed": None, "reason": None, **(scores.get(n) or {})} for n in scorer_names],
    }  # fmt: skip


def scorer_names(run: dict[str, Any]) -> list[str]:
    names = list((run.get("summary") or {}).get("scorers") or {})
    return names or [s.get("name") or s["type"] for s in (run.get("spec") or {}).get("scorers", [])]


@router.get(EVALS + "/{run_id}")
def run_page(request: Request, run_id: str, user: UserDep, offset: str | None = Query(None, max_length=12),
             failures: str | None = Query(None, max_length=5)) -> Response:  # fmt: skip
    start, failures_only = offset_of(offset), failures in ("1", "on", "true")
    with get_db(request).read() as session:
        found = service.find_run(session, user.project_id, run_id[:200])
        run = service.run_payload(found, with_spec=True)
        done = service.count_cases(session, found.id)
        if failures_only:
            cases, matching = failing_page(session, found.id, start, CASES_PER_PAGE)
        else:
            cases, matching = service.cases_page(session, found.id, offset=start, limit=CASES_PER_PAGE), done
    names = scorer_names(run)
    summary = run.get("summary") or {}
    context: dict[str, Any] = {
        "run": run, "target": target_of(run.get("spec")), "verdict": verdict_of(run), "done": done, "names": names,
        "scorers": summary.get("scorers") or {}, "gates": summary.get("gates") or [], "summary": summary,
        "cases": [case_view(c, names) for c in cases], "matching": matching, "offset": start, "per_page": CASES_PER_PAGE,
        "failures_only": failures_only, "percent": round(100 * done / run["total_cases"]) if run["total_cases"] else 100,
    }  # fmt: skip
    return render(request, "eval_run.html", user=user, **context)


@router.get(EVALS + "/{run_id}/progress")
def run_progress(request: Request, run_id: str, user: UserDep) -> Response:
    """The running page's poll: {status, done, total} as JSON."""
    with get_db(request).read() as session:
        found = service.find_run(session, user.project_id, run_id[:200])
        body = {"status": found.status, "done": service.count_cases(session, found.id), "total": found.total_cases}
    return JSONResponse(body, headers={"Cache-Control": "no-store"})
