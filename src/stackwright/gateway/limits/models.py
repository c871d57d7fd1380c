"""Tables of the gateway's budgets and rate limits (owned by gateway/limits.py).

``gateway_limits`` holds the limits of API keys (set through the API/CLI) and of models (written by
`gateway apply`). ``gateway_counters`` is the shared side of the in-process counters: one row per
(subject, metric, period) with ``holder`` '', where ``used`` is settled usage and ``leased`` is
allowance that processes hold or reserved for requests in flight; plus one row per process holding
part of that (``holder`` = the process), whose ``leased`` is its share, so the share of a process
that died can be given back. Money is counted in nano-USD, so every counter is an exact integer.
One more row per project (scope 'project', metric 'limits', period 'ever') is its limits stamp: its
``used`` counts the changes to the project's limits (see store.bump_stamp).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from stackwright.core.clock import utcnow
from stackwright.core.db import Base, UTCDateTime


class GatewayLimit(Base):
    """The limits of one key (scope 'key', subject = key id) or model (scope 'model', subject = name)."""

    __tablename__ = "gateway_limits"

    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    scope: Mapped[str] = mapped_column(String(8), primary_key=True)
    subject: Mapped[str] = mapped_column(String(200), primary_key=True)
    daily_usd: Mapped[float | None] = mapped_column(Float, nullable=True)
    monthly_usd: Mapped[float | None] = mapped_column(Float, nullable=True)
    rpm: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    tpm: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class GatewayCounter(Base):
    """Usage of one subject in one period (UTC minute, day or month) for one metric (usd, requests, tokens)."""

    __tablename__ = "gateway_counters"
    __table_args__ = (
        Index("ix_gateway_counters_period_end", "period_end"),
        Index("ix_gateway_counters_holder_updated_at", "holder", "updated_at"),
    )

    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    scope: Mapped[str] = mapped_column(String(8), primary_key=True)
    subject: Mapped[str] = mapped_column(String(200), primary_key=True)
    metric: Mapped[str] = mapped_column(String(16), primary_key=True)
    period: Mapped[str] = mapped_column(String(8), primary_key=True)
    period_start: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # unix seconds, UTC
    holder: Mapped[str] = mapped_column(String(64), primary_key=True)  # '' for the shared row, else a process
    period_end: Mapped[int] = mapped_column(BigInteger)
    used: Mapped[int] = mapped_column(BigInteger, default=0)  # settled: nano-USD, requests or tokens
    leased: Mapped[int] = mapped_column(BigInteger, default=0)  # held by processes or reserved in flight
    updated_at: Mapped[int] = mapped_column(BigInteger)  # unix seconds; a holder's heartbeat
