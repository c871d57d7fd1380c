"""Reading traces: the filtered, keyset-paged trace list, one trace as a span tree, span bodies, sessions.

No HTTP here: the API and the CLI call these functions, so both answer the same thing. Every query is
scoped to one project; another project's trace is simply not found. Results are plain dicts in the
shapes of ``stackwright.tracing.schemas`` (building 100,000 pydantic objects would dominate a big trace).
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from stackwright.auth.models import Project
from stackwright.core.errors import InvalidInput, NotFound
from stackwright.tracing.models import Score, Span, Trace
from stackwright.tracing.tree import TREE_COLUMNS, span_tree

LIST_PREVIEW_CHARS = 500
DEFAULT_MAX_SPANS = 10_000
MAX_SPANS_LIMIT = 200_000
SORTS = {
    "start_time": (Trace.start_ns, False),
    "-start_time": (Trace.start_ns, True),
    "duration": (Trace.duration_ms, False),
    "-duration": (Trace.duration_ms, True),
    "cost": (Trace.cost, False),
    "-cost": (Trace.cost, True),
}
STATUSES = ("ok", "error")
_MAX_NS = 2**63 - 1
_SUMMARY_COLUMNS = (
    "trace_id", "name", "status", "start_ns", "end_ns", "duration_ms", "span_count", "error_count", "root_span_id",
    "service_name", "model", "prompt_name", "prompt_version", "route", "environment", "release_arm", "user_id",
    "session_id", "input_tokens", "output_tokens", "total_tokens", "cost",
)  # fmt: skip


# -- parsing input ---------------------------------------------------------------------------------


def iso(ns: int) -> str:
    """A nanosecond UNIX time as ISO 8601 UTC (microsecond precision)."""
    seconds, rest = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=rest // 1000).isoformat()


def parse_time(value: str | None, what: str) -> int | None:
    """ISO 8601 (naive means UTC) or UNIX nanoseconds, as nanoseconds."""
    if value is None or value == "":
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        ns = int(text)
    else:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidInput(
                f"{what} {value!r} is not a time.",
                hint="Use ISO 8601 (2024-05-01T12:00:00Z) or UNIX nanoseconds (1714564800000000000).",
            ) from None
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
        ns = (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
    if not 0 <= ns <= _MAX_NS:
        raise InvalidInput(f"{what} {value!r} is out of range.", hint="Use a time between 1970 and 2262.")
    return ns


def _number(value: float | None, what: str) -> float | None:
    if value is not None and not math.isfinite(value):
        raise InvalidInput(f"{what} must be a finite number, not {value!r}.")
    return value


def _text(value: str | None, what: str) -> str | None:
    if value is None or value == "":
        return None
    if "\x00" in value:
        raise InvalidInput(f"{what} must not contain NUL (\\u0000) characters.")
    return value


@dataclass(frozen=True)
class TraceFilters:
    start_ns: int | None = None  # start time >= this
    end_ns: int | None = None  # start time < this
    name: str | None = None
    status: str | None = None
    model: str | None = None
    prompt_name: str | None = None
    prompt_version: str | None = None
    route: str | None = None
    environment: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    min_cost: float | None = None
    min_duration_ms: float | None = None
    q: str | None = None


_TEXT_FILTERS = ("name", "model", "prompt_name", "prompt_version", "route", "environment", "user_id", "session_id")


def parse_filters(
    *, start: str | None = None, end: str | None = None, status: str | None = None, min_cost: float | None = None,
    min_duration_ms: float | None = None, q: str | None = None, **exact: str | None,
) -> TraceFilters:  # fmt: skip
    """Check raw filter values (from query parameters or CLI options); raise InvalidInput with a fix."""
    unknown = set(exact) - set(_TEXT_FILTERS)
    if unknown:
        raise InvalidInput(f"Unknown filter {sorted(unknown)[0]!r}.", hint=f"Filters: {', '.join(_TEXT_FILTERS)}.")
    if status not in (None, "", *STATUSES):
        raise InvalidInput(f"status {status!r} is not valid.", hint="Use ok or error.")
    start_ns, end_ns = parse_time(start, "start"), parse_time(end, "end")
    return TraceFilters(
        start_ns=start_ns,
        end_ns=end_ns,
        status=status or None,
        min_cost=_number(min_cost, "min_cost"),
        min_duration_ms=_number(min_duration_ms, "min_duration_ms"),
        q=_text(q, "q"),
        **{name: _text(exact.get(name), name) for name in _TEXT_FILTERS},
    )


def check_sort(sort: str | None) -> str:
    sort = sort or "-start_time"
    if sort not in SORTS:
        raise InvalidInput(f"sort {sort!r} is not valid.", hint=f"Use one of {', '.join(SORTS)}.")
    return sort


def encode_cursor(sort: str, value: int | float, key: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([sort, value, key])).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[int | float, str]:
    """The (sort value, id) a page ended at; the cursor must come from a page of the same sort."""
    bad = InvalidInput(f"Cursor {cursor[:80]!r} is not valid.", hint="Pass next_cursor from the last page, with the same sort.")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        got_sort, value, key = orjson.loads(raw)
    except (binascii.Error, ValueError, TypeError, orjson.JSONDecodeError):
        raise bad from None
    if got_sort != sort or not isinstance(key, str) or len(key) > 256 or "\x00" in key:
        raise bad
    if sort.endswith("start_time"):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _MAX_NS:
            raise bad
    elif not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise bad
    return value, key


def _after(column: Any, key_column: Any, descending: bool, value: Any, key: str) -> Any:
    """Keyset condition: rows strictly after (value, key) in the page order. The redundant bound on
    ``column`` alone lets both databases seek the index instead of filtering from its start."""
    if descending:
        return and_(column <= value, or_(column < value, and_(column == value, key_column < key)))
    return and_(column >= value, or_(column > value, and_(column == value, key_column > key)))


# -- the trace list --------------------------------------------------------------------------------


def _where(project_id: str, f: TraceFilters) -> list[Any]:
    conditions: list[Any] = [Trace.project_id == project_id]
    if f.start_ns is not None:
        conditions.append(Trace.start_ns >= f.start_ns)
    if f.end_ns is not None:
        conditions.append(Trace.start_ns < f.end_ns)
    for name in _TEXT_FILTERS:
        value = getattr(f, name)
        if value is not None:
            conditions.append(getattr(Trace, name) == value)
    if f.status:
        conditions.append(Trace.status == f.status)
    if f.min_cost is not None:
        conditions.append(Trace.cost >= f.min_cost)
    if f.min_duration_ms is not None:
        conditions.append(Trace.duration_ms >= f.min_duration_ms)
    if f.q:
        conditions.append(or_(Trace.input.icontains(f.q, autoescape=True), Trace.output.icontains(f.q, autoescape=True)))
    return conditions


def _trace_dict(row: Any) -> dict[str, Any]:
    out = dict(row._mapping)
    out["start_time"] = iso(out["start_ns"])
    return out


def list_traces(
    session: Session,
    project_id: str,
    filters: TraceFilters | None = None,
    *,
    sort: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
    preview_chars: int = LIST_PREVIEW_CHARS,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of trace summaries from the ``traces`` table (spans are never scanned)."""
    sort = check_sort(sort)
    column, descending = SORTS[sort]
    columns = [getattr(Trace, name) for name in _SUMMARY_COLUMNS]
    previews = [func.substr(Trace.input, 1, preview_chars).label("input"), func.substr(Trace.output, 1, preview_chars).label("output")]
    query = select(*columns, *previews).where(*_where(project_id, filters or TraceFilters()))
    if cursor:
        value, key = decode_cursor(cursor, sort)
        query = query.where(_after(column, Trace.trace_id, descending, value, key))
    order = (column.desc(), Trace.trace_id.desc()) if descending else (column.asc(), Trace.trace_id.asc())
    rows = session.execute(query.order_by(*order).limit(limit + 1)).all()
    items = [_trace_dict(r) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        next_cursor = encode_cursor(sort, last[column.key], last["trace_id"])
    return items, next_cursor


# -- one trace -------------------------------------------------------------------------------------


_HEX = "0123456789abcdef"


def _normal_id(value: str, size: int, what: str) -> str:
    """A hex id in stored form (lower case); anything that cannot be an id is simply not found."""
    value = value.strip().lower()
    if len(value) != size * 2 or not all(ch in _HEX for ch in value):
        raise NotFound(f"No {what} {value[:80]!r}: {what} ids are {size * 2} hex characters.")
    return value


def score_summaries(session: Session, project_id: str, trace_ids: list[str]) -> dict[str, list[str]]:
    """Each trace's scores as short ``name=value`` labels (a page of traces in one query), oldest first."""
    if not trace_ids:
        return {}
    query = (
        select(Score.trace_id, Score.name, Score.value, Score.string_value)
        .where(Score.project_id == project_id, Score.trace_id.in_(trace_ids))
        .order_by(Score.created_at, Score.id)
    )
    out: dict[str, list[str]] = {}
    for trace_id, name, value, string_value in session.execute(query):
        shown = string_value if string_value is not None else (f"{value:.3g}" if value is not None else "")
        out.setdefault(trace_id, []).append(f"{name}={shown}")
    return out


def _scores(session: Session, project_id: str, trace_id: str, span_id: str | None = None) -> list[dict[str, Any]]:
    query = select(Score).where(Score.project_id == project_id, Score.trace_id == trace_id)
    if span_id is not None:
        query = query.where(Score.span_id == span_id)
    out = []
    for s in session.scalars(query.order_by(Score.created_at, Score.id)):
        out.append(
            {
                "id": s.id, "name": s.name, "value": s.value, "string_value": s.string_value, "data_type": s.data_type,
                "source": s.source, "comment": s.comment, "span_id": s.span_id, "author": s.author,
                "created_at": s.created_at.isoformat(),
            }
        )  # fmt: skip
    return out


def find_trace(session: Session, project_id: str, trace_id: str) -> dict[str, Any]:
    """A trace's summary with its stored previews, or NotFound (also for another project's trace)."""
    trace_id = _normal_id(trace_id, 16, "trace")
    columns = [getattr(Trace, name) for name in _SUMMARY_COLUMNS]
    row = session.execute(
        select(*columns, Trace.input, Trace.output).where(Trace.project_id == project_id, Trace.trace_id == trace_id)
    ).first()
    if row is None:
        raise NotFound(f"No trace {trace_id!r} in this project.", hint="List traces with GET /api/v1/traces.")
    return _trace_dict(row)


def _check_max_spans(max_spans: int) -> None:
    if not 1 <= max_spans <= MAX_SPANS_LIMIT:
        raise InvalidInput(f"max_spans must be between 1 and {MAX_SPANS_LIMIT}, not {max_spans}.")


def _span_rows(session: Session, project_id: str, trace_id: str, names: tuple[str, ...], max_spans: int) -> list[Any]:
    """The trace's spans (the ``names`` columns), earliest first, at most ``max_spans + 1`` (to tell truncation)."""
    columns = [getattr(Span, name) for name in names]
    query = (
        select(*columns)
        .where(Span.project_id == project_id, Span.trace_id == trace_id)
        # "+ 0": find the trace's rows by the unique (project, trace, span) index and sort them, instead of
        # letting SQLite walk the project's whole (project, start) index for the order.
        .order_by(Span.start_ns + 0, Span.span_id)
        .limit(max_spans + 1)
    )
    return list(session.execute(query).all())


def get_trace(session: Session, project_id: str, trace_id: str, *, max_spans: int = DEFAULT_MAX_SPANS) -> dict[str, Any]:
    """The trace summary, its span tree without bodies (at most ``max_spans``, earliest first), its scores."""
    _check_max_spans(max_spans)
    trace = find_trace(session, project_id, trace_id)
    rows = _span_rows(session, project_id, trace["trace_id"], TREE_COLUMNS, max_spans)
    truncated = len(rows) > max_spans
    spans = span_tree(rows[:max_spans], trace["start_ns"], trace["duration_ms"])
    return {"trace": trace, "spans": spans, "truncated": truncated, "scores": _scores(session, project_id, trace["trace_id"])}


_BODY_COLUMNS = tuple(c.key for c in Span.__table__.columns if c.key not in ("id", "project_id"))


def get_trace_with_bodies(session: Session, project_id: str, trace_id: str, *, max_spans: int = DEFAULT_MAX_SPANS) -> dict[str, Any]:
    """``get_trace`` plus ``bodies``: each span's stored columns (input, output, attributes as a dict, events,
    documents...), earliest first. The spans are read once, for both the tree and the bodies."""
    _check_max_spans(max_spans)
    trace = find_trace(session, project_id, trace_id)
    rows = _span_rows(session, project_id, trace["trace_id"], _BODY_COLUMNS, max_spans)
    bodies = []
    for row in rows[:max_spans]:
        body = dict(row._mapping)
        body["attributes"] = body["attributes"] or {}
        bodies.append(body)
    tree_rows = [tuple(body[name] for name in TREE_COLUMNS) for body in bodies]
    return {
        "trace": trace,
        "spans": span_tree(tree_rows, trace["start_ns"], trace["duration_ms"]),
        "bodies": bodies,
        "truncated": len(rows) > max_spans,
        "scores": _scores(session, project_id, trace["trace_id"]),
    }


def trace_project_id(session: Session, trace_id: str) -> str | None:
    """The id of the project holding this trace, in one query (the oldest such project if several hold the
    same trace id; operator use: the API scopes by the key instead); None when no project holds it."""
    trace_id = _normal_id(trace_id, 16, "trace")
    query = (
        select(Trace.project_id)
        .join(Project, Project.id == Trace.project_id)
        .where(Trace.trace_id == trace_id)
        .order_by(Project.created_at, Project.name)
        .limit(1)
    )
    return session.scalar(query)


def prompt_versions_of(session: Session, project_id: str, trace_ids: list[str]) -> dict[str, str]:
    """Per trace id, the stored prompt version (``name@version``) its served model call used (shadow calls
    do not count); traces without one are left out."""
    out: dict[str, str] = {}
    unique = sorted(set(trace_ids))
    for i in range(0, len(unique), 500):
        query = select(Span.trace_id, Span.prompt_name, Span.prompt_version).where(
            Span.project_id == project_id, Span.trace_id.in_(unique[i : i + 500]), Span.prompt_name.isnot(None),
            or_(Span.release_arm.is_(None), Span.release_arm != "shadow"),
        )  # fmt: skip
        for trace_id, name, version in session.execute(query):
            out[trace_id] = f"{name}@{version}"
    return out


def get_span(session: Session, project_id: str, trace_id: str, span_id: str) -> dict[str, Any]:
    """One span with its body (input, output, attributes, events, resource, documents) and its scores."""
    trace_id, span_id = _normal_id(trace_id, 16, "trace"), _normal_id(span_id, 8, "span")
    columns = [getattr(Span, name) for name in _BODY_COLUMNS]
    row = session.execute(
        select(*columns).where(Span.project_id == project_id, Span.trace_id == trace_id, Span.span_id == span_id)
    ).first()
    if row is None:
        raise NotFound(f"No span {span_id!r} in trace {trace_id!r}.", hint="Open the trace to see its span ids.")
    out = dict(row._mapping)
    out["start_time"] = iso(out["start_ns"])
    out["scores"] = _scores(session, project_id, trace_id, span_id)
    return out


# -- sessions --------------------------------------------------------------------------------------


def _session_query(project_id: str) -> Any:
    last = func.max(Trace.start_ns).label("last_start_ns")
    return select(
        Trace.session_id,
        func.count().label("trace_count"),
        func.min(Trace.start_ns).label("first_start_ns"),
        last,
        func.sum(Trace.error_count).label("error_count"),
        func.sum(Trace.input_tokens).label("input_tokens"),
        func.sum(Trace.output_tokens).label("output_tokens"),
        func.sum(Trace.total_tokens).label("total_tokens"),
        func.sum(Trace.cost).label("cost"),
    ).where(Trace.project_id == project_id, Trace.session_id.isnot(None)).group_by(Trace.session_id), last


def _session_dict(row: Any) -> dict[str, Any]:
    m = row._mapping
    out = {"session_id": m["session_id"], "trace_count": int(m["trace_count"]), "cost": float(m["cost"] or 0)}
    for name in ("first_start_ns", "last_start_ns", "error_count", "input_tokens", "output_tokens", "total_tokens"):
        out[name] = int(m[name] or 0)
    out["first_start_time"], out["last_start_time"] = iso(out["first_start_ns"]), iso(out["last_start_ns"])
    return out


def list_sessions(
    session: Session, project_id: str, *, limit: int = 50, cursor: str | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """Sessions (traces grouped by session id), most recently active first."""
    query, last = _session_query(project_id)
    if cursor:
        value, key = decode_cursor(cursor, "-start_time")
        query = query.having(_after(last, Trace.session_id, True, value, key))
    rows = session.execute(query.order_by(last.desc(), Trace.session_id.desc()).limit(limit + 1)).all()
    items = [_session_dict(r) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        next_cursor = encode_cursor("-start_time", items[-1]["last_start_ns"], items[-1]["session_id"])
    return items, next_cursor


def get_session(
    session: Session, project_id: str, session_id: str, *, limit: int = 50, cursor: str | None = None
) -> dict[str, Any]:
    """A session's summary and one page of its traces, oldest first."""
    _text(session_id, "session_id")
    query, _ = _session_query(project_id)
    row = session.execute(query.where(Trace.session_id == session_id)).first()
    if row is None:
        raise NotFound(f"No session {session_id!r} in this project.", hint="List sessions with GET /api/v1/sessions.")
    traces, next_cursor = list_traces(
        session, project_id, TraceFilters(session_id=session_id), sort="start_time", limit=limit, cursor=cursor
    )
    return {"session": _session_dict(row), "data": traces, "next_cursor": next_cursor}
