"""What the playground edits: the messages (plain text, or Jinja templates with variables), up to three
model configurations, and where the draft came from (a prompt version, or a span being replayed).

A draft travels in the page's form (``role-N``/``content-N`` with ``tool_calls-N``/``tool_call_id-N``,
``var-NAME``, ``model-N``/``params-N``), so every run, save and sweep starts from exactly what is on the
screen. Problems are collected per field name and shown beside that field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from stackwright.core.errors import InvalidInput
from stackwright.prompts import service as prompts
from stackwright.prompts.templates import analyze, message_label, render_payload, schema_for
from stackwright.ui.playground_tools import check_calls, recorded_calls, span_tools
from stackwright.ui.span_panel import decoded
from stackwright.ui.span_panel import messages as span_messages

COLUMNS = 3
MAX_MESSAGES = 200  # as many as a stored prompt holds
MAX_CONTENT = 200_000
ROLES = ("system", "developer", "user", "assistant", "tool")
RESERVED_PARAMS = ("model", "messages", "stream", "stream_options", "variables")
_SCALARS = ("number", "integer", "boolean", "array", "object")


@dataclass
class Column:
    model: str = ""
    params: str = ""  # a JSON object as typed: {"temperature": 0.2, "max_tokens": 256}


@dataclass
class Draft:
    messages: list[dict[str, str]] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    templated: bool = False
    columns: list[Column] = field(default_factory=lambda: [Column() for _ in range(COLUMNS)])
    prompt: str = ""  # the prompt version it started from
    version: str = ""
    trace: str = ""  # the span it replays
    span: str = ""
    save_name: str = ""
    save_message: str = ""

    def active(self) -> list[int]:
        """The columns that have a model: the configurations to run."""
        return [i for i, c in enumerate(self.columns) if c.model]


def from_form(form: dict[str, str]) -> Draft:
    draft = Draft(templated=form.get("templated") == "1")
    for i in range(MAX_MESSAGES):
        if f"role-{i}" not in form and f"content-{i}" not in form:
            break
        message = {"role": form.get(f"role-{i}", "user"), "content": form.get(f"content-{i}", "")}
        calls, answers = form.get(f"tool_calls-{i}", "").strip(), form.get(f"tool_call_id-{i}", "").strip()
        if calls and message["role"] == "assistant":  # kept only while the role can carry them
            message["tool_calls"] = calls
        if answers and message["role"] == "tool":
            message["tool_call_id"] = answers
        if message["content"].strip() or "tool_calls" in message:
            draft.messages.append(message)
    draft.variables = {k[4:]: v for k, v in form.items() if k.startswith("var-")}
    draft.columns = [Column(form.get(f"model-{i}", "").strip(), form.get(f"params-{i}", "").strip()) for i in range(COLUMNS)]
    for name in ("prompt", "version", "trace", "span", "save_name", "save_message"):
        setattr(draft, name, form.get(name, "").strip())
    return draft


def check_messages(draft: Draft) -> dict[str, str]:
    if not draft.messages:
        return {"messages": "Write at least one message."}
    for i, m in enumerate(draft.messages):
        if m["role"] not in ROLES:
            return {"messages": f"Message {i + 1} has role {m['role'][:40]!r}; use one of {', '.join(ROLES)}."}
        if len(m["content"]) > MAX_CONTENT:
            return {"messages": f"Message {i + 1} has {len(m['content'])} characters; the most is {MAX_CONTENT}."}
    return check_calls(draft.messages)


def params_of(column: Column, index: int) -> tuple[dict[str, Any], dict[str, str]]:
    """The column's parameters, or the problem with them (keyed by the field name)."""
    name = f"params-{index}"
    if not column.params:
        return {}, {}
    try:
        value = json.loads(column.params)
    except ValueError as exc:
        return {}, {name: f"Parameters are not valid JSON ({exc}); write an object such as {{\"temperature\": 0.2}}."}
    if not isinstance(value, dict):
        return {}, {name: "Parameters must be a JSON object such as {\"temperature\": 0.2, \"max_tokens\": 256}."}
    reserved = [k for k in value if k in RESERVED_PARAMS]
    if reserved:
        return {}, {name: f"Parameters may not set {', '.join(reserved)}: the playground sets them."}
    return value, {}


def template_variables(draft: Draft) -> tuple[list[str], dict[str, str]]:
    """The variables the templated messages use, or the template error (at ``messages``)."""
    if not draft.templated:
        return [], {}
    found: set[str] = set()
    try:
        for i, m in enumerate(draft.messages):
            found |= analyze(m["content"], message_label(i, m)).variables
    except InvalidInput as exc:
        return [], {"messages": exc.message}
    return sorted(found), {}


def _typed(value: str, spec: dict[str, Any]) -> Any:
    if spec.get("type") in _SCALARS:
        try:
            return json.loads(value)
        except ValueError:
            return value  # the schema check names the wrong type
    return value


