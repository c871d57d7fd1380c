"""Write spans in bulk: re-sent spans are skipped (unique trace and span id per project), and the
per-trace summary row is upserted from the spans that were really inserted, in the same transaction."""

from __future__ import annotations

import sqlite3
from itertools import chain
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import case, func
from sqlalchemy.engine import Connection

from stackwright.tracing.models import Span, Trace

PREVIEW_CHARS = 2000
_SPANS = Span.__table__
_TRACES = Trace.__table__
_ROOT_PREFERRED = (
    "service_name", "model", "prompt_name", "prompt_version", "route", "environment", "release_arm", "user_id", "session_id",
)  # fmt: skip
_SUMS = ("span_count", "error_count", "input_tokens", "output_tokens", "total_tokens", "cost")


def _insert(conn: Connection, table: Any) -> Any:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def _least(conn: Connection, a: Any, b: Any) -> Any:
    return func.least(a, b) if conn.dialect.name == "postgresql" else func.min(a, b)


def _greatest(conn: Connection, a: Any, b: Any) -> Any:
    return func.greatest(a, b) if conn.dialect.name == "postgresql" else func.max(a, b)


def _summaries(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One partial trace row per trace id from a batch of new spans."""
    traces: dict[str, dict[str, Any]] = {}
    for row in sorted(rows, key=lambda r: r["start_ns"]):
        summary = traces.get(row["trace_id"])
        is_root = row["parent_span_id"] is None
        if summary is None:
            summary = traces[row["trace_id"]] = {
                "project_id": row["project_id"],
                "trace_id": row["trace_id"],
                "root_span_id": None,
                "name": row["name"],
                "start_ns": row["start_ns"],
                "end_ns": row["end_ns"],
                "input": None,
                "output": None,
                **{name: None for name in _ROOT_PREFERRED},
                **{name: 0 for name in _SUMS},
            }
        summary["start_ns"] = min(summary["start_ns"], row["start_ns"])
        summary["end_ns"] = max(summary["end_ns"], row["end_ns"])
        summary["span_count"] += 1
        summary["error_count"] += row["status"] == "error"
        for name in ("input_tokens", "output_tokens", "total_tokens", "cost"):
            summary[name] += row[name] or 0
        if is_root:
            summary["root_span_id"] = row["span_id"]
            summary["name"] = row["name"]
            summary["input"] = (row["input"] or "")[:PREVIEW_CHARS] or None
            summary["output"] = (row["output"] or "")[:PREVIEW_CHARS] or None
        for name in _ROOT_PREFERRED:
            if row[name] is not None and (summary[name] is None or is_root):
                summary[name] = row[name]
    for summary in traces.values():
        summary["duration_ms"] = (summary["end_ns"] - summary["start_ns"]) / 1e6
        summary["status"] = "error" if summary["error_count"] else "ok"
    return sorted(traces.values(), key=lambda t: t["trace_id"])  # one lock order for concurrent replicas


def _upsert_statement(conn: Connection) -> Any:
    stmt = _insert(conn, _TRACES)
    new, old = stmt.excluded, _TRACES.c
    has_root = new.root_span_id.isnot(None)
    start = _least(conn, old.start_ns, new.start_ns)
    end = _greatest(conn, old.end_ns, new.end_ns)
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
    (sqlite3's statement cache) instead of parsing a many-row statement on every batch.
    """

    MAX_ROWS = 256

    def __init__(self, head: str, columns: int, tail: str = ""):
        self.head, self.tail, self.columns = head, tail, columns
        self.group = f"({', '.join('?' * columns)})"
        self._sql: dict[int, str] = {}

    def sql(self, rows: int) -> str:
        text = self._sql.get(rows)
        if text is None:
            text = self._sql[rows] = f"{self.head} VALUES {', '.join([self.group] * rows)} {self.tail}"
        return text

    def execute(self, conn: Connection, params: list[tuple[Any, ...]]) -> None:
        largest = min(self.MAX_ROWS, _variable_limit(conn) // self.columns)
        start, total = 0, len(params)
        while start < total:
            size = min(largest, 1 << ((total - start).bit_length() - 1))  # the largest power of two that fits
            chunk = params[start : start + size]
            conn.exec_driver_sql(self.sql(size), tuple(chain.from_iterable(chunk)))
            start += size


def _variable_limit(conn: Connection) -> int:
    """How many ``?`` parameters one statement may hold (999 on old SQLite builds, 32766 since 3.32)."""
    try:
        return conn.connection.dbapi_connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    except (AttributeError, sqlite3.Error):
        return 999


_sqlite_upsert: tuple[_MultiRow, list[str]] | None = None


def _upsert_traces(conn: Connection, summaries: list[dict[str, Any]]) -> None:
    global _sqlite_upsert
    if conn.dialect.name != "sqlite":
        conn.execute(_upsert_statement(conn), summaries)
        return
    if _sqlite_upsert is None:  # the same statement, compiled once to plain SQL with positional parameters
        compiled = _upsert_statement(conn).compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
        order = list(compiled.positiontup)
        head, values, tail = str(compiled).partition(f" VALUES ({', '.join('?' * len(order))}) ")
        if not values or "?" in tail:
            raise RuntimeError(f"unexpected upsert statement: {compiled}")
        _sqlite_upsert = (_MultiRow(head, len(order), tail), order)
    statement, order = _sqlite_upsert
    statement.execute(conn, [tuple(summary[name] for name in order) for summary in summaries])


_JSON_COLUMNS = ("documents", "attributes", "events", "resource")
_PLAIN_COLUMNS = tuple(c.name for c in _SPANS.columns if c.name != "id" and c.name not in _JSON_COLUMNS)
_SQLITE_INSERT = _MultiRow(
    f"INSERT INTO spans ({', '.join(_PLAIN_COLUMNS + _JSON_COLUMNS)})",
    len(_PLAIN_COLUMNS) + len(_JSON_COLUMNS),
    "ON CONFLICT (project_id, trace_id, span_id) DO NOTHING",
)
_plain_values = itemgetter(*_PLAIN_COLUMNS)


def _existing(conn: Connection, rows: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    """Keys of these spans that are already stored (one indexed query per 500 trace ids)."""
    by_project: dict[str, set[str]] = {}
    for row in rows:
        by_project.setdefault(row["project_id"], set()).add(row["trace_id"])
    found: set[tuple[str, str, str]] = set()
    for project_id, trace_ids in by_project.items():
        ids = sorted(trace_ids)
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            sql = f"SELECT trace_id, span_id FROM spans WHERE project_id = ? AND trace_id IN ({', '.join('?' * len(chunk))})"
            found.update((project_id, t, s) for t, s in conn.exec_driver_sql(sql, (project_id, *chunk)))
    return found


def _insert_sqlite(conn: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """SQLite fast path: the caller holds the write lock (BEGIN IMMEDIATE), so a pre-check is race-free
    and the rows go in with one plain executemany, without per-row ORM or type processing."""
    existing = _existing(conn, rows)
    if existing:
        rows = [r for r in rows if (r["project_id"], r["trace_id"], r["span_id"]) not in existing]
    dumps = orjson.dumps
    params = [
        (
            *_plain_values(row),
            None if (documents := row["documents"]) is None else dumps(documents).decode(),
            None if (attributes := row["attributes"]) is None else dumps(attributes).decode(),
            None if (events := row["events"]) is None else dumps(events).decode(),
            None if (resource := row["resource"]) is None else dumps(resource).decode(),
        )
        for row in rows
    ]
    if params:
        _SQLITE_INSERT.execute(conn, params)
    return rows


def _insert_returning(conn: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Postgres: replicas may race, so the database says which spans were really new."""
    stmt = (
        _insert(conn, _SPANS)
        .on_conflict_do_nothing(index_elements=["project_id", "trace_id", "span_id"])
        .returning(_SPANS.c.project_id, _SPANS.c.trace_id, _SPANS.c.span_id)
    )
    inserted = {tuple(r) for r in conn.execute(stmt, rows)}
    if len(inserted) != len(rows):
        rows = [r for r in rows if (r["project_id"], r["trace_id"], r["span_id"]) in inserted]
    return rows


def write_spans(conn: Connection, rows: list[dict[str, Any]], written: list[dict[str, Any]] | None = None) -> int:
    """Insert the spans that are new, update their traces; returns how many spans were new
    (and appends their rows to ``written`` if given, for metrics)."""
    if not rows:
        return 0
    unique = {(r["project_id"], r["trace_id"], r["span_id"]): r for r in rows}
    if len(unique) != len(rows):  # the same span twice in one batch counts once
        rows = list(unique.values())
    rows = _insert_sqlite(conn, rows) if conn.dialect.name == "sqlite" else _insert_returning(conn, rows)
    if rows:
        _upsert_traces(conn, _summaries(rows))
    if written is not None:
        written.extend(rows)
    return len(rows)
