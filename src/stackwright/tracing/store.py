"""Write spans in bulk: re-sent spans are skipped (unique trace and span id per project), and the
per-trace summary row is upserted from the spans that were really inserted, in the same transaction."""

from __future__ import annotations

import math
import sqlite3
import time
from collections.abc import Sequence
from functools import cache
from itertools import chain
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import case, func
from sqlalchemy.engine import Connection

from stackwright.core.db import plain_rows
from stackwright.tracing.models import Span, Trace

PREVIEW_CHARS = 2000
_SPANS = Span.__table__
_TRACES = Trace.__table__
_ROOT_PREFERRED = (
    "service_name", "model", "prompt_name", "prompt_version", "route", "environment", "release_arm", "user_id", "session_id",
)  # fmt: skip
_SUMS = ("span_count", "error_count", "input_tokens", "output_tokens", "total_tokens", "cost")


def _insert(dialect: str, table: Any) -> Any:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def _least(dialect: str, a: Any, b: Any) -> Any:
    return func.least(a, b) if dialect == "postgresql" else func.min(a, b)


def _greatest(dialect: str, a: Any, b: Any) -> Any:
    return func.greatest(a, b) if dialect == "postgresql" else func.max(a, b)


def _summaries(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One partial trace row per trace id from a batch of new spans."""
    traces: dict[str, dict[str, Any]] = {}
    for row in sorted(rows, key=_start_ns):
        summary = traces.get(row["trace_id"])
        if summary is None:  # rows come by start time: the first one starts the trace
            summary = traces[row["trace_id"]] = {
                "project_id": row["project_id"],
                "trace_id": row["trace_id"],
                "root_span_id": None,
                "name": row["name"],
                "start_ns": row["start_ns"],
                "end_ns": row["end_ns"],
                "input": None,
                "output": None,
                **_NO_ROOT_VALUES,
                **_ZERO_SUMS,
            }
        elif row["end_ns"] > summary["end_ns"]:
            summary["end_ns"] = row["end_ns"]
        summary["span_count"] += 1
        summary["error_count"] += row["status"] == "error"
        summary["input_tokens"] += row["input_tokens"] or 0
        summary["output_tokens"] += row["output_tokens"] or 0
        summary["total_tokens"] += row["total_tokens"] or 0
        summary["cost"] += row["cost"] or 0
        if row["parent_span_id"] is None:  # the root's values win
            summary["root_span_id"] = row["span_id"]
            summary["name"] = row["name"]
            summary["input"] = (row["input"] or "")[:PREVIEW_CHARS] or None
            summary["output"] = (row["output"] or "")[:PREVIEW_CHARS] or None
            for name in _ROOT_PREFERRED:
                if row[name] is not None:
                    summary[name] = row[name]
        else:  # other spans fill what is still unknown
            for name in _ROOT_PREFERRED:
                if summary[name] is None:
                    summary[name] = row[name]
    for summary in traces.values():
        summary["duration_ms"] = (summary["end_ns"] - summary["start_ns"]) / 1e6
        summary["status"] = "error" if summary["error_count"] else "ok"
    return sorted(traces.values(), key=_trace_id)  # one lock order for concurrent replicas


_start_ns = itemgetter("start_ns")
_trace_id = itemgetter("trace_id")
_NO_ROOT_VALUES = dict.fromkeys(_ROOT_PREFERRED)
_ZERO_SUMS = dict.fromkeys(_SUMS, 0)


def _upsert_statement(dialect: str) -> Any:
    stmt = _insert(dialect, _TRACES)
    new, old = stmt.excluded, _TRACES.c
    has_root = new.root_span_id.isnot(None)
    start = _least(dialect, old.start_ns, new.start_ns)
    end = _greatest(dialect, old.end_ns, new.end_ns)
    updates: dict[str, Any] = {
        "start_ns": start,
        "end_ns": end,
        "duration_ms": (end - start) / 1e6,
        "root_span_id": func.coalesce(new.root_span_id, old.root_span_id),
        "name": case((has_root, new.name), else_=old.name),
        "status": case(((old.error_count + new.error_count) > 0, "error"), else_="ok"),
        "input": case((has_root, new.input), else_=old.input),
        "output": case((has_root, new.output), else_=old.output),
    }
    for name in _SUMS:
        updates[name] = old[name] + new[name]
    for name in _ROOT_PREFERRED:
        updates[name] = case((has_root, func.coalesce(new[name], old[name])), else_=func.coalesce(old[name], new[name]))
    return stmt.on_conflict_do_update(index_elements=["project_id", "trace_id"], set_=updates)


class _MultiRow:
    """One SQLite statement inserting many rows: ``head VALUES (?, ...), (?, ...) tail``.

    ``executemany`` steps once per row and the sqlite3 module releases the GIL around every step; with
    request threads decoding in the same process, each step then waits up to the switch interval (5 ms)
    to get the GIL back. A few statements of up to ``MAX_ROWS`` rows release it a few times per batch.
    Row counts are powers of two so that each distinct statement text is prepared once per connection
    (sqlite3's statement cache) instead of parsing a many-row statement on every batch. A prepared
    statement's memory grows with its rows (about 9 MB for 1,024 rows of 29 columns, kept per pooled
    connection), so the cap is 128 rows (about 1 MB): ingest measured no slower than with 1,024, and a
    long-running server's memory stays flat.
    """

    MAX_ROWS = 128

    def __init__(self, head: str, columns: int, tail: str = ""):
        self.head, self.tail, self.columns = head, tail, columns
        self.group = f"({', '.join('?' * columns)})"
        self._sql: dict[int, str] = {}

    def sql(self, rows: int) -> str:
        text = self._sql.get(rows)
        if text is None:
            text = self._sql[rows] = f"{self.head} VALUES {', '.join([self.group] * rows)} {self.tail}"
        return text

    def execute(self, conn: Connection, values: list[Any]) -> None:
        """``values``: every row's parameters one after the other (``columns`` per row)."""
        columns = self.columns
        largest = min(self.MAX_ROWS, _variable_limit(conn) // columns)
        start, total = 0, len(values) // columns
        while start < total:
            size = min(largest, 1 << ((total - start).bit_length() - 1))  # the largest power of two that fits
            conn.exec_driver_sql(self.sql(size), tuple(values[start * columns : (start + size) * columns]))
            start += size


def _variable_limit(conn: Connection) -> int:
    """How many ``?`` parameters one statement may hold (999 on old SQLite builds, 32766 since 3.32)."""
    dbapi_connection = conn.connection.dbapi_connection
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return 999
    try:
        return dbapi_connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    except sqlite3.Error:
        return 999


# NULLs are bound as NaN, which SQLite stores as NULL: the sqlite3 module binds None through its adapter
# lookup (an attribute miss that raises and clears an exception, for every None), which made binding cost
# more than inserting. Real floats are never NaN here (costs are checked finite). ``.get(v, v)`` keeps
# every other value as it is.
_NULL_AS_NAN = {None: math.nan}
_NULL = math.nan


@cache
def _sqlite_upsert() -> tuple[_MultiRow, Any]:
    """The trace upsert compiled once to plain SQL, and a getter for its parameters in order."""
    from sqlalchemy.dialects import sqlite

    compiled = _upsert_statement("sqlite").compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True})
    order = list(compiled.positiontup)
    head, values, tail = str(compiled).partition(f" VALUES ({', '.join('?' * len(order))}) ")
    if not values or "?" in tail:
        raise RuntimeError(f"unexpected upsert statement: {compiled}")
    return _MultiRow(head, len(order), tail), itemgetter(*order)


