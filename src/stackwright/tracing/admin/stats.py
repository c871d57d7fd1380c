"""Trace stats: count, errors, latency percentiles, tokens, cost and score aggregates, by group and time bucket.

Latency percentiles are computed exactly with numpy (linear interpolation) over the fetched ``duration_ms``
column, so both backends give the same answer; counts and sums come from the same single read of the rows.
Grouping by ``span_name`` aggregates spans (and the scores attached to those spans); every other
grouping aggregates traces (and all scores of those traces). With ``span_name``, the model, status and
time filters apply to the spans, the route/environment/prompt filters to the span's trace.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, and_, func, literal_column, select
from sqlalchemy.orm import Session

from stackwright.core.errors import InvalidInput
from stackwright.tracing.models import Score, Span, Trace

GROUP_COLUMNS = {
    "model": Trace.model, "route": Trace.route, "prompt_version": Trace.prompt_version, "environment": Trace.environment,
    "user_id": Trace.user_id,
}  # fmt: skip
GROUP_BY_CHOICES = ("none", "model", "route", "prompt_version", "environment", "user_id", "span_name")
MAX_GROUPS = 10_000
PERCENTILES = (50, 95, 99)
_BUCKET = re.compile(r"([1-9][0-9]{0,5})([smhd])")
_UNIT_NS = {"s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9, "d": 86400 * 10**9}
_TRACE_FILTERS = ("route", "environment", "prompt_name", "prompt_version")


@dataclass(frozen=True)
class StatsQuery:
    group_by: str = "none"
    bucket: str | None = None
    start_ns: int | None = None
    end_ns: int | None = None
    model: str | None = None
    route: str | None = None
    environment: str | None = None
    prompt_name: str | None = None
    prompt_version: str | None = None
    status: str | None = None

    @property
    def bucket_ns(self) -> int | None:
        return parse_bucket(self.bucket)


def parse_time(value: str | None, name: str) -> int | None:
    """An ISO 8601 time (naive is UTC) or integer unix nanoseconds, as unix nanoseconds."""
    if value is None or value == "":
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        if len(text) > 19 or int(text) > 2**63 - 1:
            raise InvalidInput(f"{name}={value!r} is out of range.", hint="Pass unix nanoseconds or an ISO 8601 time.")
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        seconds = int(moment.timestamp())
    except (ValueError, OverflowError, OSError):
        raise InvalidInput(
            f"{name}={value!r} is not a time.", hint="Use ISO 8601 (2025-01-31T12:00:00Z) or unix nanoseconds."
        ) from None
    if seconds < 0:
        raise InvalidInput(f"{name}={value!r} is before 1970.", hint="Pass a time after 1970-01-01.")
    return seconds * 10**9 + moment.microsecond * 1000


def parse_bucket(value: str | None) -> int | None:
    """``1m``, ``5m``, ``1h``, ``1d``... as a width in nanoseconds."""
    if value is None or value == "":
        return None
    match = _BUCKET.fullmatch(value.strip())
    if not match:
        raise InvalidInput(
            f"bucket={value!r} is not a bucket width.", hint="Use a number and a unit s, m, h or d, e.g. 1m, 5m, 1h, 1d."
        )
    width = int(match.group(1)) * _UNIT_NS[match.group(2)]
    if width > 3660 * _UNIT_NS["d"]:
        raise InvalidInput(f"bucket={value!r} is too wide.", hint="Use at most 3660d.")
    return width


def ns_to_datetime(ns: int | None) -> datetime | None:
    return None if ns is None else datetime.fromtimestamp(ns // 10**9, UTC).replace(microsecond=(ns % 10**9) // 1000)


@dataclass
class _Source:
    """What rows are aggregated: the FROM clause, the filter, and the columns to read."""

    from_: Any
    where: list[Any]
    keys: list[Any]  # group column and/or bucket expression
    status: Any
    duration: Any
    tokens: tuple[Any, Any, Any]
    cost: Any
    score_join: Any


def _source(project_id: str, q: StatsQuery) -> _Source:
    if q.group_by not in GROUP_BY_CHOICES:
        raise InvalidInput(f"group_by={q.group_by!r} is not supported.", hint=f"Use one of {', '.join(GROUP_BY_CHOICES)}.")
    spans = q.group_by == "span_name"
    row = Span if spans else Trace
    from_: Any = row
    where = [row.project_id == project_id]
    if spans and any(getattr(q, name) is not None for name in _TRACE_FILTERS):
        from_ = Span.__table__.join(Trace.__table__, and_(Trace.project_id == Span.project_id, Trace.trace_id == Span.trace_id))
    for name in _TRACE_FILTERS:
        if getattr(q, name) is not None:
            where.append(getattr(Trace, name) == getattr(q, name))
    if q.model is not None:
        where.append(row.model == q.model)
    if q.status is not None:
        where.append(row.status == q.status)
    if q.start_ns is not None:
        where.append(row.start_ns >= q.start_ns)
    if q.end_ns is not None:
        where.append(row.start_ns < q.end_ns)
    keys: list[Any] = []
    if spans:
        keys.append(Span.name)
    elif q.group_by != "none":
        keys.append(GROUP_COLUMNS[q.group_by])
    width = q.bucket_ns
    if width is not None:
        # The width is inlined (an int we parsed): a bound parameter would differ between SELECT and GROUP BY.
        width_sql = literal_column(str(int(width)), BigInteger)
        keys.append((row.start_ns // width_sql) * width_sql)
    score_join = and_(Score.project_id == row.project_id, Score.trace_id == row.trace_id)
    if spans:
        score_join = and_(score_join, Score.span_id == Span.span_id)
    return _Source(
        from_=from_,
        where=where,
        keys=[k.label(f"k{i}") for i, k in enumerate(keys)],
        status=row.status,
        duration=row.duration_ms,
        tokens=(row.input_tokens, row.output_tokens, row.total_tokens),
        cost=row.cost,
        score_join=score_join,
    )


Columns = list[tuple[Any, ...]]
# per key: the sums, and the latency percentiles
Aggregated = tuple[dict[tuple[Any, ...], dict[str, Any]], dict[tuple[Any, ...], Any]]


def _read(session: Session, src: _Source) -> Columns:
    """The rows' group keys, status, duration, tokens and cost, by column (empty when no row matches)."""
    stmt = select(*src.keys, src.status, src.duration, *src.tokens, src.cost).select_from(src.from_).where(*src.where)
    rows = session.connection().execute(stmt).all()  # Core rows: ORM row handling would double the time
    return list(zip(*rows, strict=True))  # by column: slicing each of 100,000s of rows would cost more than the query


