"""The live arm comparison of a release page: per arm (stable, candidate, shadow) the requests, error rate,
p95 latency, cost and mean scores since the candidate started.

A request is one trace of the route and environment; its arm is the arm of the call that served it (the
trace summary the tracing layer keeps per trace from its spans: status, duration, summed cost). So the page
reads the trace summaries on the (project, route, start) index instead of every span. Shadow runs serve no
request: in shadow mode the shadow arm is measured on its own spans (failed if any failed, latency the
longest, cost the sum), like the releases layer's guard does. Bounded: at most the newest ``SCAN_TRACES``
requests of the route since the candidate started (``cut`` tells the page when the window was shortened),
and the first ``MAX_SCORES`` score names by count.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from stackwright.releases.traffic import to_ns
from stackwright.tracing.models import Score, Span, Trace

ARMS = ("stable", "candidate", "shadow")
SCAN_TRACES = 50_000
MAX_SCORES = 8


def _window_start(session: Session, project_id: str, route: str, since_ns: int) -> tuple[int, bool]:
    """Where the window starts: the candidate's start, or the SCAN_TRACES-th newest trace of the route if later."""
    query = (
        select(Trace.start_ns)
        .where(Trace.project_id == project_id, Trace.route == route, Trace.start_ns >= since_ns)
        .order_by(Trace.start_ns.desc())
        .offset(SCAN_TRACES - 1)
        .limit(1)
    )
    nth = session.scalar(query)
    return (nth, True) if nth is not None and nth > since_ns else (since_ns, False)


def _summarise(per_request: Any) -> Any:
    """Per arm: requests, errors, cost and the nearest-rank p95 of a (arm, failed, latency, cost) subquery."""
    r = per_request.c
    ranked = select(
        r.arm, r.failed, r.latency, r.cost,
        func.row_number().over(partition_by=r.arm, order_by=r.latency).label("rank"),
        func.count().over(partition_by=r.arm).label("n"),
    ).subquery()  # fmt: skip
    k = ranked.c
    nearest_rank = (k.n * 95 + 99) // 100
    return select(
        k.arm, func.max(k.n), func.sum(k.failed), func.sum(k.cost), func.max(case((k.rank == nearest_rank, k.latency)))
    ).group_by(k.arm)


def _served(session: Session, trace_where: list[Any]) -> dict[str, dict[str, Any]]:
    """Per served arm: one grouped pass for requests, errors and cost, then each arm's nearest-rank p95 as the
    (n - ceil(0.95 n))-th slowest request (a top-N sort, not a full one)."""
    where = [*trace_where, Trace.release_arm.in_(("stable", "candidate"))]
    failed = func.sum(case((Trace.status == "error", 1), else_=0))
    query = select(Trace.release_arm, func.count(), failed, func.sum(Trace.cost)).where(*where).group_by(Trace.release_arm)
    out: dict[str, dict[str, Any]] = {}
    rows: list[Any] = list(session.execute(query))
    for arm, n, errors, cost in rows:
        rank_from_top = n - (n * 95 + 99) // 100
        p95 = session.scalar(
            select(Trace.duration_ms)
            .where(*where, Trace.release_arm == arm)
            .order_by(Trace.duration_ms.desc())
            .offset(rank_from_top)
            .limit(1)
        )
        out[arm] = _summary(int(n), int(errors or 0), float(cost or 0.0), p95)
    return out


def _summary(n: int, errors: int, cost: float, p95: float | None) -> dict[str, Any]:
    return {"requests": n, "errors": errors, "error_rate": errors / n if n else None, "p95_ms": p95, "cost": cost,
            "cost_per_request": cost / n if n else None}  # fmt: skip


def _shadow(project_id: str, route: str, env: str, start_ns: int) -> Any:
    return (
        select(
            Span.release_arm.label("arm"),
            func.max(case((Span.status == "error", 1), else_=0)).label("failed"),
            func.max(Span.duration_ms).label("latency"),
            func.coalesce(func.sum(Span.cost), 0.0).label("cost"),
        )
        .where(
            Span.project_id == project_id,
            Span.start_ns >= start_ns,
            Span.route == route,
            Span.environment == env,
            Span.release_arm == "shadow",
        )  # fmt: skip
        .group_by(Span.release_arm, Span.trace_id)
        .subquery()
    )


def _requests(session: Session, query: Any) -> dict[str, dict[str, Any]]:
    return {
        arm: _summary(int(n or 0), int(failed or 0), float(cost or 0.0), p95)
        for arm, n, failed, cost, p95 in list[Any](session.execute(query))
    }


def _scores(session: Session, trace_where: list[Any]) -> dict[str, dict[str, dict[str, float]]]:
    """Mean scores per served arm: scores on a request's trace or on one of its spans."""
    join = and_(Score.project_id == Trace.project_id, Score.trace_id == Trace.trace_id)
    query = (
        select(Trace.release_arm, Score.name, func.count(), func.avg(Score.value))
        .select_from(Trace)
        .join(Score, join)
        .where(*trace_where, Score.value.isnot(None), or_(Trace.release_arm == "stable", Trace.release_arm == "candidate"))
        .group_by(Trace.release_arm, Score.name)
    )
    out: dict[str, dict[str, dict[str, float]]] = {}
    rows: list[Any] = list(session.execute(query))
    for arm, name, n, mean in rows:
        out.setdefault(arm, {})[name] = {"n": int(n), "mean": float(mean)}
    return out


def live_arms(session: Session, project_id: str, route: str, env: str, since: datetime, mode: str | None) -> dict[str, Any]:
    """``{"arms": [{arm, requests, errors, error_rate, p95_ms, cost, cost_per_request, scores}], "score_names",
    "since_ns", "cut", "limit"}``; stable and the candidate's arm (``shadow`` in shadow mode) are always listed."""
    expected = "shadow" if mode == "shadow" else "candidate"
    start, cut = _window_start(session, project_id, route, to_ns(since))
    trace_where = [Trace.project_id == project_id, Trace.route == route, Trace.start_ns >= start, Trace.environment == env]
    requests = _served(session, trace_where)
    if mode == "shadow":
        requests.update(_requests(session, _summarise(_shadow(project_id, route, env, start))))
    scores = _scores(session, trace_where)
    counted: dict[str, int] = {}
    for by_name in scores.values():
        for name, summary in by_name.items():
            counted[name] = counted.get(name, 0) + int(summary["n"])
    names = sorted(sorted(counted, key=lambda n: -counted[n])[:MAX_SCORES])
    empty = {"requests": 0, "errors": 0, "error_rate": None, "p95_ms": None, "cost": 0.0, "cost_per_request": None}
    arms = [
        {"arm": arm, **requests.get(arm, empty), "scores": {n: scores.get(arm, {}).get(n) for n in names}}
        for arm in ARMS
        if arm in ("stable", expected) or arm in requests
    ]
    return {"arms": arms, "score_names": names, "since_ns": start, "cut": cut, "limit": SCAN_TRACES}