_JSON_COLUMNS = ("documents", "attributes", "events", "resource")
_PLAIN_COLUMNS = tuple(c.name for c in _SPANS.columns if c.name != "id" and c.name not in _JSON_COLUMNS)
_SQLITE_INSERT = _MultiRow(
    f"INSERT INTO spans ({', '.join(_PLAIN_COLUMNS + _JSON_COLUMNS)})",
    len(_PLAIN_COLUMNS) + len(_JSON_COLUMNS),
    "ON CONFLICT (project_id, trace_id, span_id) DO NOTHING",
)
_plain_values = itemgetter(*_PLAIN_COLUMNS)
_span_key = itemgetter("project_id", "trace_id", "span_id")
_project_id = itemgetter("project_id")
_trace_id_of = itemgetter("trace_id")


YIELD_EVERY = 32  # spans: a few hundred microseconds of work


def yield_gil() -> None:
    """Hand the GIL to a thread waiting for it now, not after the 5 ms switch interval. The CPU-bound
    loops of ingest (decode, map, prepare) call this every ``YIELD_EVERY`` spans: the span writer needs
    the GIL back after each SQLite call while it holds the write lock every server process shares, and
    the event loop needs it to read request bodies. Measured: 24k -> 33k spans/s with two workers."""
    time.sleep(0)


