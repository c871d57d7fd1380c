"""Tables of the tracing layer.

``spans`` keeps every span with the attributes the UI filters on as indexed columns and everything
else as JSON. ``traces`` is one row per trace, maintained on ingest, so trace lists never scan spans.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from stackwright.core.clock import utcnow
from stackwright.core.db import Base, BigIntId, JSONType, UTCDateTime


class Span(Base):
    __tablename__ = "spans"
    __table_args__ = (
        UniqueConstraint("project_id", "trace_id", "span_id"),
        Index("ix_spans_project_start", "project_id", "start_ns"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(String(32))
    trace_id: Mapped[str] = mapped_column(String(32))
    span_id: Mapped[str] = mapped_column(String(16))
    parent_span_id: Mapped[str | None] = mapped_column(String(16), nullable=True)
    name: Mapped[str] = mapped_column(String(512))
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(8))
    status_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    start_ns: Mapped[int] = mapped_column(BigInteger)
    end_ns: Mapped[int] = mapped_column(BigInteger)
    duration_ms: Mapped[float] = mapped_column(Float)
    service_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    provider: Mapped[str | None] = mapped_column(String(64), nullable=True)
    prompt_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    prompt_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    route: Mapped[str | None] = mapped_column(String(200), nullable=True)
    environment: Mapped[str | None] = mapped_column(String(64), nullable=True)
    release_arm: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    session_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    input_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    output_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    total_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    cost: Mapped[float | None] = mapped_column(Float, nullable=True)
    input: Mapped[str | None] = mapped_column(Text, nullable=True)
    output: Mapped[str | None] = mapped_column(Text, nullable=True)
    documents: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType, nullable=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONType)
    events: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType, nullable=True)
    resource: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)


class Trace(Base):
    __tablename__ = "traces"
    __table_args__ = (
        Index("ix_traces_project_start", "project_id", "start_ns", "trace_id"),
        Index("ix_traces_project_model", "project_id", "model", "start_ns"),
        Index("ix_traces_project_route", "project_id", "route", "start_ns"),
        Index("ix_traces_project_prompt", "project_id", "prompt_name", "prompt_version", "start_ns"),
        Index("ix_traces_project_session", "project_id", "session_id", "start_ns"),
        Index("ix_traces_project_user", "project_id", "user_id", "start_ns"),
        Index("ix_traces_project_duration", "project_id", "duration_ms", "trace_id"),
        Index("ix_traces_project_cost", "project_id", "cost", "trace_id"),
        Index("ix_traces_project_status", "project_id", "status", "start_ns"),
    )

    project_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    trace_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    root_span_id: Mapped[str | None] = mapped_column(String(16), nullable=True)
    name: Mapped[str] = mapped_column(String(512))
    status: Mapped[str] = mapped_column(String(8))
    start_ns: Mapped[int] = mapped_column(BigInteger)
    end_ns: Mapped[int] = mapped_column(BigInteger)
    duration_ms: Mapped[float] = mapped_column(Float)
    span_count: Mapped[int] = mapped_column(Integer)
    error_count: Mapped[int] = mapped_column(Integer)
    service_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    prompt_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    prompt_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    route: Mapped[str | None] = mapped_column(String(200), nullable=True)
    environment: Mapped[str | None] = mapped_column(String(64), nullable=True)
    release_arm: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    session_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    input_tokens: Mapped[int] = mapped_column(Integer)
    output_tokens: Mapped[int] = mapped_column(Integer)
    total_tokens: Mapped[int] = mapped_column(Integer)
    cost: Mapped[float] = mapped_column(Float)
    input: Mapped[str | None] = mapped_column(Text, nullable=True)
    output: Mapped[str | None] = mapped_column(Text, nullable=True)


class Score(Base):
    __tablename__ = "scores"
    __table_args__ = (
        Index("ix_scores_project_trace", "project_id", "trace_id"),
        Index("ix_scores_project_name", "project_id", "name", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(String(32))
    trace_id: Mapped[str] = mapped_column(String(32))
    span_id: Mapped[str | None] = mapped_column(String(16), nullable=True)
    name: Mapped[str] = mapped_column(String(200))
    data_type: Mapped[str] = mapped_column(String(16))
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    string_value: Mapped[str | None] = mapped_column(String(200), nullable=True)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    source: Mapped[str] = mapped_column(String(16))
    author: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TraceSettings(Base):
    """Per-project tracing settings: retention and model price overrides (USD per million tokens)."""

    __tablename__ = "trace_settings"

    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    retention_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    prices: Mapped[dict[str, dict[str, float]]] = mapped_column(JSONType, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
