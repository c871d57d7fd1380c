"""Deleting traces: privacy requests (every trace of one end user), per-project retention and its purge.

A trace is deleted whole: its spans, its scores and its summary row. The purge works in chunks of
``PURGE_CHUNK`` traces per transaction, so it never holds SQLite's write lock for long.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from stackwright.auth import audit
from stackwright.auth.actors import SYSTEM, Actor
from stackwright.core.clock import utcnow
from stackwright.core.db import Database, rowcount
from stackwright.core.periodic import PeriodicTask
from stackwright.tracing.models import Score, Span, Trace, TraceSettings

log = logging.getLogger("stackwright.tracing")
PURGE_CHUNK = 5000
_IN_CHUNK = 1000  # ids per IN (...) list: well under every driver's bound-parameter limit
_UNSET: Any = object()


def delete_traces(session: Session, project_id: str, trace_ids: Sequence[str]) -> tuple[int, int]:
    """Delete these traces of the project (spans, scores, trace rows); returns (traces, spans) deleted."""
    traces = spans = 0
    for i in range(0, len(trace_ids), _IN_CHUNK):
        ids = list(trace_ids[i : i + _IN_CHUNK])
        spans += rowcount(session.execute(delete(Span).where(Span.project_id == project_id, Span.trace_id.in_(ids))))
        session.execute(delete(Score).where(Score.project_id == project_id, Score.trace_id.in_(ids)))
        traces += rowcount(session.execute(delete(Trace).where(Trace.project_id == project_id, Trace.trace_id.in_(ids))))
    return traces, spans


def _user_trace_ids(session: Session, project_id: str, user_id: str) -> list[str]:
    query = select(Span.trace_id).where(Span.project_id == project_id, Span.user_id == user_id).distinct()
    return list(session.scalars(query))


def count_user_traces(session: Session, project_id: str, user_id: str) -> int:
    return len(_user_trace_ids(session, project_id, user_id))


def delete_user_traces(session: Session, actor: Actor, project_id: str, user_id: str) -> dict[str, int]:
    """Privacy request: delete every trace with any span of this end user, in one transaction (audited)."""
    trace_ids = _user_trace_ids(session, project_id, user_id)
    scores = 0
    for i in range(0, len(trace_ids), _IN_CHUNK):
        ids = trace_ids[i : i + _IN_CHUNK]
        scores += session.scalar(
            select(func.count()).select_from(Score).where(Score.project_id == project_id, Score.trace_id.in_(ids))
        ) or 0
    traces, spans = delete_traces(session, project_id, trace_ids)
    result = {"deleted_traces": traces, "deleted_spans": spans, "deleted_scores": scores}
    audit.record(session, actor, "traces.delete_user", "end_user", user_id[:200], project_id=project_id, after=result)
    return result


# -- settings -------------------------------------------------------------------------------------


def settings_view(row: TraceSettings | None) -> dict[str, Any]:
    if row is None:
        return {"retention_days": None, "prices": {}, "updated_at": None}
    return {"retention_days": row.retention_days, "prices": dict(row.prices or {}), "updated_at": row.updated_at}


def get_settings(session: Session, project_id: str) -> dict[str, Any]:
    return settings_view(session.get(TraceSettings, project_id))


def update_settings(
    session: Session,
    actor: Actor,
    project_id: str,
    *,
    retention_days: int | None = _UNSET,
    prices: dict[str, dict[str, float]] | None = _UNSET,
) -> dict[str, Any]:
    """Change what is given (``retention_days`` None = keep forever; ``prices`` replaces the map), audited.

    Only an admin or owner of the project (an ``admin``-scoped actor) may. A caller should then drop the app's
    cached prices (``app.state.pricers.forget``).
    """
    actor.require_scope("admin", "Changing the project's trace retention and prices")
    row = session.get(TraceSettings, project_id)
    before = settings_view(row)
    if row is None:
        row = TraceSettings(project_id=project_id, retention_days=None, prices={}, updated_at=utcnow())
        session.add(row)
    if retention_days is not _UNSET:
        row.retention_days = retention_days
    if prices is not _UNSET:
        row.prices = dict(prices or {})
    row.updated_at = utcnow()
    session.flush()
    after = settings_view(row)
    audit.record(
        session,
        actor,
        "trace_settings.update",
        "trace_settings",
        project_id,
        project_id=project_id,
        before={**before, "updated_at": before["updated_at"] and before["updated_at"].isoformat()},
        after={**after, "updated_at": after["updated_at"].isoformat()},
    )
    return after


# -- purge ----------------------------------------------------------------------------------------


def purge_project(
    db: Database, project_id: str, retention_days: int, *, now: datetime | None = None, stop: threading.Event | None = None
) -> dict[str, int]:
    """Delete the project's traces that started before now - retention_days, PURGE_CHUNK per transaction."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    cutoff_ns = int(cutoff.timestamp()) * 10**9 + cutoff.microsecond * 1000
    total = {"deleted_traces": 0, "deleted_spans": 0}
    while stop is None or not stop.is_set():
        with db.write() as session:
            ids = list(
                session.scalars(
                    select(Trace.trace_id)
                    .where(Trace.project_id == project_id, Trace.start_ns < cutoff_ns)
                    .order_by(Trace.start_ns)
                    .limit(PURGE_CHUNK)
                )
            )
            traces, spans = delete_traces(session, project_id, ids)
        total["deleted_traces"] += traces
        total["deleted_spans"] += spans
        if len(ids) < PURGE_CHUNK:
            break
    if total["deleted_traces"]:
        with db.write() as session:
            after = {**total, "retention_days": retention_days, "cutoff": cutoff.isoformat()}
            audit.record(session, SYSTEM, "traces.purge", "project", project_id, project_id=project_id, after=after)
    return total


def purge_expired(
    db: Database, *, now: datetime | None = None, stop: threading.Event | None = None
) -> dict[str, dict[str, int]]:
    """One retention pass over every project with a retention period; returns what was deleted per project."""
    with db.read() as session:
        rules = session.execute(
            select(TraceSettings.project_id, TraceSettings.retention_days).where(TraceSettings.retention_days.isnot(None))
        ).all()
    results = {}
    for project_id, days in rules:
        if stop is not None and stop.is_set():
            break
        assert days is not None  # the query keeps only projects with a retention period
        try:
            results[project_id] = purge_project(db, project_id, days, now=now, stop=stop)
        except Exception:  # one project's failure must not stop the others
            log.exception("retention purge failed for project %s", project_id)
    return results


class RetentionTask(PeriodicTask):
    """Runs ``purge_expired`` in a thread at start and then every ``interval_s`` seconds, until stopped.

    ``stop`` lets a running pass finish its current chunk (never a half-deleted trace), then ends the task.
    """

    name = "stackwright-retention"

    def __init__(self, db: Database, interval_s: float):
        super().__init__(interval_s)
        self.db = db

    def run_pass(self) -> dict[str, dict[str, int]]:
        return purge_expired(self.db, stop=self.stopping)

    def report(self, result: dict[str, dict[str, int]]) -> None:
        deleted = sum(r["deleted_traces"] for r in result.values())
        if deleted:
            log.info("retention purge deleted %d traces", deleted)