def _sqlite_values(rows: list[dict[str, Any]]) -> list[Any]:
    """The span rows as one flat list of SQLite parameters (JSON columns serialized, NULL as NaN)."""
    values: list[Any] = []
    extend, append, get, dumps = values.extend, values.append, _NULL_AS_NAN.get, orjson.dumps
    resources: dict[int, str] = {}  # the spans of one resource share its dict: serialize it once
    for i, row in enumerate(rows):
        if i % (YIELD_EVERY * 4) == YIELD_EVERY * 4 - 1:
            yield_gil()
        plain = _plain_values(row)
        extend(map(get, plain, plain))
        documents, attributes, events, resource = row["documents"], row["attributes"], row["events"], row["resource"]
        append(_NULL if documents is None else dumps(documents).decode())
        append(_NULL if attributes is None else dumps(attributes).decode())
        append(_NULL if events is None else dumps(events).decode())
        if resource is None:
            append(_NULL)
        else:
            text = resources.get(id(resource))
            if text is None:
                text = resources[id(resource)] = dumps(resource).decode()
            append(text)
    return values


class SpanBatch:
    """One request's span rows made ready before the write lock is taken: deduplicated (the same span
    twice counts once) and, for SQLite, already turned into statement parameters for the span rows and
    the trace summaries, so the writer holding the lock mostly waits on SQLite, not on Python."""

    __slots__ = ("keys", "rows", "span_values", "sqlite", "trace_ids", "trace_values")

    def __init__(self, rows: list[dict[str, Any]], *, sqlite: bool):
        keys = list(map(_span_key, rows))
        self.keys = set(keys)
        if len(self.keys) != len(rows):
            rows = list(dict(zip(keys, rows)).values())
        self.rows = rows
        self.sqlite = sqlite
        self.span_values: list[Any] = []
        self.trace_values: list[Any] = []
        self.trace_ids: dict[str, list[str]] = {}
        if sqlite and rows:
            self.span_values = _sqlite_values(rows)
            _, summary_values = _sqlite_upsert()
            get = _NULL_AS_NAN.get
            for summary in _summaries(rows):
                values = summary_values(summary)
                self.trace_values.extend(map(get, values, values))
            projects = set(map(_project_id, rows))
            if len(projects) == 1:
                self.trace_ids = {projects.pop(): sorted(set(map(_trace_id_of, rows)))}
            else:
                by_project: dict[str, set[str]] = {}
                for row in rows:
                    by_project.setdefault(row["project_id"], set()).add(row["trace_id"])
                self.trace_ids = {project_id: sorted(ids) for project_id, ids in by_project.items()}

    def __len__(self) -> int:
        return len(self.rows)


