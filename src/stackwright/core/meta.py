"""A key/value table for instance facts such as when the first-start bootstrap ran."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, Session, mapped_column

from stackwright.core.clock import utcnow
from stackwright.core.db import Base, JSONType, UTCDateTime


class InstanceMeta(Base):
    __tablename__ = "instance_meta"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[object] = mapped_column(JSONType, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def get_meta(session: Session, key: str) -> object | None:
    row = session.get(InstanceMeta, key)
    return row.value if row else None


def set_meta(session: Session, key: str, value: object) -> None:
    row = session.get(InstanceMeta, key)
    if row is None:
        session.add(InstanceMeta(key=key, value=value, updated_at=utcnow()))
    else:
        row.value = value
        row.updated_at = utcnow()
