"""API shapes of the trace read API. The queries build plain dicts in these shapes (fast for big traces);
the routes declare these models for the OpenAPI document and the tests validate answers against them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

SortKey = Literal["start_time", "-start_time", "duration", "-duration", "cost", "-cost"]


class TraceItem(BaseModel):
    """One trace's summary row (``traces`` table). Previews are capped (500 chars in lists)."""

    trace_id: str
    name: str
    status: Literal["ok", "error"]
    start_time: str
    start_ns: int
    end_ns: int
    duration_ms: float
    span_count: int
    error_count: int
    root_span_id: str | None
    service_name: str | None
    model: str | None
    prompt_name: str | None
    prompt_version: str | None
    route: str | None
    environment: str | None
    release_arm: str | None
    user_id: str | None
    session_id: str | None
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost: float
    input: str | None
    output: str | None


class TraceList(BaseModel):
    data: list[TraceItem]
    next_cursor: str | None = None


class SpanNode(BaseModel):
    """A span in the tree, without its body. The tree is a flat pre-order list: a span's descendants
    follow it, ``depth`` is its level (roots are 0) and ``parent_span_id`` links it to its parent."""

    span_id: str
    parent_span_id: str | None
    orphan: bool  # has a parent id, but that span is not stored (yet): shown as a root
    depth: int
    child_count: int
    name: str
    kind: str
    status: str
    status_message: str | None
    start_ns: int
    end_ns: int
    offset_ms: float  # start relative to the trace's start
    duration_ms: float
    self_time_ms: float  # duration minus the union of its children's intervals, clipped to the span
    share: float  # duration / trace duration (0 for a zero-length trace)
    model: str | None
    input_tokens: int | None
    output_tokens: int | None
    total_tokens: int | None
    cost: float | None


class ScoreOut(BaseModel):
    id: int
    name: str
    value: float | None
    string_value: str | None
    data_type: str
    source: str
    comment: str | None
    span_id: str | None
    author: str
    created_at: str


class TraceDetail(BaseModel):
    trace: TraceItem
    spans: list[SpanNode]
    truncated: bool  # more spans are stored than max_spans; the earliest-starting ones are returned
    scores: list[ScoreOut]


class SpanDetail(BaseModel):
    """One span with its body and every mapped column."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: str
    status: str
    status_message: str | None
    start_time: str
    start_ns: int
    end_ns: int
    duration_ms: float
    service_name: str | None
    model: str | None
    provider: str | None
    prompt_name: str | None
    prompt_version: str | None
    route: str | None
    environment: str | None
    release_arm: str | None
    user_id: str | None
    session_id: str | None
    input_tokens: int | None
    output_tokens: int | None
    total_tokens: int | None
    cost: float | None
    input: str | None
    output: str | None
    documents: list[Any] | None
    attributes: dict[str, Any]
    events: list[Any] | None
    resource: dict[str, Any] | None
    scores: list[ScoreOut]


class SessionItem(BaseModel):
    session_id: str
    trace_count: int
    first_start_time: str
    last_start_time: str
    first_start_ns: int
    last_start_ns: int
    error_count: int
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost: float


class SessionList(BaseModel):
    data: list[SessionItem]
    next_cursor: str | None = None


class SessionDetail(BaseModel):
    """A session's summary and its traces, oldest first (cursor-paged like the trace list)."""

    session: SessionItem
    data: list[TraceItem]
    next_cursor: str | None = None
