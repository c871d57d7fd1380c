"""Tables of the releases layer.

``releases`` is one row per (project, route, environment): the stable config, an optional candidate
(mode, share, salt, start time), the promotion requirement, the automatic-rollback rules and the last
rollback. ``revision`` goes up by one with every change; changes lock the row (or check the revision),
so two concurrent changes never lose one. ``release_history`` keeps every change with before/after.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from stackwright.core.clock import utcnow
from stackwright.core.db import Base, BigIntId, JSONType, UTCDateTime
from stackwright.monitoring import alerts as _alerts  # noqa: F401  (the alerts table releases write to)


class Release(Base):
    __tablename__ = "releases"
    __table_args__ = (UniqueConstraint("project_id", "route", "environment"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    route: Mapped[str] = mapped_column(String(200))
    environment: Mapped[str] = mapped_column(String(64))
    revision: Mapped[int] = mapped_column(Integer, default=1)
    stable: Mapped[dict] = mapped_column(JSONType)  # {prompt, prompt_version_id, model, params, settings}
    candidate: Mapped[dict | None] = mapped_column(JSONType, nullable=True)
    candidate_mode: Mapped[str | None] = mapped_column(String(16), nullable=True)  # canary | ab | shadow
    candidate_share: Mapped[float | None] = mapped_column(Float, nullable=True)  # 0-100
    candidate_salt: Mapped[str | None] = mapped_column(String(32), nullable=True)
    candidate_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    required_eval: Mapped[str | None] = mapped_column(String(200), nullable=True)
    rollback_rules: Mapped[dict | None] = mapped_column(JSONType, nullable=True)
    last_rollback: Mapped[dict | None] = mapped_column(JSONType, nullable=True)
    last_rollback_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(200), default="")


class ReleaseChange(Base):
    """One change of a release: who, when, the action, the state before and after, and why."""

    __tablename__ = "release_history"
    __table_args__ = (Index("ix_release_history_release_id_id", "release_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    release_id: Mapped[str] = mapped_column(ForeignKey("releases.id", ondelete="CASCADE"))
    project_id: Mapped[str] = mapped_column(String(32))
    revision: Mapped[int] = mapped_column(Integer)  # the release's revision after this change
    action: Mapped[str] = mapped_column(String(32))  # set | canary | promote | rollback | auto_rollback | rules
    actor: Mapped[str] = mapped_column(String(200))
    before: Mapped[dict | None] = mapped_column(JSONType, nullable=True)
    after: Mapped[dict] = mapped_column(JSONType)
    details: Mapped[dict | None] = mapped_column(JSONType, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
