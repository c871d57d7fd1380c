"""Tool calls in the playground, so a replayed agent step sends the request that was recorded.

A draft message keeps its ``tool_calls`` (assistant) as JSON text, as the form carries it (``tool_calls-N``),
and its ``tool_call_id`` (tool, ``tool_call_id-N``). Here: reading them from a span, checking and showing
them, turning the draft's messages into the OpenAI chat format, and the tool definitions a span recorded.
"""

from __future__ import annotations

import json
import re
from typing import Any

from stackwright.ui.span_panel import decoded

MAX_SHOWN_ARGUMENTS = 120
_TOOL_SCHEMA = re.compile(r"^llm\.tools\.(\d+)\.tool\.json_schema$")  # OpenInference


def _arguments(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def parse_calls(text: str, number: int) -> tuple[list[dict[str, Any]], str | None]:
    """The tool calls in OpenAI's shape (``{id, type, function: {name, arguments}}``), or what is wrong
    with them (``number`` is the message's, counted from 1)."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        return [], f"The tool calls of message {number} are not valid JSON ({exc})."
    if not (isinstance(value, list) and value):
        return [], f"The tool calls of message {number} must be a non-empty JSON list."
    calls = []
    for call in value:
        function = call.get("function") if isinstance(call, dict) else None
        if not (isinstance(function, dict) and isinstance(function.get("name"), str) and function["name"]
                and isinstance(call.get("id"), str) and call["id"]):  # fmt: skip
            return [], f"Each tool call of message {number} needs an id and a function with a name, as the OpenAI chat format has them."
        arguments = _arguments(function.get("arguments") if function.get("arguments") is not None else {})
        calls.append({"id": call["id"], "type": call.get("type") or "function", "function": {"name": function["name"], "arguments": arguments}})
    return calls, None


def recorded_calls(message: Any) -> str | None:
    """A recorded message's tool calls as the form's JSON text (as recorded when they do not parse, so the
    page says what is wrong with them), or None."""
    calls = message.get("tool_calls") if isinstance(message, dict) else None
    if not calls:
        return None
    text = json.dumps(calls, ensure_ascii=False)
    parsed, problem = parse_calls(text, 0)
    return text if problem else json.dumps(parsed, ensure_ascii=False)


def shown_calls(text: str | None) -> list[str]:
    """One short line per call, such as ``search_docs({"q": "refunds"})`` (escaped by the template)."""
    calls, problem = parse_calls(text, 0) if text else ([], None)
    if problem:
        return []
    lines = []
    for call in calls:
        arguments = call["function"]["arguments"]
        cut = arguments if len(arguments) <= MAX_SHOWN_ARGUMENTS else arguments[:MAX_SHOWN_ARGUMENTS] + "…"
        lines.append(f"{call['function']['name']}({cut})")
    return lines


def check_calls(messages: list[dict[str, str]]) -> dict[str, str]:
    """The problems with the messages' tool calls, keyed ``tool_calls-N`` (shown beside that message)."""
    errors = {}
    for i, m in enumerate(messages):
        if m.get("tool_calls"):
            _, problem = parse_calls(m["tool_calls"], i + 1)
            if problem:
                errors[f"tool_calls-{i}"] = problem
    return errors


def wire(messages: list[dict[str, str]]) -> list[dict[str, Any]]:
    """The messages as the OpenAI chat format sends them: an assistant's ``tool_calls`` (its content null
    when it has none), a tool result's ``tool_call_id``. The calls are checked already (``check_calls``)."""
    out: list[dict[str, Any]] = []
    for m in messages:
        message: dict[str, Any] = {k: v for k, v in m.items() if k not in ("tool_calls", "tool_call_id")}
        if m.get("tool_calls"):
            message["tool_calls"] = parse_calls(m["tool_calls"], 0)[0]
            message["content"] = m["content"] or None
        if m.get("tool_call_id"):
            message["tool_call_id"] = m["tool_call_id"]
        out.append(message)
    return out


def span_tools(attributes: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The tool definitions the call offered, as an instrumented app records them (OpenInference's
    ``llm.tools.N.tool.json_schema``); None unless every one of them is a readable definition."""
    found = {int(m.group(1)): decoded(v) for k, v in attributes.items() if (m := _TOOL_SCHEMA.match(k))}
    tools = [found[i] for i in sorted(found)]
    return tools if tools and all(isinstance(t, dict) for t in tools) else None
