"""Alert records: something happened that a person should know about (an automatic rollback, ...).

Layers raise an alert with ``raise_alert(session, ...)`` in the same transaction as the change it reports,
so an alert exists exactly when the change does. ``GET /api/v1/alerts`` lists the project's alerts,
newest first (read scope).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import ForeignKey, Index, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from stackwright.auth.deps import ReadCaller
from stackwright.core.clock import as_utc, utcnow
from stackwright.core.db import Base, BigIntId, JSONType, UTCDateTime
from stackwright.core.deps import SessionDep

SEVERITIES = ("info", "warning", "critical")


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_project_id_id", "project_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(64))  # e.g. release.auto_rollback
    severity: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(300))
    message: Mapped[str] = mapped_column(Text)
    object_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    object_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    details: Mapped[dict | None] = mapped_column(JSONType, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def raise_alert(
    session: Session,
    project_id: str,
    kind: str,
    title: str,
    message: str,
    *,
    severity: str = "warning",
    object_type: str | None = None,
    object_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> Alert:
    """Add an alert to the session (the caller's transaction commits it with the change it reports)."""
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}")
    alert = Alert(
        project_id=project_id, kind=kind[:64], severity=severity, title=title[:300], message=message,
        object_type=object_type, object_id=object_id, details=details, created_at=utcnow(),
    )  # fmt: skip
    session.add(alert)
    return alert


def list_alerts(
    session: Session,
    project_id: str,
    *,
    kind: str | None = None,
    object_id: str | None = None,
    since: datetime | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Alert], str | None]:
    """The project's alerts, newest first, one page at a time."""
    from stackwright.core.cursors import decode_id_cursor, encode_id_cursor

    query = select(Alert).where(Alert.project_id == project_id).order_by(Alert.id.desc()).limit(limit + 1)
    if kind:
        query = query.where(Alert.kind == kind)
    if object_id:
        query = query.where(Alert.object_id == object_id)
    if since:
        query = query.where(Alert.created_at >= as_utc(since))
    before_id = decode_id_cursor("al", cursor)
    if before_id is not None:
        query = query.where(Alert.id < before_id)
    rows = list(session.scalars(query))
    next_cursor = encode_id_cursor("al", rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], next_cursor


def alert_dict(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.id, "kind": alert.kind, "severity": alert.severity, "title": alert.title, "message": alert.message,
        "object_type": alert.object_type, "object_id": alert.object_id, "details": alert.details, "created_at": alert.created_at,
    }  # fmt: skip


# -- REST -----------------------------------------------------------------------------------------

router = APIRouter(prefix="/api/v1", tags=["monitoring"])


class AlertPage(BaseModel):
    data: list[dict[str, Any]]
    next_cursor: str | None = None


@router.get("/alerts", response_model=AlertPage, summary="The project's alerts, newest first")
def get_alerts(
    caller: ReadCaller,
    session: SessionDep,
    kind: Annotated[str | None, Query(max_length=64, description="Only this kind, e.g. release.auto_rollback.")] = None,
    object_id: Annotated[str | None, Query(max_length=64, description="Only alerts about this object.")] = None,
    since: Annotated[datetime | None, Query(description="Only alerts raised at or after this time.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=40)] = None,
) -> AlertPage:
    rows, next_cursor = list_alerts(
        session, caller.project_id, kind=kind, object_id=object_id, since=since, cursor=cursor, limit=limit
    )
    return AlertPage(data=[alert_dict(row) for row in rows], next_cursor=next_cursor)
