"""REST routes for reading traces: list, one trace as a span tree, span bodies, sessions.

Every route is scoped to the key's project; another project's trace or session answers 404. The
queries build plain dicts (see ``queries``), sent with orjson as they are; the declared response models
document the shapes in OpenAPI.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from stackwright.auth.deps import ReadCaller
from stackwright.core.deps import SessionDep
from stackwright.core.responses import JSONBody
from stackwright.tracing import queries
from stackwright.tracing.schemas import SessionDetail, SessionList, SpanDetail, TraceDetail, TraceList

router = APIRouter(prefix="/api/v1", tags=["tracing"])

Limit = Annotated[int, Query(ge=1, le=500, description="Page size.")]
Cursor = Annotated[str | None, Query(description="next_cursor from the previous page.")]
TIME_HELP = "ISO 8601 time (naive means UTC) or UNIX nanoseconds"


@router.get("/traces", response_model=TraceList, summary="Traces of the project: filtered, sorted, cursor-paged")
def list_traces(
    caller: ReadCaller,
    session: SessionDep,
    start: Annotated[str | None, Query(description=f"Started at or after this {TIME_HELP}.")] = None,
    end: Annotated[str | None, Query(description=f"Started before this {TIME_HELP}.")] = None,
    name: Annotated[str | None, Query(description="Exact name of the root span.")] = None,
    status: Annotated[str | None, Query(description="ok or error (a trace is error if any span failed).")] = None,
    model: str | None = None,
    prompt_name: str | None = None,
    prompt_version: str | None = None,
    route: str | None = None,
    environment: str | None = None,
    user_id: str | None = None,
    session_id: str | None = None,
    min_cost: Annotated[float | None, Query(description="Total cost (USD) at least this.")] = None,
    min_duration_ms: Annotated[float | None, Query(description="Duration at least this many milliseconds.")] = None,
    q: Annotated[str | None, Query(description="Text contained in the input or output preview (any case).")] = None,
    sort: Annotated[
        str, Query(description="start_time, -start_time, duration, -duration, cost or -cost ('-' is descending).")
    ] = "-start_time",
    limit: Limit = 50,
    cursor: Cursor = None,
) -> JSONBody:
    filters = queries.parse_filters(
        start=start, end=end, status=status, min_cost=min_cost, min_duration_ms=min_duration_ms, q=q, name=name,
        model=model, prompt_name=prompt_name, prompt_version=prompt_version, route=route, environment=environment,
        user_id=user_id, session_id=session_id,
    )  # fmt: skip
    items, next_cursor = queries.list_traces(session, caller.project_id, filters, sort=sort, limit=limit, cursor=cursor)
    return JSONBody({"data": items, "next_cursor": next_cursor})


@router.get(
    "/traces/{trace_id}",
    response_model=TraceDetail,
    summary="One trace: summary, span tree (flat, pre-order, no bodies) with self time and share, scores",
)
def get_trace(
    trace_id: str,
    caller: ReadCaller,
    session: SessionDep,
    max_spans: Annotated[
        int, Query(ge=1, le=queries.MAX_SPANS_LIMIT, description="Return at most this many spans (earliest first).")
    ] = queries.DEFAULT_MAX_SPANS,
) -> JSONBody:
    return JSONBody(queries.get_trace(session, caller.project_id, trace_id, max_spans=max_spans))


@router.get(
    "/traces/{trace_id}/spans/{span_id}",
    response_model=SpanDetail,
    summary="One span with its body: input, output, attributes, events, resource, documents",
)
def get_span(trace_id: str, span_id: str, caller: ReadCaller, session: SessionDep) -> JSONBody:
    return JSONBody(queries.get_span(session, caller.project_id, trace_id, span_id))


@router.get("/sessions", response_model=SessionList, summary="Sessions of the project, most recently active first")
def list_sessions(caller: ReadCaller, session: SessionDep, limit: Limit = 50, cursor: Cursor = None) -> JSONBody:
    items, next_cursor = queries.list_sessions(session, caller.project_id, limit=limit, cursor=cursor)
    return JSONBody({"data": items, "next_cursor": next_cursor})


@router.get("/sessions/{session_id}", response_model=SessionDetail, summary="One session and its traces, oldest first")
def get_session(session_id: str, caller: ReadCaller, session: SessionDep, limit: Limit = 50, cursor: Cursor = None) -> JSONBody:
    return JSONBody(queries.get_session(session, caller.project_id, session_id, limit=limit, cursor=cursor))
