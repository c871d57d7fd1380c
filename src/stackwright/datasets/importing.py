"""Reading and writing dataset files: JSON Lines and CSV.

JSON Lines: one item per line, ``{"input": ..., "expected": ..., "metadata": {...}}`` (only ``input`` is
required); blank lines are skipped.

CSV (header row first; cells are text unless the column name ends in ``:json``):

- ``input``: the cell is the input (a string); or ``input.KEY`` columns: the input is an object
  ``{KEY: cell, ...}``. Not both.
- ``expected``: the cell is the expected output (an empty cell: none); or ``expected.KEY`` columns.
- ``metadata.KEY``: metadata fields (empty cells are left out); or one ``metadata:json`` column (an object).
- ``NAME:json`` (e.g. ``expected:json``, ``input.history:json``): the cell is parsed as JSON.

Any other column is an error. A bad line is reported with its line number and nothing is imported.
Export writes the same formats, choosing ``:json`` columns where plain text would lose information, so
an exported file imports back to the same items.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import orjson

from stackwright.core.errors import InvalidInput
from stackwright.datasets.items import ITEM_KEYS, normalize_item

FORMATS = ("jsonl", "csv")
MAX_FIELD = 10 * 1024 * 1024


def format_of(filename: str, given: str | None = None) -> str:
    """The file format from ``--format`` or the file name's extension."""
    if given:
        if given not in FORMATS:
            raise InvalidInput(f"Format {given!r} is not supported.", hint="Use jsonl or csv.")
        return given
    lower = filename.lower()
    if lower.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if lower.endswith(".csv"):
        return "csv"
    raise InvalidInput(f"Cannot tell the format of {filename!r} from its extension.", hint="Name it .jsonl or .csv, or pass --format jsonl|csv.")


def parse(text: str, fmt: str, source: str) -> tuple[list[dict[str, Any]], list[str]]:
    """(checked items, where each came from, e.g. "cases.jsonl line 3"); InvalidInput on the first bad line."""
    if fmt == "csv":
        return parse_csv(text, source)
    return parse_jsonl(text, source)


def parse_jsonl(text: str, source: str) -> tuple[list[dict[str, Any]], list[str]]:
    items, places = [], []
    # split on "\n" only: str.splitlines would also split inside strings holding U+2028 or other separators
    for number, line in enumerate(text.removeprefix("\ufeff").split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{source} line {number}"
        try:
            raw = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(f"{where} is not valid JSON: {exc}.", hint="Each line must be one JSON object; nothing was imported.") from None
        items.append(normalize_item(raw, where))
        places.append(where)
    if not items:
        raise InvalidInput(f"{source} holds no items.", hint='Write one JSON object per line, e.g. {"input": {"question": "..."}, "expected": "..."}.')
    return items, places


def _columns(header: list[str], source: str) -> list[tuple[str, str | None, bool]]:
    """Each column as (part: input|expected|metadata, key or None, is JSON)."""
    out = []
    for column in header:
        name = column.strip()
        is_json = name.endswith(":json")
        base = name[: -len(":json")] if is_json else name
        part, dot, key = base.partition(".")
        if part not in ITEM_KEYS or (dot and not key) or (part == "metadata" and not dot and not is_json):
            raise InvalidInput(
                f"{source} line 1: unknown column {column!r}.",
                hint="Columns are input or input.KEY, expected or expected.KEY, metadata.KEY or metadata:json; add :json to parse a cell as JSON.",
            )
        out.append((part, key if dot else None, is_json))
    for part in ITEM_KEYS:
        kinds = {key is None for p, key, _ in out if p == part}
        if len(kinds) > 1:
            raise InvalidInput(f"{source} line 1: has both a {part} column and {part}.KEY columns; use one or the other.")
    seen: set[tuple[str, str | None]] = set()
    for column_part, column_key, _ in out:
        if (column_part, column_key) in seen:
            raise InvalidInput(f"{source} line 1: column {column_part}{'.' + column_key if column_key else ''} appears twice.")
        seen.add((column_part, column_key))
    if not any(part == "input" for part, _, _ in out):
        raise InvalidInput(f"{source} line 1: no input column.", hint="Add an input column or input.KEY columns.")
    return out


def _cell(value: str, is_json: bool, where: str, column: str) -> Any:
    if not is_json:
        return value
    if value == "":
        return None
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"{where}: column {column!r} is not valid JSON: {exc}.", hint="Nothing was imported.") from None


