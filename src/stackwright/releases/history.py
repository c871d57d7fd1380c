"""The release history: every change with who, when, before/after and why, also written to the audit log.

``state`` is the picture of a release that history and audit keep; ``stable_to_restore`` finds the stable
config a rollback without a candidate returns to (undoing stable changes one at a time, newest first).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from stackwright.auth import audit
from stackwright.auth.actors import Actor
from stackwright.core.clock import utcnow
from stackwright.core.errors import Conflict
from stackwright.releases.models import Release, ReleaseChange

HISTORY_SCAN = 5000  # changes a rollback looks back through


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def candidate_view(row: Release) -> dict[str, Any] | None:
    if row.candidate is None:
        return None
    return {
        "config": row.candidate,
        "mode": row.candidate_mode,
        "share": row.candidate_share,
        "started_at": iso(row.candidate_started_at),
    }


def state(row: Release) -> dict[str, Any]:
    """The release as history and audit record it (JSON-safe)."""
    return {
        "revision": row.revision,
        "stable": row.stable,
        "candidate": candidate_view(row),
        "required_eval": row.required_eval,
        "rollback_rules": row.rollback_rules,
    }


def record_change(
    session: Session,
    actor: Actor,
    row: Release,
    action: str,
    before: dict[str, Any] | None,
    details: dict[str, Any] | None = None,
) -> ReleaseChange:
    """Move the release to its next revision and write the change to the history and the audit log."""
    now = utcnow()
    row.revision = (row.revision or 0) + 1 if before is not None else 1
    row.updated_at, row.updated_by = now, actor.label[:200]
    session.flush()
    after = state(row)
    change = ReleaseChange(
        release_id=row.id, project_id=row.project_id, revision=row.revision, action=action, actor=actor.label[:200],
        before=before, after=after, details=details, created_at=now,
    )  # fmt: skip
    session.add(change)
    session.flush()
    audit.record(
        session, actor, f"release.{action}", "release", row.id, project_id=row.project_id,
        before=before, after={**after, "route": row.route, "env": row.environment, "history_id": change.id, **({"details": details} if details else {})},
    )  # fmt: skip
    return change


def change_view(change: ReleaseChange) -> dict[str, Any]:
    return {
        "id": change.id,
        "revision": change.revision,
        "action": change.action,
        "actor": change.actor,
        "at": change.created_at,
        "before": change.before,
        "after": change.after,
        "details": change.details,
    }


def list_changes(
    session: Session, row: Release, *, cursor: str | None = None, limit: int = 50
) -> tuple[list[ReleaseChange], str | None]:
    """The release's changes, newest first, one page at a time."""
    from stackwright.core.cursors import decode_id_cursor, encode_id_cursor

    query = select(ReleaseChange).where(ReleaseChange.release_id == row.id).order_by(ReleaseChange.id.desc()).limit(limit + 1)
    before_id = decode_id_cursor("rh", cursor)
    if before_id is not None:
        query = query.where(ReleaseChange.id < before_id)
    rows = list(session.scalars(query))
    next_cursor = encode_id_cursor("rh", rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], next_cursor


def change_at_revision(session: Session, row: Release, revision: int) -> ReleaseChange | None:
    """The change that made ``revision`` of the release, if the history holds it."""
    query = select(ReleaseChange).where(ReleaseChange.release_id == row.id, ReleaseChange.revision == revision)
    return session.scalar(query.limit(1))


def _stable(snapshot: dict[str, Any] | None) -> dict[str, Any] | None:
    return (snapshot or {}).get("stable")


def stable_to_restore(session: Session, row: Release) -> tuple[dict[str, Any], ReleaseChange]:
    """The stable config before the newest stable change not undone yet, and that change.

    Rollbacks record the change they undid (``details.undid``), so repeated rollbacks walk back through
    the stable configs (C -> B -> A), not back and forth between the last two.
    """
    query = select(ReleaseChange).where(ReleaseChange.release_id == row.id).order_by(ReleaseChange.id.desc()).limit(HISTORY_SCAN)
    undone: set[int] = set()
    for change in session.scalars(query):
        before, after = _stable(change.before), _stable(change.after)
        if before == after:
            continue  # the stable config did not change here
        undid = (change.details or {}).get("undid")
        if change.action == "rollback" and undid:
            undone.add(undid)
            continue
        if change.id in undone:
            continue
        if before is None:
            break
        return before, change
    raise Conflict(
        f"Route {row.route!r} in {row.environment!r} has no candidate and no earlier stable config to return to.",
        hint="Set the config you want with `stackwright releases set` instead.",
    )
