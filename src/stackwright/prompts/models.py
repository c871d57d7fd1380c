"""Tables of the prompts layer.

``prompts`` is one row per name and project; ``prompt_versions`` holds immutable versions numbered
1, 2, 3... per prompt (unique per prompt, and unique per content hash so the same content is the same
version); ``prompt_labels`` points labels at versions; ``prompt_label_history`` keeps every move.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from stackwright.core.clock import utcnow
from stackwright.core.db import Base, BigIntId, JSONType, UTCDateTime

DEFAULT_PROTECTED = ["production"]


class Prompt(Base):
    __tablename__ = "prompts"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    latest_version: Mapped[int] = mapped_column(Integer, default=0)  # highest version number given out
    protected_labels: Mapped[list[str]] = mapped_column(JSONType, default=lambda: list(DEFAULT_PROTECTED))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PromptVersion(Base):
    __tablename__ = "prompt_versions"
    __table_args__ = (UniqueConstraint("prompt_id", "version"), UniqueConstraint("prompt_id", "content_hash"))

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    prompt_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("prompts.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(8))  # chat | text
    content_hash: Mapped[str] = mapped_column(String(64))
    messages: Mapped[list | None] = mapped_column(JSONType, nullable=True)  # chat: [{role, content}, ...]
    template: Mapped[str | None] = mapped_column(Text, nullable=True)  # text
    model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    params: Mapped[dict] = mapped_column(JSONType)
    tools: Mapped[list | None] = mapped_column(JSONType, nullable=True)
    response_format: Mapped[dict | None] = mapped_column(JSONType, nullable=True)
    variables: Mapped[dict] = mapped_column(JSONType)  # JSON schema of the variables
    includes: Mapped[list[str]] = mapped_column(JSONType)  # prompt refs this version includes
    message: Mapped[str] = mapped_column(String(2000), default="")
    author: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    prompt: Mapped[Prompt] = relationship(lazy="joined", innerjoin=True)


class PromptLabel(Base):
    __tablename__ = "prompt_labels"

    prompt_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("prompts.id", ondelete="CASCADE"), primary_key=True)
    label: Mapped[str] = mapped_column(String(64), primary_key=True)
    version_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("prompt_versions.id", ondelete="CASCADE"), index=True)
    updated_by: Mapped[str] = mapped_column(String(200), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PromptLabelMove(Base):
    __tablename__ = "prompt_label_history"
    __table_args__ = (Index("ix_prompt_label_history_prompt_id_id", "prompt_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    prompt_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("prompts.id", ondelete="CASCADE"))
    label: Mapped[str] = mapped_column(String(64))
    from_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    to_version: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: the label was removed
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
