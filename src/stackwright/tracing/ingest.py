"""`POST /v1/traces`: OTLP/HTTP trace ingest (protobuf or JSON, gzip or not), scoped to the key's project."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from stackwright.auth.actors import Actor
from stackwright.auth.deps import require
from stackwright.core.errors import StackwrightError
from stackwright.monitoring.metrics import metrics_for
from stackwright.tracing import otlp
from stackwright.tracing.mapping import to_row
from stackwright.tracing.pricing import Pricer

router = APIRouter(tags=["tracing"])


def _rows(body: bytes, content_type: str | None, project_id: str, max_chars: int, pricer: Pricer) -> list[dict[str, Any]]:
    spans = otlp.decode(body, content_type)
    return [to_row(span, i, project_id, max_chars, pricer) for i, span in enumerate(spans)]


@router.post(
    "/v1/traces",
    summary="OTLP/HTTP trace export (protobuf or JSON); answers after the spans are committed",
    responses={429: {"description": "Ingest queue full; retry after Retry-After"}},
)
async def export_traces(request: Request, caller: Annotated[Actor, Depends(require("write"))]) -> Response:
    app_state = request.app.state
    settings = app_state.settings
    content_type = request.headers.get("content-type")
    try:
        body = otlp.decompress(await request.body(), request.headers.get("content-encoding"), settings.max_body_bytes)
        pricer = await run_in_threadpool(app_state.pricers.get, caller.project_id)
        rows = await run_in_threadpool(_rows, body, content_type, caller.project_id, settings.max_attribute_chars, pricer)
        await app_state.span_writer.submit(rows)
    except StackwrightError as exc:
        metrics_for(request.app).requests_rejected.labels(exc.code).inc()
        raise
    if (content_type or "").startswith(otlp.PROTOBUF):
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

        return Response(ExportTraceServiceResponse().SerializeToString(), media_type=otlp.PROTOBUF)
    return Response(b"{}", media_type=otlp.JSON)