def _aggregates(columns: Columns, n: int, by: list[int]) -> Aggregated:
    """Per key (the key columns ``by`` of the ``n``): count, errors, tokens, cost and the latency percentiles.
    Percentiles need every duration anyway, so the sums come from the same read rather than a second scan."""
    import numpy as np

    if not columns:
        return {}, {}
    size = len(columns[n])
    members: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    for i, key in enumerate(zip(*[columns[k] for k in by], strict=True) if by else [()] * size):
        members[key].append(i)
    if len(members) > MAX_GROUPS:
        raise InvalidInput(
            f"The stats have more than {MAX_GROUPS} groups.", hint="Use a wider bucket, a narrower time range or fewer groups."
        )
    is_error = np.fromiter((status == "error" for status in columns[n]), dtype=bool, count=size)
    duration = np.asarray(columns[n + 1], dtype=np.float64)
    sums = [np.nan_to_num(np.asarray(column, dtype=np.float64)) for column in columns[n + 2 : n + 6]]  # None counts as 0
    groups, latency = {}, {}
    for key, at in members.items():
        index = np.asarray(at, dtype=np.intp)
        tin, tout, total, cost = (float(column[index].sum()) for column in sums)
        groups[key] = {"count": len(at), "error_count": int(is_error[index].sum()), "input_tokens": int(tin),
                       "output_tokens": int(tout), "total_tokens": int(total), "cost": cost}  # fmt: skip
        p = np.percentile(duration[index], PERCENTILES)
        latency[key] = {f"p{pct}": float(v) for pct, v in zip(PERCENTILES, p, strict=True)}
    return groups, latency


