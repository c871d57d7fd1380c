"""The gateway's guardrails: which policy a request gets, input checks before the provider call, output
checks after it, and the decisions as spans in the request's trace.

A request's policy is the one whose ``route`` is the request's route (the ``X-Stackwright-Route`` header,
or the release route a ``route:`` model resolves), else the one naming the asked model, else ``*``. The
policies of a project are cached in process and re-read at most every ``gateway_config_refresh_s``
(at once after a change through this process): no database query per request.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from stackwright.core.errors import StackwrightError
from stackwright.guardrails.checks import Context
from stackwright.guardrails.engine import (
    Decision,
    GuardrailBlocked,
    Outcome,
    run_input,
    run_output,
)
from stackwright.guardrails.policy import Policy


class PolicyCache:
    """Per app: project id -> its policies, refreshed on a short timer."""

    def __init__(self, db: Any, settings: Any):
        self.db = db
        self.refresh_s = settings.gateway_config_refresh_s
        self._projects: dict[str, tuple[float, list[Policy]]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, project_id: str) -> list[Policy]:
        cached = self._projects.get(project_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        async with self._locks.setdefault(project_id, asyncio.Lock()):
            cached = self._projects.get(project_id)
            if cached is not None and cached[0] > time.monotonic():
                return cached[1]
            policies = await asyncio.to_thread(self._load, project_id)
            self._projects[project_id] = (time.monotonic() + self.refresh_s, policies)
            return policies

    def _load(self, project_id: str) -> list[Policy]:
        from stackwright.guardrails.service import load_policies

        with self.db.read() as session:
            return load_policies(session, project_id)

    def forget(self, project_id: str) -> None:
        self._projects.pop(project_id, None)

    async def choose(self, project_id: str, route: str | None, model: str) -> Policy | None:
        policies = await self.get(project_id)
        if not policies:
            return None
        by_route = {p.route: p for p in policies}
        for key in (route, model, "*"):
            if key and key in by_route:
                return by_route[key]
        return None


def guardrail_span(call: Any, decision: Decision) -> dict[str, Any]:
    from stackwright.gateway.spans import new_span_id, span_record

    attrs = {
        "openinference.span.kind": "GUARDRAIL",
        "stackwright.span.kind": "guardrail",
        "guardrail.check": decision.check,
        "guardrail.action": decision.action,
        "guardrail.direction": decision.direction,
        "guardrail.triggered": decision.triggered,
        "guardrail.score": decision.score,
        "guardrail.reasons": orjson.dumps(decision.reasons).decode(),
        "guardrail.latency_ms": decision.latency_ms,
    }
    if decision.findings:
        attrs["guardrail.findings"] = orjson.dumps(decision.findings[:50]).decode()
    if decision.action == "reask":
        attrs["guardrail.reasks"] = decision.reasks
    return span_record(call.trace_id, new_span_id(), call.span_id, f"guardrail {decision.direction} {decision.check}",
                 decision.start_ns, decision.end_ns, attrs, None)  # fmt: skip


def completion(model: str, text: str) -> dict[str, Any]:
    return {"id": "chatcmpl-guardrail", "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}}  # fmt: skip


def _answer(result: dict[str, Any]) -> str | None:
    choices = result.get("choices") or []
    message = (choices[0].get("message") or {}) if choices else {}
    content = message.get("content")
    return content if isinstance(content, str) and not message.get("tool_calls") else None


@dataclass
class Guard:
    """One request's policy run: made by ``before``, finished by ``after``."""

    gateway: Any
    call: Any
    policy: Policy
    project: Any
    body: dict[str, Any]
    ctx: Context
    fallback: dict[str, Any] | None = None  # an input fallback: the answer, no model call
    streamed: bool = False  # the client asked to stream; the answer is sent as SSE after the output checks
    wants_usage: bool = False
    judge_attempts: list[Any] = field(default_factory=list)

    @property
    def buffers(self) -> bool:
        """Output checks need the whole answer: a streamed request is answered after them."""
        return bool(self.policy.output)

    def record(self, outcome: Outcome) -> None:
        self.call.children.extend(guardrail_span(self.call, d) for d in outcome.decisions)
        self.call.extra["stackwright.guardrails.policy"] = self.policy.name
        flagged = [d.check for d in outcome.decisions if d.triggered]
        if flagged:
            self.call.extra["stackwright.guardrails.triggered"] = ",".join(flagged)

    async def llm(self, model: str, messages: list[dict[str, Any]]) -> str:
        project = self.project
        project.model(model)
        body = {"model": model, "messages": messages, "temperature": 0}
        result, _, _ = await self.gateway.router.call(project, model, "chat", body, self.judge_attempts)
        return _answer(result) or ""

    async def reask(self, messages: list[dict[str, Any]], upstream: dict[str, Any], usage: dict[str, int]) -> Any:
        from stackwright.gateway.proxy import call_tags, metadata_of

        async def ask(previous: str, feedback: str) -> str:
            messages.extend([{"role": "assistant", "content": previous}, {"role": "user", "content": feedback}])
            body = {**upstream, "messages": list(messages), "stream": False}
            body.pop("stream_options", None)
            result, _, _ = await self.gateway.router.call(self.project, self.call.asked_model, "chat", body, self.call.attempts,
                                                          tags=call_tags(self.call), metadata=metadata_of(self.body))  # fmt: skip
            for key, value in (result.get("usage") or {}).items():
                if isinstance(value, int):
                    usage[key] = usage.get(key, 0) + value
            return _answer(result) or ""

        return ask

    async def after(self, result: dict[str, Any], upstream: dict[str, Any], ticket: Any) -> dict[str, Any]:
        """Output checks on a non-streamed completion; the result with the final answer (reasks counted in usage)."""
        text = _answer(result)
        if not self.policy.output or text is None:
            return result
        messages = list(upstream.get("messages") or [])
        usage = dict(result.get("usage") or {})
        ask = await self.reask(messages, upstream, usage)
        self.ctx.context = _context_of(self.body.get("messages") or [])
        try:
            outcome = await run_output(self.policy.output, text, self.ctx, ask, self.body.get("messages"))
        except StackwrightError as exc:
            await self._failed(exc, result.get("usage"), ticket)
            raise
        self.record(outcome)
        if outcome.blocked is not None:
            await self._failed(outcome.block_error(), usage, ticket)
            raise outcome.block_error()
        result = dict(result)
        choice = dict(result["choices"][0])
        choice["message"] = {**choice["message"], "content": outcome.text}
        result["choices"] = [choice, *result["choices"][1:]]
        result["usage"] = usage or result.get("usage")
        return result

    async def _failed(self, exc: StackwrightError, usage: Any, ticket: Any) -> None:
        self.gateway.account(self.call, usage)
        await self.gateway.fail(self.call, ticket, exc)

    async def fallback_response(self) -> Any:
        """An input check answered with its fallback: no model call; traced like any call."""
        from starlette.responses import Response

        call, gateway = self.call, self.gateway
        call.output = _answer(self.fallback or {})
        await gateway.finish(call, None)
        if self.streamed:
            return self.respond_stream(self.fallback or {}, gateway.response_headers(call))
        return Response(orjson.dumps(self.fallback), media_type="application/json", headers=gateway.response_headers(call))

    def respond_stream(self, result: dict[str, Any], headers: dict[str, str]) -> Any:
        """A checked completion sent as SSE chunks, for a request that asked to stream."""
        from starlette.responses import Response

        from stackwright.gateway.cache import chunks_from_completion
        from stackwright.gateway.proxy import SSE_HEADERS

        chunks = chunks_from_completion(result, self.wants_usage)
        payload = b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks)
        return Response(payload + b"data: [DONE]\n\n", media_type="text/event-stream", headers={**SSE_HEADERS, **headers})


