"""Tables of the datasets layer.

``datasets`` is one row per name and project. ``dataset_versions`` holds immutable versions numbered 1,
2, 3... per dataset, unique per content hash (the same items in the same order are the same version).
``dataset_items`` stores each distinct item once per dataset, keyed by its content address (sha256 of the
canonical JSON of input, expected and metadata); ``dataset_version_items`` lists a version's items in
order, so a new version shares every unchanged item with its parent (copy-on-write membership).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, ForeignKeyConstraint, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from stackwright.core.clock import utcnow
from stackwright.core.db import Base, BigIntId, JSONType, UTCDateTime


class Dataset(Base):
    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(Text, default="")
    latest_version: Mapped[int] = mapped_column(Integer, default=0)  # the version `name` resolves to (0: none yet)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DatasetVersion(Base):
    __tablename__ = "dataset_versions"
    __table_args__ = (UniqueConstraint("dataset_id", "version"), UniqueConstraint("dataset_id", "content_hash"))

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    dataset_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("datasets.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    item_count: Mapped[int] = mapped_column(Integer)
    message: Mapped[str] = mapped_column(String(2000), default="")
    author: Mapped[str] = mapped_column(String(200), default="")
    parent_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DatasetItem(Base):
    __tablename__ = "dataset_items"

    dataset_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True)
    item_id: Mapped[str] = mapped_column(String(32), primary_key=True)  # sha256(canonical JSON)[:32], hex
    input: Mapped[Any] = mapped_column(JSONType)
    expected: Mapped[Any] = mapped_column(JSONType, nullable=True)
    meta: Mapped[dict] = mapped_column("metadata", JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DatasetVersionItem(Base):
    __tablename__ = "dataset_version_items"
    __table_args__ = (
        ForeignKeyConstraint(["dataset_id", "item_id"], ["dataset_items.dataset_id", "dataset_items.item_id"], ondelete="CASCADE"),
    )

    version_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("dataset_versions.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(BigIntId)
    item_id: Mapped[str] = mapped_column(String(32))