def rendered_messages(session: Session, project_id: str, draft: Draft, schema: dict[str, Any] | None) -> tuple[list[dict[str, str]], dict[str, str]]:
    """The messages to send: the templates rendered with the variables (``schema`` is the source prompt
    version's, for defaults and types), or the messages as they are; or the problem, keyed by field."""
    if not draft.templated:
        return draft.messages, {}
    names, errors = template_variables(draft)
    if errors:
        return [], errors
    properties = (schema or {}).get("properties") or {}
    overrides = {n: dict(properties.get(n) or {}) for n in names}
    given = {n: _typed(v, overrides[n]) for n, v in draft.variables.items() if n in overrides and v != ""}  # empty: missing
    payload = {"name": draft.prompt or "playground", "version": draft.version or "draft", "type": "chat", "messages": draft.messages,
               "variables": schema_for(set(names), overrides), "included": {}}  # fmt: skip
    try:
        includes = sorted({ref for i, m in enumerate(draft.messages) for ref in analyze(m["content"], message_label(i, m)).includes})
        if includes:
            payload["included"] = prompts.resolve_includes(session, project_id, draft.prompt or "playground", includes)
        return render_payload(payload, given)["messages"], {}
    except InvalidInput as exc:
        missing = (exc.details or {}).get("missing") if isinstance(exc.details, dict) else None
        if missing:
            return [], {f"var-{name}": f"Fill in the variable {name!r}." for name in missing}
        variable = (exc.details or {}).get("variable") if isinstance(exc.details, dict) else None
        return [], {f"var-{variable}" if variable else "messages": exc.message}


# -- where a draft starts --------------------------------------------------------------------------


def from_version(row: Any) -> Draft:
    """A prompt version's templates, model and parameters (a text prompt becomes one user message)."""
    messages = [{"role": m.get("role", "user"), "content": m.get("content") or ""} for m in row.messages or []]
    if row.type == "text":
        messages = [{"role": "user", "content": row.template or ""}]
    draft = Draft(messages=messages, templated=True, prompt=row.prompt.name, version=str(row.version), save_name=row.prompt.name)
    draft.columns[0] = Column(row.model or "", json.dumps(row.params) if row.params else "")
    properties = (row.variables or {}).get("properties") or {}
    draft.variables = {n: _shown(spec["default"]) for n, spec in properties.items() if isinstance(spec, dict) and "default" in spec}
    return draft


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def span_parameters(attributes: dict[str, Any]) -> dict[str, Any]:
    """The call's parameters as the span recorded them: ``llm.invocation_parameters`` (OpenInference) and
    ``gen_ai.request.*`` (OpenTelemetry), without the model."""
    params: dict[str, Any] = {}
    invocation = decoded(attributes.get("llm.invocation_parameters"))
    if isinstance(invocation, dict):
        params.update(invocation)
    for key, value in attributes.items():
        if key.startswith("gen_ai.request.") and key != "gen_ai.request.model":
            params[key[len("gen_ai.request."):]] = value
    return {k: v for k, v in params.items() if k not in RESERVED_PARAMS}


def span_model(span: dict[str, Any]) -> str:
    attributes = span.get("attributes") or {}
    return str(attributes.get("gen_ai.request.model") or attributes.get("llm.request.model") or span.get("model") or "")


def _message(shown: dict[str, Any], recorded: Any) -> dict[str, str]:
    """A recorded message as the form carries it, with its tool calls (assistant) or the call it answers (tool)."""
    message = {"role": shown["role"] if shown["role"] in ROLES else "user", "content": shown["text"]}
    calls = recorded_calls(recorded)
    if calls and message["role"] == "assistant":
        message["tool_calls"] = calls
    answers = recorded.get("tool_call_id") if isinstance(recorded, dict) else None
    if isinstance(answers, str) and answers and message["role"] == "tool":
        message["tool_call_id"] = answers
    return message


def from_span(span: dict[str, Any], prompt_params: dict[str, Any] | None = None) -> Draft:
    """The span's exact messages (as plain text, not templates, with their tool calls), model and parameters:
    those of the prompt version it names (``prompt_params``, as the gateway merged them), then those the span
    recorded, with the tool definitions it recorded as ``tools``."""
    found = span_messages(span.get("input"), True)
    if found is None:
        found = [{"role": "user", "text": str(decoded(span.get("input")) or "")}]
    raw = decoded(span.get("input"))
    raw = raw if isinstance(raw, list) else [raw]
    messages = [_message(m, raw[i] if i < len(raw) else None) for i, m in enumerate(found)]
    attributes = span.get("attributes") or {}
    params = {**(prompt_params or {}), **span_parameters(attributes)}
    if isinstance(params.get("tools"), str):
        params["tools"] = decoded(params["tools"])
    if "tools" not in params and (tools := span_tools(attributes)):
        params["tools"] = tools
    draft = Draft(messages=messages, trace=span["trace_id"], span=span["span_id"], save_name=span.get("prompt_name") or "")
    draft.columns[0] = Column(span_model(span), json.dumps(params) if params else "")
    return draft


def recorded(span: dict[str, Any]) -> dict[str, Any]:
    """The replayed span's own output and figures: the "before" column."""
    found = span_messages(span.get("output"), True)
    text = "\n\n".join(m["text"] for m in found) if found else str(decoded(span.get("output")) or "")
    return {
        "model": span_model(span), "text": text, "input_tokens": span.get("input_tokens"), "output_tokens": span.get("output_tokens"),
        "cost": span.get("cost"), "latency_ms": span.get("duration_ms"), "trace_id": span["trace_id"], "span_id": span["span_id"],
        "prompt": f"{span['prompt_name']}@{span['prompt_version']}" if span.get("prompt_name") else None,
        "error": span.get("status_message") if span.get("status") == "error" else None,
    }  # fmt: skip
