"""Time and ids in one place, so every layer stores the same kind of timestamp and id."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime


def utcnow() -> datetime:
    """Timezone-aware UTC now."""
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    """A short, URL-safe, sortable-enough public id such as ``prj_3k9...``."""
    return f"{prefix}_{secrets.token_hex(8)}"


def as_utc(value: datetime | None) -> datetime | None:
    """Aware UTC; a naive value from a client is read as UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