def _context_of(messages: list[dict[str, Any]]) -> str:
    """What the answer may be grounded in: the system and user messages' text."""
    parts = []
    for message in messages:
        if message.get("role") in ("system", "developer", "user", "tool") and isinstance(message.get("content"), str):
            parts.append(message["content"])
    return "\n".join(parts)


class CallGuard:
    """The gateway's guard, one per gateway (installed as a gateway hook): this app's policies, and the
    input checks that open each call's ``Guard``."""

    def __init__(self, db: Any, settings: Any):
        self.policies = PolicyCache(db, settings)

    def forget(self, project_id: str) -> None:
        """A policy changed through this process: re-read the project's policies on its next call."""
        self.policies.forget(project_id)

    async def before(self, gateway: Any, actor: Any, call: Any, body: dict[str, Any], headers: Any, project: Any) -> Guard | None:
        return await before(gateway, self.policies, actor, call, body, headers, project)


async def before(gateway: Any, policies: PolicyCache, actor: Any, call: Any, body: dict[str, Any], headers: Any,
                 project: Any) -> Guard | None:  # fmt: skip
    """Input checks. Returns the Guard (``guard.body`` is the request to send on) or None when no policy
    applies; a blocked request is traced and raised as GuardrailBlocked (400, code guardrail_blocked)."""
    route = headers.get("x-stackwright-route") or call.extra.get("stackwright.route")
    policy = await policies.choose(actor.project_id, route, call.asked_model)
    if policy is None:
        return None
    guard = Guard(gateway, call, policy, project, body, Context())
    guard.ctx.llm = guard.llm
    if guard.buffers and body.get("stream"):
        guard.streamed = True
        guard.wants_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        guard.body = body = {k: v for k, v in body.items() if k != "stream_options"} | {"stream": False}
    if not policy.input:
        return guard
    try:
        outcome = await run_input(policy.input, body["messages"], guard.ctx)
    except StackwrightError as exc:
        await gateway.fail(call, None, exc)
        raise
    guard.record(outcome)
    if outcome.messages is not None:
        guard.body = {**guard.body, "messages": outcome.messages}
        call.input = [m for m in outcome.messages]  # the trace keeps the redacted text
    if outcome.blocked is not None:
        error = outcome.block_error()
        await gateway.fail(call, None, error)
        raise error
    if outcome.fallback:
        guard.fallback = completion(call.asked_model, outcome.text or "")
    return guard


__all__ = ["CallGuard", "Guard", "GuardrailBlocked", "PolicyCache"]
