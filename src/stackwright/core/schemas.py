"""API shapes shared by every layer."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """A page of a list: ``next_cursor`` is null on the last page."""

    data: list[T]
    next_cursor: str | None = None
