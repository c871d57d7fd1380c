"""Cursors for lists paged newest first by a BIGINT id: ``<tag><id>``, e.g. ``a1042``.

The tag keeps a cursor from one list from being passed to another by mistake.
"""

from __future__ import annotations

import re

from stackwright.core.errors import InvalidInput

MAX_ID = 2**63 - 1
_DIGITS = re.compile(r"[0-9]{1,19}")  # ASCII digits only (str.isdigit accepts '²'), and within a BIGINT


def encode_id_cursor(tag: str, row_id: int) -> str:
    return f"{tag}{row_id}"


def decode_id_cursor(tag: str, cursor: str | None) -> int | None:
    """The id a page ended at, or None for the first page; 400 for anything else."""
    if not cursor:
        return None
    digits = cursor[len(tag) :]
    if not cursor.startswith(tag) or not _DIGITS.fullmatch(digits) or int(digits) > MAX_ID:
        raise InvalidInput(f"Cursor {cursor!r} is not valid.", hint="Pass the next_cursor value from the last page.")
    return int(digits)
