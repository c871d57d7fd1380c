"""The audit log: one entry for every change, written in the same transaction as the change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from stackwright.auth.actors import Actor
from stackwright.auth.models import AuditEntry
from stackwright.core.clock import as_utc, utcnow
from stackwright.core.cursors import decode_id_cursor, encode_id_cursor

_SECRET_FIELDS = {"password_hash", "key_hash", "_sa_instance_state"}


def snapshot(obj: Any) -> dict[str, Any] | None:
    """A JSON-safe picture of a row for before/after, with secrets left out."""
    if obj is None:
        return None
    out: dict[str, Any] = {}
    for name, value in vars(obj).items():
        if name in _SECRET_FIELDS or name.startswith("_"):
            continue
        out[name] = value.isoformat() if isinstance(value, datetime) else value
    return out


def record(
    session: Session,
    actor: Actor,
    action: str,
    obj_type: str,
    obj_id: str,
    *,
    project_id: str | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    session.add(
        AuditEntry(
            project_id=project_id,
            actor=actor.label,
            action=action,
            object_type=obj_type,
            object_id=obj_id,
            before=before,
            after=after,
            request_id=actor.request_id,
            created_at=utcnow(),
        )
    )


def list_entries(
    session: Session,
    project_id: str | None,
    *,
    action: str | None = None,
    actor: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: int = 50,
    all_projects: bool = False,
) -> tuple[list[AuditEntry], str | None]:
    """Newest first. ``project_id`` scopes the query; the CLI may pass ``all_projects`` to see everything.
    ``actor`` matches part of the actor's label; ``since`` is inclusive, ``until`` exclusive."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit + 1)
    if not all_projects:
        query = query.where(AuditEntry.project_id == project_id)
    if action:
        query = query.where(AuditEntry.action == action)
    if actor:
        query = query.where(AuditEntry.actor.contains(actor, autoescape=True))
    if object_type:
        query = query.where(AuditEntry.object_type == object_type)
    if object_id:
        query = query.where(AuditEntry.object_id == object_id)
    if since:
        query = query.where(AuditEntry.created_at >= as_utc(since))
    if until:
        query = query.where(AuditEntry.created_at < as_utc(until))
    before_id = decode_id_cursor("a", cursor)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    rows = list(session.scalars(query))
    next_cursor = encode_id_cursor("a", rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], next_cursor
