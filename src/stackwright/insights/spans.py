"""Helpers over one trace's stored spans (dicts of the span columns, earliest first): decoding JSON
attributes, clipping long texts, and finding the spans the answers start from (the model call that
produced the answer, the root, the span that went through a release route)."""

from __future__ import annotations

from typing import Any

import orjson

MAX_TEXT = 4_000  # characters of a message, chunk or tool payload shown


def decode_json(value: Any) -> Any:
    """A JSON string attribute decoded (messages, findings, reasons); anything else as it is."""
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def clip(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_TEXT:
        return value[:MAX_TEXT] + f"…[{len(value) - MAX_TEXT} more chars]"
    return value


def is_call(span: dict[str, Any]) -> bool:
    """A model call (the gateway's call span, or an instrumented LLM span), not one of its attempts."""
    attrs = span["attributes"]
    return span["kind"] == "llm" and "stackwright.gateway.attempt" not in attrs


def answer_span(spans: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The model call that produced the answer: the last call served through a release route, else the last
    that used a stored prompt, else the last call (classifier or judge calls before it do not count)."""
    calls = [s for s in spans if is_call(s) and s["release_arm"] != "shadow"]
    for chosen in ([s for s in calls if s["route"]], [s for s in calls if s["prompt_name"]], calls):
        if chosen:
            return max(chosen, key=lambda s: (s["end_ns"], s["start_ns"]))
    return None


def root_span(spans: list[dict[str, Any]]) -> dict[str, Any] | None:
    ids = {s["span_id"] for s in spans}
    roots = [s for s in spans if not s["parent_span_id"] or s["parent_span_id"] not in ids]
    return min(roots, key=lambda s: s["start_ns"]) if roots else None


def route_span(spans: list[dict[str, Any]], llm: dict[str, Any] | None) -> dict[str, Any] | None:
    if llm is not None and llm["route"]:
        return llm
    served = [s for s in spans if s["route"] and s["release_arm"] != "shadow"]
    return served[-1] if served else None


def answer_text(text: Any) -> Any:
    """The final output; an app's structured output (``{"answer": ..., ...}``) gives its answer field."""
    value = decode_json(text)
    if isinstance(value, dict) and isinstance(value.get("answer"), str):
        return value["answer"]
    return text