def _scores(session: Session, src: _Source) -> dict[tuple[Any, ...], dict[str, dict[str, Any]]]:
    label = Score.string_value  # set for categorical scores only
    cols = (Score.name, label, func.count(), func.count(Score.value), func.sum(Score.value))
    stmt = (
        select(*src.keys, *cols)
        .select_from(src.from_)
        .join(Score, src.score_join)
        .where(*src.where)
        .group_by(*src.keys, Score.name, label)
    )
    n = len(src.keys)
    acc: dict[tuple[Any, ...], dict[str, dict[str, Any]]] = defaultdict(dict)
    for row in session.execute(stmt):
        name, category, count, numeric_count, total = row[n:]
        agg = acc[tuple(row[:n])].setdefault(name, {"count": 0, "n": 0, "sum": 0.0, "values": None})
        agg["count"] += int(count)
        agg["n"] += int(numeric_count)
        agg["sum"] += float(total or 0.0)
        if category is not None:
            agg["values"] = {**(agg["values"] or {}), category: int(count)}
    return {
        key: {
            name: {"count": a["count"], "mean": a["sum"] / a["n"] if a["n"] else None, "values": a["values"]}
            for name, a in sorted(by_name.items())
        }
        for key, by_name in acc.items()
    }


def _sort_key(key: tuple[Any, ...]) -> tuple[tuple[bool, Any], ...]:
    return tuple((value is None, value if value is not None else "") for value in key)


def _rows(aggregated: Aggregated, scores: dict[tuple[Any, ...], Any], grouped: bool, bucketed: bool) -> list[dict[str, Any]]:
    groups, latency = aggregated
    rows = []
    for key in sorted(groups, key=_sort_key):
        agg = groups[key]
        bucket_ns = int(key[-1]) if bucketed else None
        rows.append(
            {
                "group": (str(key[0]) if key[0] is not None else None) if grouped else None,
                "bucket_start": ns_to_datetime(bucket_ns),
                "bucket_start_ns": bucket_ns,
                **agg,
                "error_rate": agg["error_count"] / agg["count"],
                "latency_ms": latency.get(key, {"p50": None, "p95": None, "p99": None}),
                "scores": scores.get(key, {}),
            }
        )
    return rows


def _check_range(q: StatsQuery) -> None:
    if q.start_ns is not None and q.end_ns is not None and q.end_ns <= q.start_ns:
        raise InvalidInput("end must be after start.", hint="Swap the two times or widen the range.")


def compute_stats(session: Session, project_id: str, q: StatsQuery) -> dict[str, Any]:
    """Stats rows for the project, one per group and bucket, ordered by group (unset last) then time."""
    _check_range(q)
    src = _source(project_id, q)
    n = len(src.keys)
    aggregated = _aggregates(_read(session, src), n, list(range(n)))
    scores = _scores(session, src) if aggregated[0] else {}
    return {
        "group_by": q.group_by,
        "bucket": q.bucket,
        "start": ns_to_datetime(q.start_ns),
        "end": ns_to_datetime(q.end_ns),
        "data": _rows(aggregated, scores, q.group_by != "none", q.bucket_ns is not None),
    }


def compute_overview(session: Session, project_id: str, q: StatsQuery) -> dict[str, list[dict[str, Any]]]:
    """Two views from one read of the rows (a dashboard's): ``over_time``, one row per time bucket of all groups
    together, and ``by_group``, one row per group over the whole range; stats rows as ``compute_stats`` gives
    them, without scores. ``q`` needs both a ``group_by`` and a ``bucket``."""
    if q.group_by == "none" or q.bucket_ns is None:
        raise InvalidInput("An overview needs both group_by and bucket.", hint="Pass e.g. group_by=model and bucket=1h.")
    _check_range(q)
    src = _source(project_id, q)
    columns = _read(session, src)  # keys: the group, then the bucket
    return {
        "over_time": _rows(_aggregates(columns, 2, [1]), {}, grouped=False, bucketed=True),
        "by_group": _rows(_aggregates(columns, 2, [0]), {}, grouped=True, bucketed=False),
    }
