"""Inputs and outputs as span attributes: redacted, JSON-encoded (orjson, repr as a fallback), size-capped."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from stackwright.sdk.observe.state import internal_error

JSON = "application/json"
TEXT = "text/plain"
TRUNCATED = "...[truncated by stackwright: {} more chars]"
REDACTION_FAILED = "[stackwright: redaction failed, value dropped]"
_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
_REPR_CAP = 2000


def safe_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"
    return text if len(text) <= _REPR_CAP else text[:_REPR_CAP] + "..."


def _default(value: Any) -> Any:
    """What orjson calls for types it does not know."""
    dump = getattr(value, "model_dump", None)  # pydantic v2 models
    if callable(dump):
        try:
            return dump(mode="json")
        except Exception:
            pass
    if isinstance(value, (set, frozenset)):
        return list(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{len(value)} bytes>"
    return safe_repr(value)


def to_json(value: Any) -> str:
    try:
        return orjson.dumps(value, default=_default, option=_OPTIONS).decode()
    except Exception:  # e.g. an int beyond 64 bits, a cycle, a surrogate in a str
        return orjson.dumps(safe_repr(value)).decode()


def cap(text: str, max_chars: int) -> tuple[str, bool]:
    if len(text) <= max_chars:
        return text, False
    return text[:max_chars] + TRUNCATED.format(len(text) - max_chars), True


def redacted(value: Any, redact: Callable[[Any], Any] | None) -> tuple[Any, bool]:
    """Apply the user's redaction hook; (value, ok). A failing hook drops the value rather than leak it."""
    if redact is None:
        return value, True
    try:
        return redact(value), True
    except Exception:
        internal_error("running the configured redact hook")
        return REDACTION_FAILED, False


def encode(value: Any, max_chars: int, redact: Callable[[Any], Any] | None) -> tuple[str, str]:
    """The (text, mime type) to store for an input or output value.

    A str stays text (text/plain, as OpenInference does), anything else is JSON. A value longer than
    ``max_chars`` is cut and ends with a truncation marker; it is then text/plain (no longer valid JSON).
    """
    value, ok = redacted(value, redact)
    if not ok or isinstance(value, str):
        text, mime = value, TEXT
    else:
        text, mime = to_json(value), JSON
    text, truncated = cap(text, max_chars)
    return text, (TEXT if truncated else mime)


class Items:
    """The items a traced generator yields, kept (bounded) to become its output."""

    __slots__ = ("items", "chars", "dropped", "max_chars")
    MAX_ITEMS = 1000

    def __init__(self, max_chars: int) -> None:
        self.items: list[Any] = []
        self.chars = 0
        self.dropped = 0
        self.max_chars = max_chars

    def add(self, item: Any) -> None:
        if len(self.items) >= self.MAX_ITEMS or self.chars > self.max_chars:
            self.dropped += 1
            return
        self.items.append(item)
        if isinstance(item, str):
            self.chars += len(item)

    def value(self) -> Any:
        """Streamed text (all items str) joined into one str; else the list of items."""
        items = self.items
        if items and all(isinstance(item, str) for item in items):
            return "".join(items)
        return items
