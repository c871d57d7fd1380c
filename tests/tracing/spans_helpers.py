"""Build OTLP JSON export bodies and send them through the real ingest endpoint (`POST /v1/traces`)."""

from __future__ import annotations

import secrets
from typing import Any

import httpx

BASE_NS = 1_700_000_000_000_000_000  # 2023-11-14T22:13:20Z
MS = 1_000_000


def trace_id() -> str:
    return secrets.token_hex(16)


def span_id() -> str:
    return secrets.token_hex(8)


def attribute(key: str, value: Any) -> dict[str, Any]:
    """One OTLP JSON KeyValue; ints are strings on the wire, as OTLP JSON encodes 64-bit ints."""
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    return {"key": key, "value": {"stringValue": str(value)}}


def span(
    trace: str,
    span: str,
    name: str,
    start_ms: float,
    end_ms: float,
    *,
    parent: str | None = None,
    attrs: dict[str, Any] | None = None,
    error: str | None = None,
    events: list[dict[str, Any]] | None = None,
    base_ns: int = BASE_NS,
) -> dict[str, Any]:
    """One OTLP JSON span; times are milliseconds after ``base_ns``."""
    out: dict[str, Any] = {
        "traceId": trace,
        "spanId": span,
        "name": name,
        "kind": 1,
        "startTimeUnixNano": str(base_ns + int(start_ms * MS)),
        "endTimeUnixNano": str(base_ns + int(end_ms * MS)),
        "attributes": [attribute(k, v) for k, v in (attrs or {}).items()],
        "status": {"code": 2, "message": error} if error else {"code": 1},
    }
    if parent:
        out["parentSpanId"] = parent
    if events:
        out["events"] = events
    return out


def body(spans: list[dict[str, Any]], service: str = "test-service", resource: dict[str, Any] | None = None) -> dict[str, Any]:
    attrs = {"service.name": service, **(resource or {})}
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [attribute(k, v) for k, v in attrs.items()]},
                "scopeSpans": [{"scope": {"name": "tests"}, "spans": spans}],
            }
        ]
    }


def send(client: httpx.Client, spans: list[dict[str, Any]], **kwargs: Any) -> None:
    """Export the spans as OTLP JSON; they are committed when this returns."""
    response = client.post("/v1/traces", json=body(spans, **kwargs))
    assert response.status_code == 200, response.text
