"""Spans as OTLP protobuf, sent over HTTP (gzip, ``Authorization: Bearer sw-...``) to ``/v1/traces``.

Runs in the export thread only, so the protobuf and httpx imports stay off the traced code's path.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Sequence
from typing import Any

from stackwright import __version__
from stackwright.sdk.observe.payload import to_json
from stackwright.sdk.observe.state import warn_limited

SCOPE_NAME = "stackwright.sdk"
RETRYABLE = {408, 429, 502, 503, 504}
_INT64 = (-(2**63), 2**63 - 1)


def _set_value(target: Any, value: Any) -> None:
    """Fill an OTLP AnyValue from a Python value."""
    if isinstance(value, str):
        target.string_value = value
    elif isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, int) and _INT64[0] <= value <= _INT64[1]:
        target.int_value = value
    elif isinstance(value, float):
        target.double_value = value
    elif isinstance(value, (list, tuple)):
        values = target.array_value.values
        for item in value:
            _set_value(values.add(), item)
    elif isinstance(value, (bytes, bytearray)):
        target.bytes_value = bytes(value)
    else:
        target.string_value = to_json(value)


def _set_attributes(target: Any, attributes: dict[str, Any]) -> None:
    for key, value in attributes.items():
        if value is None:
            continue
        kv = target.add()
        kv.key = key
        _set_value(kv.value, value)


def encode(spans: Sequence[Any], resource: dict[str, Any], span_defaults: dict[str, Any] | None = None) -> Any:
    """An ``ExportTraceServiceRequest`` with one resource and one scope holding ``spans``."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    _set_attributes(
        resource_spans.resource.attributes,
        {"telemetry.sdk.name": "stackwright", "telemetry.sdk.language": "python",
         "telemetry.sdk.version": __version__, **resource},
    )
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = SCOPE_NAME
    scope_spans.scope.version = __version__
    out = scope_spans.spans
    for span in spans:
        pb = out.add()
        pb.trace_id = span.trace_id.to_bytes(16, "big")
        pb.span_id = span.span_id.to_bytes(8, "big")
        if span.parent_span_id:
            pb.parent_span_id = span.parent_span_id.to_bytes(8, "big")
        pb.name = span.name
        pb.kind = pb.SPAN_KIND_INTERNAL
        pb.start_time_unix_nano = span.start_time
        pb.end_time_unix_nano = span.end_time
        attributes = span.attributes
        if span_defaults:
            attributes = {**span_defaults, **attributes}
        _set_attributes(pb.attributes, attributes)
        for name, time_ns, event_attributes in span.events:
            event = pb.events.add()
            event.name = name
            event.time_unix_nano = time_ns
            _set_attributes(event.attributes, event_attributes)
        pb.status.code = span.status_code
        if span.status_message:
            pb.status.message = span.status_message
    return request


def _retry_after(header: str | None) -> float:
    """The server's Retry-After in seconds (capped at 5; 0 if absent or not a number)."""
    try:
        return min(max(float(header), 0.0), 5.0) if header else 0.0
    except ValueError:
        return 0.0


class OTLPHttpExporter:
    """POSTs batches as gzip'd protobuf; failures are logged (rate-limited) and the batch dropped."""

    def __init__(self, endpoint: str, api_key: str | None, *, timeout: float = 10.0, retries: int = 2) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self.retries = max(0, int(retries))
        self.headers = {
            "Content-Type": "application/x-protobuf",
            "Content-Encoding": "gzip",
            "User-Agent": f"stackwright-python/{__version__}",
        }
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"
        self._client: Any = None

    def _http(self) -> Any:
        if self._client is None:
            import httpx

            self._client = httpx.Client(timeout=self.timeout)
        return self._client

    def export(self, spans: Sequence[Any], resource: dict[str, Any], span_defaults: dict[str, Any]) -> bool:
        import httpx

        body = gzip.compress(encode(spans, resource, span_defaults).SerializeToString(), compresslevel=6)
        problem, wait = "", 0.0
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(wait or min(0.5 * 2 ** (attempt - 1), 4.0))
            try:
                response = self._http().post(self.endpoint, content=body, headers=self.headers)
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
                continue
            if response.is_success:
                self._check_partial_success(response, len(spans))
                return True
            problem = f"HTTP {response.status_code}: {response.text[:300]}"
            if response.status_code not in RETRYABLE:
                break
            wait = _retry_after(response.headers.get("retry-after"))
        warn_limited(
            "export-failed",
            "stackwright tracing: could not export %d spans to %s (%s); they are dropped",
            len(spans), self.endpoint, problem,
        )
        return False

    @staticmethod
    def _check_partial_success(response: Any, sent: int) -> None:
        if "protobuf" not in response.headers.get("content-type", "") or not response.content:
            return
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

        answer = ExportTraceServiceResponse()
        try:
            answer.ParseFromString(response.content)
        except Exception:
            return
        rejected = answer.partial_success.rejected_spans
        if rejected:
            warn_limited(
                "export-partial",
                "stackwright tracing: the server rejected %d of %d spans: %s",
                rejected, sent, answer.partial_success.error_message,
            )

    def shutdown(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