def _existing(conn: Connection, trace_ids: dict[str, list[str]]) -> set[tuple[str, str, str]]:
    """Keys of stored spans in these traces (one indexed query per 512 trace ids)."""
    found: set[tuple[str, str, str]] = set()
    for project_id, ids in trace_ids.items():
        for i in range(0, len(ids), 512):
            chunk = ids[i : i + 512]
            size = 1 << (len(chunk) - 1).bit_length()  # padded to a power of two: few distinct statements to prepare
            sql = f"SELECT trace_id, span_id FROM spans WHERE project_id = ? AND trace_id IN ({', '.join('?' * size)})"
            params = (project_id, *chunk, *[chunk[-1]] * (size - len(chunk)))
            found.update((project_id, t, s) for t, s in plain_rows(conn.exec_driver_sql(sql, params)))
    return found


def _write_sqlite(conn: Connection, batches: list[SpanBatch]) -> list[list[dict[str, Any]]]:
    """SQLite fast path: the caller holds the write lock (BEGIN IMMEDIATE), so a pre-check is race-free,
    and the rows of every batch go in together as plain multi-row statements: few statements, because
    the writer waits for the GIL after each one while it holds the lock. Returns each batch's new rows."""
    trace_ids: dict[str, set[str]] = {}
    for batch in batches:
        for project_id, ids in batch.trace_ids.items():
            trace_ids.setdefault(project_id, set()).update(ids)
    seen = _existing(conn, {project_id: sorted(ids) for project_id, ids in trace_ids.items()})
    new = []
    for batch in batches:
        if not seen.isdisjoint(batch.keys):  # re-sent spans (stored, or earlier in this group): rare, prepare again
            batch = SpanBatch([r for r, key in zip(batch.rows, map(_span_key, batch.rows)) if key not in seen], sqlite=True)
        seen |= batch.keys
        new.append(batch)
    span_values = list(chain.from_iterable(batch.span_values for batch in new))
    trace_values = list(chain.from_iterable(batch.trace_values for batch in new))
    if span_values:
        _SQLITE_INSERT.execute(conn, span_values)
        _sqlite_upsert()[0].execute(conn, trace_values)
    return [batch.rows for batch in new]


def _insert_returning(conn: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Postgres: replicas may race, so the database says which spans were really new."""
    stmt = (
        _insert("postgresql", _SPANS)
        .on_conflict_do_nothing(index_elements=["project_id", "trace_id", "span_id"])
        .returning(_SPANS.c.project_id, _SPANS.c.trace_id, _SPANS.c.span_id)
    )
    inserted = {tuple(r) for r in conn.execute(stmt, rows)}
    if len(inserted) != len(rows):
        rows = [r for r in rows if (r["project_id"], r["trace_id"], r["span_id"]) in inserted]
    if rows:
        conn.execute(_upsert_statement("postgresql"), _summaries(rows))
    return rows


def write_spans(
    conn: Connection, requests: Sequence[SpanBatch | list[dict[str, Any]]], written: list[dict[str, Any]] | None = None
) -> list[int]:
    """Insert the spans that are new, update their traces, in the caller's transaction. ``requests`` are
    span rows or prepared batches; a span in an earlier request or already stored is not new. Returns
    how many spans of each request were new (and appends their rows to ``written`` if given)."""
    sqlite = conn.dialect.name == "sqlite"
    batches = [r if isinstance(r, SpanBatch) and r.sqlite == sqlite else SpanBatch(_rows_of(r), sqlite=sqlite) for r in requests]
    if not any(batch.rows for batch in batches):
        return [0] * len(batches)
    new_rows = _write_sqlite(conn, batches) if sqlite else [_insert_returning(conn, b.rows) if b.rows else [] for b in batches]
    if written is not None:
        for rows in new_rows:
            written.extend(rows)
    return [len(rows) for rows in new_rows]


def _rows_of(spans: SpanBatch | list[dict[str, Any]]) -> list[dict[str, Any]]:
    return spans.rows if isinstance(spans, SpanBatch) else spans
