"""What the traces say about a release: per-arm request counts, error rates, p95 latency and mean scores,
and how fast the last rollback took effect.

A request is one trace's spans of the route and environment on one arm (spans carry ``route``,
``environment`` and ``release_arm``, from the ``stackwright.route``, ``stackwright.environment`` and
``stackwright.release.arm`` attributes): it failed if any of those spans failed, and its latency is the
longest of them. Shadow runs (arm ``shadow``) count for the candidate. Scores count for an arm when they
are attached to one of its spans or to its trace as a whole.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from stackwright.tracing.models import Score, Span

STABLE_ARMS = ("stable",)
CANDIDATE_ARMS = ("candidate", "shadow")
MAX_WINDOW = 50_000  # most recent requests per arm that are compared


def to_ns(value: datetime) -> int:
    return int(value.timestamp()) * 10**9 + value.microsecond * 1000


def ns_to_iso(ns: int | None) -> str | None:
    from datetime import UTC

    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat() if ns is not None else None


def _where(project_id: str, route: str, env: str, since_ns: int, arms: tuple[str, ...] | None) -> list[Any]:
    where = [Span.project_id == project_id, Span.start_ns >= since_ns, Span.route == route, Span.environment == env]
    if arms is not None:
        where.append(Span.release_arm.in_(arms))
    return where


def _requests(session: Session, where: list[Any]) -> list[tuple[int, float]]:
    """(failed 0/1, latency ms) per request, newest MAX_WINDOW."""
    failed = func.max(case((Span.status == "error", 1), else_=0))
    query = (
        select(failed, func.max(Span.duration_ms))
        .where(*where)
        .group_by(Span.trace_id)
        .order_by(func.max(Span.start_ns).desc())
        .limit(MAX_WINDOW)
    )
    return [(int(row[0] or 0), float(row[1] or 0.0)) for row in session.execute(query)]


def _scores(session: Session, where: list[Any], names: list[str]) -> dict[str, dict[str, Any]]:
    if not names:
        return {}
    join = and_(
        Score.project_id == Span.project_id,
        Score.trace_id == Span.trace_id,
        or_(Score.span_id.is_(None), Score.span_id == Span.span_id),
    )
    query = (
        select(Score.id, Score.name, Score.value)
        .select_from(Span)
        .join(Score, join)
        .where(*where, Score.name.in_(names), Score.value.isnot(None))
        .distinct()
    )
    values: dict[str, list[float]] = {}
    for _, name, value in session.execute(query):
        assert value is not None  # the query keeps only scores with a value
        values.setdefault(name, []).append(float(value))
    return {name: {"n": len(v), "mean": sum(v) / len(v)} for name, v in sorted(values.items())}


def arm_summary(session: Session, where: list[Any], score_names: list[str]) -> dict[str, Any]:
    import numpy as np

    requests = _requests(session, where)
    count = len(requests)
    errors = sum(failed for failed, _ in requests)
    p95 = float(np.percentile(np.asarray([ms for _, ms in requests], dtype=np.float64), 95)) if requests else None
    return {
        "requests": count,
        "errors": errors,
        "error_rate": errors / count if count else None,
        "p95_ms": p95,
        "scores": _scores(session, where, score_names),
    }


def arm_stats(
    session: Session, project_id: str, route: str, env: str, since: datetime, score_names: list[str] | None = None
) -> dict[str, dict[str, Any]]:
    """``{"stable": summary, "candidate": summary}`` over the requests since ``since``."""
    since_ns = to_ns(since)
    names = sorted(score_names or [])
    return {
        "stable": arm_summary(session, _where(project_id, route, env, since_ns, STABLE_ARMS), names),
        "candidate": arm_summary(session, _where(project_id, route, env, since_ns, CANDIDATE_ARMS), names),
    }


def _count_and_last(session: Session, where: list[Any]) -> tuple[int, int | None]:
    row = session.execute(select(func.count(func.distinct(Span.trace_id)), func.max(Span.start_ns)).where(*where)).one()
    return int(row[0] or 0), row[1]


def rollback_effect(session: Session, release: Any) -> dict[str, Any] | None:
    """How fast the last rollback took effect, from the traces: requests served by the rolled-back config
    after the rollback (candidate arm for a candidate rollback; the old prompt version for a stable one).

    ``took_effect_s`` is the time from the rollback to the last such request (0 if there was none while
    other requests came in; None while no request of the route has been traced since).
    """
    last = release.last_rollback
    if not last or release.last_rollback_at is None:
        return None
    at_ns = to_ns(release.last_rollback_at)
    base = _where(release.project_id, release.route, release.environment, at_ns, None)
    total, _ = _count_and_last(session, base)
    old_filter: Any = None
    if last.get("kind") == "candidate":
        old_filter = Span.release_arm.in_(CANDIDATE_ARMS)
    else:
        old, new = last.get("from") or {}, last.get("to") or {}
        if old.get("prompt") and old.get("prompt") != new.get("prompt"):
            old_filter = and_(Span.prompt_name == old["prompt_name"], Span.prompt_version == str(old["prompt_version"]))
    if old_filter is None:
        return {"requests_since": total, "old_config_requests_since": None, "last_old_config_request_at": None,
                "took_effect_s": None, "note": "the old and new configs use the same prompt version: traces cannot tell them apart"}  # fmt: skip
    old_count, old_last = _count_and_last(session, [*base, old_filter])
    took: float | None
    if old_count and old_last is not None:
        took = max(0.0, (old_last - at_ns) / 1e9)
    else:
        took = 0.0 if total else None
    return {
        "requests_since": total,
        "old_config_requests_since": old_count,
        "last_old_config_request_at": ns_to_iso(old_last) if old_count else None,
        "took_effect_s": took,
    }
