"""Builders of OTLP/HTTP trace export bodies (JSON as the spec encodes it, protobuf from the real SDK) and
SQL helpers that read what ingest stored, shared by the ingest tests."""

from __future__ import annotations

import gzip
import os
from typing import Any

from sqlalchemy import text

from stackwright.core.db import Database

T0 = 1_700_000_000_000_000_000  # ns


def new_trace_id() -> str:
    return os.urandom(16).hex()


def new_span_id() -> str:
    return os.urandom(8).hex()


def attr(key: str, value: Any) -> dict[str, Any]:
    """One OTLP JSON KeyValue; ints as strings, as the JSON encoding requires."""
    if isinstance(value, bool):
        wrapped: dict[str, Any] = {"boolValue": value}
    elif isinstance(value, int):
        wrapped = {"intValue": str(value)}
    elif isinstance(value, float):
        wrapped = {"doubleValue": value}
    else:
        wrapped = {"stringValue": str(value)}
    return {"key": key, "value": wrapped}


def span_json(
    trace_id: str, span_id: str, name: str = "span", *, parent: str | None = None, start: int = 0, duration: int = 1000,
    attributes: dict[str, Any] | None = None, status: dict[str, Any] | None = None, events: list | None = None,
) -> dict[str, Any]:  # fmt: skip
    span: dict[str, Any] = {
        "traceId": trace_id,
        "spanId": span_id,
        "name": name,
        "kind": 1,
        "startTimeUnixNano": str(T0 + start),
        "endTimeUnixNano": str(T0 + start + duration),
        "attributes": [attr(k, v) for k, v in (attributes or {}).items()],
    }
    if parent:
        span["parentSpanId"] = parent
    if status:
        span["status"] = status
    if events:
        span["events"] = events
    return span


def export_json(*spans: dict[str, Any], service: str = "test-service") -> dict[str, Any]:
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [attr("service.name", service)]},
                "scopeSpans": [{"scope": {"name": "tests"}, "spans": list(spans)}],
            }
        ]
    }


def protobuf_body(build) -> bytes:
    """Spans made by the real OpenTelemetry SDK (``build(tracer)``), encoded as the OTLP exporter does."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "pb-service"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    build(provider.get_tracer("tests"))
    provider.shutdown()
    return encode_spans(memory.get_finished_spans()).SerializeToString()


def gz(data: bytes) -> bytes:
    return gzip.compress(data)


def rows(db: Database, table: str, where: str = "1=1", **params: Any) -> list[dict[str, Any]]:
    with db.read() as session:
        result = session.execute(text(f"SELECT * FROM {table} WHERE {where}"), params)
        return [dict(r._mapping) for r in result]


def count(db: Database, table: str, where: str = "1=1", **params: Any) -> int:
    with db.read() as session:
        return session.execute(text(f"SELECT count(*) FROM {table} WHERE {where}"), params).scalar_one()


def json_value(value: Any) -> Any:
    """A JSON column as read through raw SQL: a string on SQLite, already decoded on Postgres."""
    import orjson

    return orjson.loads(value) if isinstance(value, str | bytes) else value
