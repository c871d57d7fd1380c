"""Tables of the gateway: each project's applied config, its encrypted provider secrets, and the
response cache. Budgets and rate limits live in ``limits.models``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from stackwright.core.clock import utcnow
from stackwright.core.db import Base, JSONType, UTCDateTime


class GatewayConfig(Base):
    """The gateway.yaml a project applied last (validated, secrets replaced by their names).

    ``applied_by_operator``: applied from the CLI on the host. Such a config is trusted: its deployments
    may reach any address. A config written through the API is held to the egress policy."""

    __tablename__ = "gateway_configs"

    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    config: Mapped[dict] = mapped_column(JSONType)
    content_hash: Mapped[str] = mapped_column(String(64))
    revision: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    applied_by_operator: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class GatewaySecret(Base):
    """A provider credential, encrypted with the server's secret key; never returned by the API."""

    __tablename__ = "gateway_secrets"

    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    ciphertext: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CacheEntry(Base):
    """One cached response, keyed by the hash of the normalized request."""

    __tablename__ = "gateway_cache"
    __table_args__ = (Index("ix_gateway_cache_expires", "expires_at"),)

    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    response: Mapped[dict] = mapped_column(JSONType)
    created_at: Mapped[int] = mapped_column(BigInteger)  # unix seconds
    expires_at: Mapped[int] = mapped_column(BigInteger)
