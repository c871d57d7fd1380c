"""`POST /v1/traces`: OTLP/HTTP trace ingest (protobuf or JSON, gzip or not), scoped to the key's project."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from stackwright.auth.actors import Caller
from stackwright.auth.deps import require
from stackwright.core.errors import StackwrightError
from stackwright.monitoring.metrics import metrics_for
from stackwright.tracing import otlp
from stackwright.tracing.mapping import to_row
from stackwright.tracing.pricing import Pricer

if TYPE_CHECKING:
    from stackwright.tracing.store import SpanBatch

router = APIRouter(tags=["tracing"])


def _rows(body: bytes, content_type: str | None, project_id: str, max_chars: int, pricer: Pricer) -> list[dict[str, Any]]:
    from stackwright.tracing.store import YIELD_EVERY, yield_gil

    rows = []
    for i, span in enumerate(otlp.iter_decode(body, content_type)):
        rows.append(to_row(span, i, project_id, max_chars, pricer))
        if i % YIELD_EVERY == YIELD_EVERY - 1:
            yield_gil()
    return rows


def _prepared(
    app_state: Any, body: bytes, content_encoding: str | None, content_type: str | None, project_id: str
) -> tuple[SpanBatch | list[dict[str, Any]], int]:
    """The body decompressed, decoded, mapped and made ready for the writer; the span count received goes along."""
    settings, writer = app_state.settings, app_state.span_writer
    body = otlp.decompress(body, content_encoding, settings.max_body_bytes)
    rows = _rows(body, content_type, project_id, settings.max_attribute_chars, app_state.pricers.get(project_id))
    try:
        return writer.prepare(rows), len(rows)
    except Exception:  # a value the store refuses: the writer reports it as it does for any batch
        return rows, len(rows)


_decoder: ThreadPoolExecutor | None = None
_decoder_lock = threading.Lock()


def _decode_thread() -> ThreadPoolExecutor:
    """One thread per process decodes and maps requests. The work holds the GIL, so more threads add
    no speed; they only take the GIL from the span writer, which holds the database write lock (shared
    by every server process) while it waits for its turn: with six decoding threads, writing 2,000 spans
    took 300 ms of wall time for 50 ms of CPU, and every other process waited on the lock meanwhile."""
    global _decoder
    with _decoder_lock:
        if _decoder is None:
            _decoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stackwright-otlp-decode")
        return _decoder


@router.post(
    "/v1/traces",
    summary="OTLP/HTTP trace export (protobuf or JSON); answers after the spans are committed",
    responses={429: {"description": "Ingest queue full; retry after Retry-After"}},
)
async def export_traces(request: Request, caller: Annotated[Caller, Depends(require("write"))]) -> Response:
    app_state = request.app.state
    content_type = request.headers.get("content-type")
    try:
        body = await request.body()
        spans, size = await asyncio.get_running_loop().run_in_executor(
            _decode_thread(), _prepared, app_state, body, request.headers.get("content-encoding"), content_type, caller.project_id
        )
        await app_state.span_writer.submit(spans, size)
    except StackwrightError as exc:
        metrics_for(request.app).requests_rejected.labels(exc.code).inc()
        raise
    if (content_type or "").startswith(otlp.PROTOBUF):
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

        return Response(ExportTraceServiceResponse().SerializeToString(), media_type=otlp.PROTOBUF)
    return Response(b"{}", media_type=otlp.JSON)
