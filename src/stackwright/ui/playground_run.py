"""Running a playground configuration: one chat call through the app's gateway, the in-process path
``POST /v1/chat/completions`` takes after its key check, so budgets, rate limits, guardrails, release
hooks and tracing apply as they do to API calls.

Attribution: the call acts as the signed-in user in their current project, with the scope their role's
keys have (``Caller`` labelled ``web:<email>``; the gateway refuses a viewer, as it refuses a read key).
It carries no API key, so the project's model limits apply and per-key budgets do not (those belong to a
key); the call's span says who ran it (``stackwright.actor``) and that it came from the playground.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import Request

from stackwright.auth.actors import Caller
from stackwright.core.errors import Forbidden, StackwrightError
from stackwright.gateway.spans import CallRecord
from stackwright.ui.pages import WebUser
from stackwright.ui.settings import web_actor


def web_caller(request: Request, user: WebUser) -> Caller:
    actor = web_actor(request, user)
    return Caller(label=actor.label, project_id=user.project_id, scopes=actor.scopes, user_id=actor.user_id, request_id=actor.request_id)


def call_attributes(caller: Caller, prompt: tuple[str, str] | None) -> dict[str, Any]:
    attributes: dict[str, Any] = {"stackwright.source": "playground", "stackwright.actor": caller.label}
    if prompt:
        attributes |= {"stackwright.prompt.name": prompt[0], "stackwright.prompt.version": prompt[1]}
    return attributes


@dataclass
class Outcome:
    model: str
    text: str = ""
    error: str | None = None
    param: str | None = None  # the request field a refusal named (e.g. temperature)
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost: float | None = None
    latency_ms: float | None = None
    trace_id: str | None = None

    def figures(self) -> dict[str, Any]:
        return {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens, "cost": self.cost,
                "latency_ms": round(self.latency_ms, 1) if self.latency_ms is not None else None, "trace_id": self.trace_id}  # fmt: skip


def chat_models(project: Any) -> list[str]:
    return sorted(name for name, m in project.models.items() if m.kind != "embedding")


def _message_text(message: Any) -> str:
    if not isinstance(message, dict):
        return ""
    content = message.get("content")
    if isinstance(content, str) and content:
        return content
    if message.get("tool_calls"):
        return orjson.dumps(message["tool_calls"], option=orjson.OPT_INDENT_2).decode()
    return "" if content is None else orjson.dumps(content).decode()


def _refusal(outcome: Outcome, exc: StackwrightError) -> Outcome:
    if isinstance(exc, Forbidden):
        raise exc  # the user may not run models here: a 403 page, not a column's message
    outcome.error = exc.message
    details = exc.details if isinstance(exc.details, dict) else {}
    outcome.param = details.get("param") if isinstance(details.get("param"), str) else None
    return outcome


async def run(gateway: Any, caller: Caller, body: dict[str, Any], attributes: dict[str, Any]) -> Outcome:
    """One call, not streamed (the page without JavaScript)."""
    outcome = Outcome(model=body["model"])
    started = time.perf_counter()
    try:
        response = await gateway.chat(caller, {**body, "stream": False}, {}, attributes)
    except StackwrightError as exc:
        return _refusal(outcome, exc)
    outcome.latency_ms = (time.perf_counter() - started) * 1000
    result = orjson.loads(response.body)
    outcome.text = _message_text(((result.get("choices") or [{}])[0]).get("message"))
    usage = result.get("usage") or {}
    outcome.input_tokens, outcome.output_tokens = usage.get("prompt_tokens"), usage.get("completion_tokens")
    cost = response.headers.get("x-stackwright-cost-usd")
    outcome.cost = float(cost) if cost else None
    outcome.trace_id = response.headers.get("x-stackwright-trace-id")
    return outcome


async def _events(response: Any) -> AsyncIterator[dict[str, Any]]:
    """The server-sent events of a streamed answer (a cache hit arrives as one body)."""
    chunks = response.body_iterator if hasattr(response, "body_iterator") else _once(response.body)
    buffer = b""
    async for chunk in chunks:
        buffer += chunk.encode() if isinstance(chunk, str) else bytes(chunk)
        while b"\n\n" in buffer:
            event, buffer = buffer.split(b"\n\n", 1)
            for line in event.split(b"\n"):
                if line.startswith(b"data: ") and line[6:].strip() != b"[DONE]":
                    yield orjson.loads(line[6:])


async def _once(body: bytes) -> AsyncIterator[bytes]:
    yield body if body.endswith(b"\n\n") else body + b"\n\n"


def _cost(gateway: Any, project: Any, caller: Caller, headers: Any, usage: dict[str, Any]) -> float | None:
    """A streamed answer has no cost header: priced from its usage by the gateway's own accounting."""
    if headers.get("x-stackwright-cost-usd"):
        return float(headers["x-stackwright-cost-usd"])
    served = project.models.get(headers.get("x-stackwright-model") or "")
    deployment = next((d for d in served.deployments if d.id == headers.get("x-stackwright-deployment")), None) if served else None
    if deployment is None:
        return None
    call = CallRecord(project_id=caller.project_id, operation="chat", asked_model=served.name, trace_id="", parent_span_id=None,
                      start_ns=0, served_model=served.name, provider=deployment.provider, upstream_model=deployment.model)  # fmt: skip
    gateway.account(call, usage)
    return call.cost


async def open_stream(gateway: Any, caller: Caller, body: dict[str, Any], attributes: dict[str, Any]) -> tuple[Any, float]:
    """The gateway's streamed answer and when it was asked; a refusal (budget, rate limit, guardrail,
    unknown model) raises before any token, as it answers the API."""
    started = time.perf_counter()
    asked = {**body, "stream": True, "stream_options": {"include_usage": True}}
    return await gateway.chat(caller, asked, {}, attributes), started


async def relay(gateway: Any, project: Any, caller: Caller, response: Any, started: float) -> AsyncIterator[dict[str, Any]]:
    """``{"delta": text}`` as tokens arrive, then ``{"done": figures}``, or ``{"error": message}``."""
    outcome = Outcome(model="")
    if response.headers.get("content-type", "").startswith("application/json"):  # answered whole (a guardrail's fallback)
        result = orjson.loads(response.body)
        yield {"delta": _message_text(((result.get("choices") or [{}])[0]).get("message"))}
        usage = result.get("usage") or {}
    else:
        usage = {}
        async for event in _events(response):
            if isinstance(event.get("error"), dict):
                yield {"error": str(event["error"].get("message") or "The model call failed.")}
                return
            for choice in event.get("choices") or []:
                text = (choice.get("delta") or {}).get("content")
                if text:
                    yield {"delta": text}
            usage = event.get("usage") or usage
    outcome.latency_ms = (time.perf_counter() - started) * 1000
    outcome.input_tokens, outcome.output_tokens = usage.get("prompt_tokens"), usage.get("completion_tokens")
    outcome.cost = _cost(gateway, project, caller, response.headers, usage)
    outcome.trace_id = response.headers.get("x-stackwright-trace-id")
    yield {"done": outcome.figures()}
