"""Tables of the evaluations layer.

``eval_runs`` is one row per run: its name (spec name + timestamp, or the name given), the spec as run
and its hash, the dataset version it used (``support-cases@3`` or ``file:<sha256>``), the seed and
repeat count, its status (running | completed | failed | interrupted) and, once finished, the summary.
While it runs, ``owner`` names the process running it (host:pid) and ``heartbeat_at`` is renewed, so a
run whose process died is found and marked interrupted (``stackwright.evals.reaper``).
``eval_case_results`` holds one row per (item, repeat): output, trace id, latency, tokens, cost, the
error if the target failed, and every scorer's score. Rows are written as cases complete, so a killed
run resumes by running only the missing (item, repeat) pairs.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from stackwright.core.clock import utcnow
from stackwright.core.db import Base, BigIntId, JSONType, UTCDateTime


class EvalRun(Base):
    __tablename__ = "eval_runs"
    __table_args__ = (Index("ix_eval_runs_project_id_name", "project_id", "name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    spec_name: Mapped[str] = mapped_column(String(200))
    spec: Mapped[dict] = mapped_column(JSONType)
    spec_hash: Mapped[str] = mapped_column(String(64))
    dataset_ref: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16), default="running")
    seed: Mapped[int] = mapped_column(Integer, default=0)
    repeat: Mapped[int] = mapped_column(Integer, default=1)
    total_cases: Mapped[int] = mapped_column(Integer, default=0)
    summary: Mapped[dict | None] = mapped_column(JSONType, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    owner: Mapped[str | None] = mapped_column(String(300), nullable=True)  # host:pid of the process running it
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # renewed while it runs


class EvalCaseResult(Base):
    __tablename__ = "eval_case_results"
    __table_args__ = (UniqueConstraint("run_id", "item_id", "repeat_index"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("eval_runs.id", ondelete="CASCADE"))
    item_id: Mapped[str] = mapped_column(String(100))
    repeat_index: Mapped[int] = mapped_column(Integer, default=0)
    input: Mapped[dict | list | str | None] = mapped_column(JSONType, nullable=True)
    expected: Mapped[dict | list | str | None] = mapped_column(JSONType, nullable=True)
    output: Mapped[dict | list | str | None] = mapped_column(JSONType, nullable=True)
    trace_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    latency_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    input_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    output_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    cost: Mapped[float | None] = mapped_column(Float, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    scores: Mapped[dict] = mapped_column(JSONType)  # scorer name -> {value, passed, reason, details}
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OnlineRule(Base):
    """Online evaluation: sample production traces matching ``filter`` at ``sample_rate``, score them with
    ``scorers`` and store the scores on the traces. ``watermark_*`` is the last trace examined."""

    __tablename__ = "eval_online_rules"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    filter: Mapped[dict] = mapped_column(JSONType)
    sample_rate: Mapped[float] = mapped_column(Float)
    scorers: Mapped[list] = mapped_column(JSONType)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    watermark_ns: Mapped[int] = mapped_column(BigInteger, default=0)
    watermark_trace_id: Mapped[str] = mapped_column(String(32), default="")
    examined: Mapped[int] = mapped_column(Integer, default=0)
    scored: Mapped[int] = mapped_column(Integer, default=0)
    unmeasured: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
