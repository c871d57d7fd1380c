"""Map decoded OTLP spans to rows: OpenInference, OpenLLMetry and GenAI semantic conventions, plus
Stackwright's own attributes, become first-class columns; everything is also kept as JSON."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import orjson

from stackwright.core.errors import InvalidInput

TRUNCATION_MARKER = "…[truncated {n} chars]"

_GENAI_OPERATION_KIND = {
    "chat": "llm",
    "text_completion": "llm",
    "generate_content": "llm",
    "embeddings": "embedding",
    "execute_tool": "tool",
    "invoke_agent": "agent",
    "create_agent": "agent",
}
_TRACELOOP_KIND = {"workflow": "chain", "task": "chain", "agent": "agent", "tool": "tool"}
_KIND_ALIASES = {"retriever": "retrieval"}


def _first(attrs: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        value = attrs.get(key)
        if value not in (None, ""):
            return value
    return None


_MAX_INT32 = 2**31 - 1
_MAX_NS = 2**63 - 1


def _int(value: Any) -> int | None:
    """A token count, or None when it is not a count the columns can hold (negative, over 32 bits, not a number)."""
    try:
        number = int(value) if value is not None else None
    except (TypeError, ValueError, OverflowError):
        return None
    return number if number is None or 0 <= number <= _MAX_INT32 else None


def _float(value: Any) -> float | None:
    try:
        number = float(value) if value is not None else None
    except (TypeError, ValueError, OverflowError):
        return None
    return number if number is None or math.isfinite(number) else None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else orjson.dumps(value, default=str).decode()


def truncate(value: str | None, limit: int) -> str | None:
    if value is None or len(value) <= limit:
        return value
    return value[:limit] + TRUNCATION_MARKER.format(n=len(value) - limit)


def _indexed(attrs: dict[str, Any], prefix: str, fields: tuple[str, ...]) -> list[dict[str, Any]]:
    """Collect ``prefix.{i}.field`` attributes into a list of dicts, in index order."""
    items: dict[int, dict[str, Any]] = {}
    start = len(prefix) + 1
    for key, value in attrs.items():
        if not key.startswith(prefix + "."):
            continue
        index, _, field = key[start:].partition(".")
        if index.isdigit() and field in fields:
            items.setdefault(int(index), {})[field.rsplit(".", 1)[-1]] = value
    return [items[i] for i in sorted(items)]


def _messages(attrs: dict[str, Any], oi_prefix: str, genai_key: str, legacy_prefix: str) -> str | None:
    found = _indexed(attrs, oi_prefix, ("message.role", "message.content"))
    if not found:
        raw = attrs.get(genai_key)
        if raw:
            return _text(raw)
        found = _indexed(attrs, legacy_prefix, ("role", "content"))
    return _text(found) if found else None


def _kind(attrs: dict[str, Any]) -> str:
    kind = _first(attrs, "openinference.span.kind", "stackwright.span.kind")
    if kind:
        kind = str(kind).lower()
        return _KIND_ALIASES.get(kind, kind)
    operation = attrs.get("gen_ai.operation.name")
    if operation:
        return _GENAI_OPERATION_KIND.get(str(operation), "llm")
    if attrs.get("llm.request.type"):
        return "llm"
    return _TRACELOOP_KIND.get(str(attrs.get("traceloop.span.kind", "")), "unknown")


def _documents(attrs: dict[str, Any]) -> list[dict[str, Any]] | None:
    docs = _indexed(attrs, "retrieval.documents", ("document.id", "document.score", "document.content", "document.metadata"))
    return docs or None


def _status_message(span: dict[str, Any]) -> str | None:
    message: str | None = span["status_message"]
    if message:
        return message
    for event in span["events"]:
        if event["name"] == "exception":
            attrs = event["attributes"]
            return _text(_first(attrs, "exception.message", "exception.type"))
    return None


def _check_ids(span: dict[str, Any], index: int) -> None:
    trace_id, span_id = span["trace_id"], span["span_id"]
    if len(trace_id) != 32 or trace_id == "0" * 32:
        raise InvalidInput(f"Span {index} ({span['name']!r}) has no valid trace id.", hint="Every span needs a 16-byte trace id.")
    if len(span_id) != 16 or span_id == "0" * 16:
        raise InvalidInput(f"Span {index} ({span['name']!r}) has no valid span id.", hint="Every span needs an 8-byte span id.")


def _check_times(span: dict[str, Any], index: int) -> tuple[int, int]:
    start_ns, end_ns = int(span["start_ns"]), int(span["end_ns"])
    if not (0 <= start_ns <= _MAX_NS and 0 <= end_ns <= _MAX_NS):
        raise InvalidInput(
            f"Span {index} ({span['name']!r}) has a start or end time outside the 64-bit range.",
            hint="Times are Unix nanoseconds.",
        )
    return start_ns, max(start_ns, end_ns)


def _truncate_attrs(attrs: dict[str, Any], limit: int) -> dict[str, Any]:
    return {k: truncate(v, limit) if isinstance(v, str) else v for k, v in attrs.items()}


PriceFn = Callable[[str | None, str | None, int | None, int | None], float | None]


# Column <- attribute keys, best first. One pass over a span's attributes fills them all.
_FIELDS: dict[str, tuple[str, ...]] = {
    "model": ("llm.model_name", "gen_ai.response.model", "gen_ai.request.model", "llm.request.model"),
    "provider": ("llm.provider", "gen_ai.provider.name", "llm.system", "gen_ai.system"),
    "input_tokens": ("llm.token_count.prompt", "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.usage.prompt_tokens"),
    "output_tokens": (
        "llm.token_count.completion", "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.usage.completion_tokens",
    ),
    "total_tokens": ("llm.token_count.total", "llm.usage.total_tokens", "gen_ai.usage.total_tokens"),
    "cost": ("stackwright.cost", "llm.cost.total", "gen_ai.usage.cost"),
    "input": ("input.value", "traceloop.entity.input"),
    "output": ("output.value", "traceloop.entity.output"),
    "prompt_name": ("stackwright.prompt.name", "llm.prompt_template.name"),
    "prompt_version": ("stackwright.prompt.version", "llm.prompt_template.version"),
    "route": ("stackwright.route",),
    "environment": ("stackwright.environment",),
    "release_arm": ("stackwright.release.arm",),
    "user_id": ("user.id", "enduser.id", "traceloop.association.properties.user_id"),
    "session_id": ("session.id", "gen_ai.conversation.id", "traceloop.association.properties.session_id"),
}  # fmt: skip
_KEY_FIELD = {key: (field, rank) for field, keys in _FIELDS.items() for rank, key in enumerate(keys)}
_INDEXED_PREFIXES = ("llm.input_messages.", "llm.output_messages.", "gen_ai.prompt.", "gen_ai.completion.", "retrieval.documents.")


def _scan(attrs: dict[str, Any], max_chars: int) -> tuple[dict[str, Any], bool, bool]:
    """The mapped fields, whether indexed families (messages, documents) occur, whether a value is too long."""
    fields: dict[str, Any] = {}
    ranks: dict[str, int] = {}
    indexed = too_long = False
    for key, value in attrs.items():
        hit = _KEY_FIELD.get(key)
        if hit is not None:
            if value is not None and value != "":
                field, rank = hit
                if rank < ranks.get(field, _NO_RANK):
                    fields[field] = value
                    ranks[field] = rank
        elif not indexed and key.startswith(_INDEXED_PREFIXES):
            indexed = True
        if type(value) is str and len(value) > max_chars:
            too_long = True
    return fields, indexed, too_long


_NO_RANK = len(_KEY_FIELD)


def _clip(value: Any, limit: int) -> str | None:
    return None if value is None else str(value)[:limit]


def to_row(span: dict[str, Any], index: int, project_id: str, max_chars: int, price: PriceFn) -> dict[str, Any]:
    """One decoded span as a ``spans`` row. This runs for every span ingested: keep it flat."""
    _check_ids(span, index)
    start_ns, end_ns = _check_times(span, index)
    attrs, resource, events, status_message = span["attributes"], span["resource"], span["events"], span["status_message"]
    fields, indexed, too_long = _scan(attrs, max_chars)
    get = fields.get
    parent_span_id = span["parent_span_id"]
    if parent_span_id and not parent_span_id.strip("0"):  # an all-zero parent id means "no parent"
        parent_span_id = None
    model, provider = get("model"), get("provider")
    input_tokens, output_tokens, total_tokens = _int(get("input_tokens")), _int(get("output_tokens")), _int(get("total_tokens"))
    if total_tokens is None and (input_tokens is not None or output_tokens is not None):
        total_tokens = (input_tokens or 0) + (output_tokens or 0)
    cost = _float(get("cost"))
    if cost is None and model and (input_tokens or output_tokens):
        cost = price(str(model), provider and str(provider), input_tokens, output_tokens)
    input_text, output_text = get("input"), get("output")
    if input_text is None and (indexed or "gen_ai.input.messages" in attrs):
        input_text = _messages(attrs, "llm.input_messages", "gen_ai.input.messages", "gen_ai.prompt")
    if output_text is None and (indexed or "gen_ai.output.messages" in attrs):
        output_text = _messages(attrs, "llm.output_messages", "gen_ai.output.messages", "gen_ai.completion")
    environment = get("environment")
    if environment is None:
        environment = _first(resource, "deployment.environment.name", "deployment.environment")
    stored_attrs = _truncate_attrs(attrs, max_chars) if too_long else attrs
    code = span["status_code"]
    if events:
        status = "error" if code == 2 or any(e["name"] == "exception" for e in events) else "ok" if code == 1 else "unset"
    else:
        status = "error" if code == 2 else "ok" if code == 1 else "unset"
    name = span["name"]
    return {
        "project_id": project_id,
        "trace_id": span["trace_id"],
        "span_id": span["span_id"],
        "parent_span_id": parent_span_id,
        "name": (name if len(name) <= 480 else truncate(name, 480)) or "(unnamed)",  # with the marker it fits 512 chars
        "kind": _kind(attrs)[:32],
        "status": status,
        "status_message": truncate(_status_message(span), max_chars) if events or status_message else None,
        "start_ns": start_ns,
        "end_ns": end_ns,
        "duration_ms": (end_ns - start_ns) / 1e6,
        "service_name": _clip(resource.get("service.name"), 200),
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "total_tokens": total_tokens,
        "cost": cost,
        "input": None if input_text is None else truncate(_text(input_text), max_chars),
        "output": None if output_text is None else truncate(_text(output_text), max_chars),
        "documents": _documents(stored_attrs) if indexed else None,
        "attributes": stored_attrs,
        "events": [{**e, "attributes": _truncate_attrs(e["attributes"], max_chars)} for e in events] if events else None,
        "resource": resource or None,
        "model": _clip(model, 200),
        "provider": _clip(provider, 64),
        "prompt_name": _clip(get("prompt_name"), 200),
        "prompt_version": _clip(get("prompt_version"), 64),
        "route": _clip(get("route"), 200),
        "environment": _clip(environment, 64),
        "release_arm": _clip(get("release_arm"), 64),
        "user_id": _clip(get("user_id"), 256),
        "session_id": _clip(get("session_id"), 256),
    }
