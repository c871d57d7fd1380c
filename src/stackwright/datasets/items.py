"""Dataset items: checking their shape, their content address, and a version's content hash.

An item is ``{"input": any JSON except null, "expected": any JSON (default null), "metadata": {...}}``.
Its id is the sha256 of its canonical JSON (sorted keys, no spaces), first 32 hex characters: the same
content always has the same id, so items are stored once and shared between versions.
"""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any

import orjson

from stackwright.core.errors import InvalidInput

ITEM_KEYS = ("input", "expected", "metadata")
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
ITEM_ID_PATTERN = re.compile(r"[0-9a-f]{32}")
MAX_ITEMS = 200_000  # per version
MAX_DEPTH = 64


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise InvalidInput(
            f"Dataset name {str(name)[:80]!r} is not valid.",
            hint="Use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit (e.g. support-cases).",
        )
    return name


def check_item_id(item_id: str) -> str:
    value = (item_id or "").strip().lower()
    if not ITEM_ID_PATTERN.fullmatch(value):
        raise InvalidInput(f"Item id {item_id[:80]!r} is not valid.", hint="Item ids are 32 hex characters; list them with `stackwright datasets show NAME`.")
    return value


def _check_json(value: Any, where: str, depth: int = 0) -> None:
    """Only what JSON can hold: finite numbers, no NUL characters (Postgres refuses them), bounded depth."""
    if depth > MAX_DEPTH:
        raise InvalidInput(f"{where} is nested more than {MAX_DEPTH} levels deep.")
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInput(f"{where} holds {value!r}, which is not valid JSON.", hint="Use a finite number or a string.")
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidInput(f"{where} contains a NUL (\\u0000) character.", hint="Remove it; the store cannot keep it.")
    elif isinstance(value, dict):
        for key, inner in value.items():
            if not isinstance(key, str):
                raise InvalidInput(f"{where} has a non-string key {key!r}.")
            if "\x00" in key:
                raise InvalidInput(f"{where} has a key containing a NUL (\\u0000) character.")
            _check_json(inner, where, depth + 1)
    elif isinstance(value, list):
        for inner in value:
            _check_json(inner, where, depth + 1)
    elif value is not None and not isinstance(value, (bool, int, float)):
        raise InvalidInput(f"{where} holds a {type(value).__name__}, which is not JSON.")


def normalize_item(raw: Any, where: str) -> dict[str, Any]:
    """A checked item ``{input, expected, metadata}``; InvalidInput naming ``where`` (e.g. "line 3") otherwise."""
    if not isinstance(raw, dict):
        raise InvalidInput(
            f"{where}: an item must be a JSON object with input (and optionally expected, metadata), not {type(raw).__name__}.",
            hint='e.g. {"input": {"question": "..."}, "expected": "...", "metadata": {"topic": "billing"}}',
        )
    unknown = [key for key in raw if key not in ITEM_KEYS]
    if unknown:
        raise InvalidInput(f"{where}: unknown key {unknown[0]!r}.", hint="An item has only the keys input, expected and metadata.")
    if raw.get("input") is None:
        raise InvalidInput(f"{where}: input is missing.", hint='Every item needs an input, e.g. {"input": {"question": "..."}}.')
    metadata = raw.get("metadata")
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise InvalidInput(f"{where}: metadata must be a JSON object, not {type(metadata).__name__}.")
    item = {"input": raw["input"], "expected": raw.get("expected"), "metadata": metadata}
    for key in ITEM_KEYS:
        _check_json(item[key], f"{where}: {key}")
    return item


def canonical(item: dict[str, Any]) -> bytes:
    return orjson.dumps({key: item[key] for key in ITEM_KEYS}, option=orjson.OPT_SORT_KEYS)


def item_id(item: dict[str, Any]) -> str:
    """The content address of an item: sha256 of its canonical JSON, 32 hex characters."""
    return hashlib.sha256(canonical(item)).hexdigest()[:32]


def content_hash(item_ids: list[str]) -> str:
    """A version's content: its item ids in order (sha256 hex)."""
    return hashlib.sha256("\n".join(item_ids).encode()).hexdigest()


def with_ids(items: list[dict[str, Any]], where: list[str]) -> list[dict[str, Any]]:
    """Items with their ``id``; InvalidInput when two are identical (naming both places) or too many."""
    if len(items) > MAX_ITEMS:
        raise InvalidInput(f"A dataset version holds at most {MAX_ITEMS} items; this one would hold {len(items)}.")
    seen: dict[str, str] = {}
    out = []
    for item, place in zip(items, where, strict=True):
        ident = item_id(item)
        if ident in seen:
            raise InvalidInput(
                f"{place} is identical to {seen[ident]} (same input, expected and metadata).",
                hint="Remove the duplicate, or tell the two apart in their metadata.",
            )
        seen[ident] = place
        out.append({"id": ident, **item})
    return out
