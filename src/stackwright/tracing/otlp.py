"""Decode OTLP/HTTP trace export requests (protobuf or JSON, gzip or not) into plain span dicts.

Each span comes out as ``{"trace_id", "span_id", "parent_span_id", "name", "start_ns", "end_ns",
"status_code", "status_message", "attributes", "events", "resource"}`` with hex ids and flat
attribute dicts, whatever the wire format. OTLP JSON carries ids as hex and 64-bit ints as strings.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from stackwright.core.errors import InvalidInput, PayloadTooLarge, StackwrightError

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


class UnsupportedMediaType(StackwrightError):
    status = 415
    code = "unsupported_media_type"


def decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    encoding = (encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding != "gzip":
        raise UnsupportedMediaType(f"Content-Encoding {encoding!r} is not supported.", hint="Send gzip or no encoding.")
    out, data = b"", body
    while True:  # a gzip stream may hold several members; a truncated one is an error, not a shorter body
        try:
            decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
            out += decoder.decompress(data, limit + 1 - len(out))
        except zlib.error as exc:
            raise InvalidInput(f"The gzip body cannot be decompressed ({exc}).", hint="Send valid gzip data.") from None
        if len(out) > limit:
            raise PayloadTooLarge(
                f"The decompressed body is larger than {limit} bytes.", hint="Export smaller batches (max_export_batch_size)."
            )
        if not decoder.eof:
            raise InvalidInput("The gzip body is truncated (the stream ends early).", hint="Send complete gzip data.")
        data = decoder.unused_data
        if not data:
            return out


def decode(body: bytes, content_type: str | None) -> list[dict[str, Any]]:
    return list(iter_decode(body, content_type))


def iter_decode(body: bytes, content_type: str | None) -> Iterable[dict[str, Any]]:
    """Like ``decode``, but a protobuf body's spans come one at a time once the body has parsed, so a
    caller that maps them as they come does not keep every decoded span alive (less garbage-collector
    work per request). A body that does not parse raises here, before any span."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media == PROTOBUF:
        return _spans_protobuf(_parse_protobuf(body))
    if media == JSON:
        return _decode_json(body)
    raise UnsupportedMediaType(
        f"Content-Type {content_type or '(none)'!r} is not an OTLP format.",
        hint=f"Send {PROTOBUF} or {JSON} (OTLP/HTTP).",
    )


# -- protobuf -------------------------------------------------------------------------------------


def _any_value(value: Any) -> Any:
    which = value.WhichOneof("value")
    if which == "string_value":
        return value.string_value
    if which == "int_value":
        return value.int_value
    if which == "double_value":
        return value.double_value
    if which == "bool_value":
        return value.bool_value
    if which == "array_value":
        return [_any_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _any_value(kv.value) for kv in value.kvlist_value.values}
    if which == "bytes_value":
        return value.bytes_value.hex()
    return None


def _attrs_pb(items: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in items:  # the common scalar cases inline: this runs for every attribute of every span
        value = kv.value
        which = value.WhichOneof("value")
        if which == "string_value":
            out[kv.key] = value.string_value
        elif which == "int_value":
            out[kv.key] = value.int_value
        else:
            out[kv.key] = _any_value(value)
    return out


def _parse_protobuf(body: bytes) -> Any:
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    try:
        return ExportTraceServiceRequest.FromString(body)
    except DecodeError as exc:
        raise InvalidInput(
            f"The body is not a valid OTLP protobuf ExportTraceServiceRequest ({exc}).",
            hint="Send the exporter's bytes unchanged with Content-Type: application/x-protobuf.",
        ) from None


def _spans_protobuf(request: Any) -> Iterator[dict[str, Any]]:
    for rs in request.resource_spans:
        resource = _attrs_pb(rs.resource.attributes)
        for ss in rs.scope_spans:
            for span in ss.spans:
                status, events = span.status, span.events
                yield {
                    "trace_id": span.trace_id.hex(),
                    "span_id": span.span_id.hex(),
                    "parent_span_id": span.parent_span_id.hex() or None,
                    "name": span.name,
                    "start_ns": span.start_time_unix_nano,
                    "end_ns": span.end_time_unix_nano,
                    "status_code": status.code,
                    "status_message": status.message or None,
                    "attributes": _attrs_pb(span.attributes),
                    "events": [
                        {"name": e.name, "time_ns": e.time_unix_nano, "attributes": _attrs_pb(e.attributes)} for e in events
                    ]
                    if events
                    else [],
                    "resource": resource,
                }


# -- JSON -----------------------------------------------------------------------------------------

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_HEX = frozenset("0123456789abcdefABCDEF")
_STATUS_NAMES = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}