def parse_csv(text: str, source: str) -> tuple[list[dict[str, Any]], list[str]]:
    csv.field_size_limit(MAX_FIELD)
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    try:
        header = next(reader, None)
        if header is None:
            raise InvalidInput(f"{source} is empty.", hint="The first line must name the columns, e.g. input.question,expected.")
        columns = _columns(header, source)
        items, places = [], []
        line = reader.line_num + 1
        for row in reader:
            where = f"{source} line {line}"
            line = reader.line_num + 1
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(columns):
                raise InvalidInput(f"{where} has {len(row)} cells; the header has {len(columns)}.", hint="Quote cells that contain commas; nothing was imported.")
            raw: dict[str, Any] = {}
            for (part, key, is_json), column, cell in zip(columns, header, row, strict=True):
                value = _cell(cell, is_json, where, column)
                if key is None:
                    raw[part] = None if (part == "expected" and cell == "") else value
                elif part == "metadata" and cell == "":
                    continue
                else:
                    raw.setdefault(part, {})[key] = value
            items.append(normalize_item(raw, where))
            places.append(where)
    except csv.Error as exc:
        raise InvalidInput(f"{source} line {reader.line_num}: not valid CSV: {exc}.", hint="Nothing was imported.") from None
    if not items:
        raise InvalidInput(f"{source} holds no items.", hint="Add rows below the header.")
    return items, places


# -- export -------------------------------------------------------------------------------------------


def to_jsonl(items: list[dict[str, Any]]) -> str:
    return "".join(orjson.dumps({key: item[key] for key in ITEM_KEYS}).decode() + "\n" for item in items)


def _plain_text(values: list[Any], *, empty_ok: bool) -> bool:
    return all(isinstance(v, str) and (empty_ok or v != "") for v in values)


def _plan(items: list[dict[str, Any]], part: str) -> list[tuple[str | None, bool]]:
    """Columns for one part as (key or None, is JSON), chosen so that import gives back the same values."""
    values = [item[part] for item in items]
    if part == "expected" and all(v is None or (isinstance(v, str) and v != "") for v in values):
        return [(None, False)]
    if part == "input" and _plain_text(values, empty_ok=True):
        return [(None, False)]
    if all(isinstance(v, dict) for v in values) and (part != "expected" or values):
        keys: dict[str, None] = {}
        for value in values:
            keys.update(dict.fromkeys(value))
        simple = all(key and key == key.strip() and not key.endswith(":json") for key in keys)
        same = all(set(v) == set(keys) for v in values)  # metadata keys may be missing per row; others may not
        if simple and (part == "metadata" or (keys and same)):
            plan: list[tuple[str | None, bool]] = []
            for key in keys:
                column = [v[key] for v in values if key in v]
                plain = _plain_text(column, empty_ok=part != "metadata")
                plan.append((key, not plain))
            return plan
    return [(None, True)]


def to_csv(items: list[dict[str, Any]]) -> str:
    plans = {part: _plan(items, part) for part in ITEM_KEYS}
    header = [
        f"{part}{'.' + key if key is not None else ''}{':json' if is_json else ''}" for part in ITEM_KEYS for key, is_json in plans[part]
    ]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for item in items:
        row = []
        for part in ITEM_KEYS:
            for key, is_json in plans[part]:
                if key is not None and key not in item[part]:
                    row.append("")  # a metadata key this item lacks: left out again on import
                    continue
                value = item[part] if key is None else item[part][key]
                if is_json:
                    row.append(orjson.dumps(value).decode())
                else:
                    row.append("" if value is None else value)
        writer.writerow(row)
    return out.getvalue()