def _any_value_json(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        number = int(value["intValue"])
        if not _INT64_MIN <= number <= _INT64_MAX:
            raise ValueError(f"intValue {number} is outside the 64-bit range")
        return number
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "arrayValue" in value:
        return [_any_value_json(v) for v in (value["arrayValue"] or {}).get("values", [])]
    if "kvlistValue" in value:
        return _attrs_json((value["kvlistValue"] or {}).get("values", []))
    if "bytesValue" in value:
        return value["bytesValue"]
    return None


def _attrs_json(items: Any) -> dict[str, Any]:
    if not isinstance(items, list):
        raise ValueError("attributes must be a list of {key, value}")
    return {kv["key"]: _any_value_json(kv.get("value")) for kv in items}


def _hex_id(value: Any, size: int, what: str, required: bool = True) -> str | None:
    if value in (None, ""):
        if required:
            raise ValueError(f"{what} is missing")
        return None
    if not isinstance(value, str) or len(value) != size * 2 or not _HEX.issuperset(value):
        raise ValueError(f"{what} must be {size * 2} hex characters")
    return value.lower()


def _status_code(status: dict[str, Any]) -> int:
    code = status.get("code", 0)
    return _STATUS_NAMES.get(code, 0) if isinstance(code, str) else int(code)


def _decode_json(body: bytes) -> list[dict[str, Any]]:
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"The body is not valid JSON ({exc}).", hint="Send an OTLP JSON ExportTraceServiceRequest.") from None
    if not isinstance(request, dict):
        raise InvalidInput("The body must be a JSON object with resourceSpans.", hint="See the OTLP/HTTP JSON encoding.")
    spans = []
    try:
        for rs in request.get("resourceSpans") or []:
            resource = _attrs_json((rs.get("resource") or {}).get("attributes") or [])
            for ss in rs.get("scopeSpans") or []:
                for span in ss.get("spans") or []:
                    status = span.get("status") or {}
                    spans.append(
                        {
                            "trace_id": _hex_id(span.get("traceId"), 16, "traceId"),
                            "span_id": _hex_id(span.get("spanId"), 8, "spanId"),
                            "parent_span_id": _hex_id(span.get("parentSpanId"), 8, "parentSpanId", required=False),
                            "name": str(span.get("name") or ""),
                            "start_ns": int(span.get("startTimeUnixNano") or 0),
                            "end_ns": int(span.get("endTimeUnixNano") or 0),
                            "status_code": _status_code(status),
                            "status_message": status.get("message") or None,
                            "attributes": _attrs_json(span.get("attributes") or []),
                            "events": [
                                {
                                    "name": e.get("name", ""),
                                    "time_ns": int(e.get("timeUnixNano") or 0),
                                    "attributes": _attrs_json(e.get("attributes") or []),
                                }
                                for e in span.get("events") or []
                            ],
                            "resource": resource,
                        }
                    )
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        where = f"span {len(spans)}"
        raise InvalidInput(
            f"The OTLP JSON is not valid at {where}: {exc}.",
            hint="Ids are hex strings (32 chars for traceId, 16 for spanId); times are nanoseconds.",
        ) from None
    return spans

