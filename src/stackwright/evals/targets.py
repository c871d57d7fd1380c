"""What an eval runs for each case: a stored prompt, a release route or a plain model (all through the
gateway in this process, the same path as POST /v1/chat/completions, so every case is traced), an HTTP
endpoint (POST the input as JSON, read JSON back) or a Python function (sync or async, ``fn(input)``).
"""

from __future__ import annotations

import asyncio
import inspect
import os
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from stackwright.core.egress import EgressPolicy
from stackwright.core.errors import InvalidInput, StackwrightError
from stackwright.evals.trust import CodePolicy

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class TargetError(Exception):
    """A case failed; ``transient`` ones (5xx, 429, timeouts, dropped connections) are retried."""

    def __init__(self, message: str, *, transient: bool):
        super().__init__(message)
        self.message = message
        self.transient = transient


@dataclass
class TargetResult:
    output: Any
    trace_id: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def is_transient(exc: BaseException) -> bool:
    import httpx

    if isinstance(exc, TargetError):
        return exc.transient
    if isinstance(exc, StackwrightError):
        return exc.status >= 500 or exc.status == 429
    return isinstance(exc, (TimeoutError, asyncio.TimeoutError, httpx.TransportError, ConnectionError))


class GatewayCaller:
    """Chat calls through the app's gateway object, as the project's eval actor."""

    def __init__(self, gateway: Any, project_id: str, label: str = "eval"):
        from stackwright.auth.actors import Caller

        self.gateway = gateway
        self.actor = Caller(label=label[:200], project_id=project_id, scopes=("write",))

    async def chat(self, body: dict[str, Any], trace_id: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        headers = {"x-stackwright-cache": "off"}
        if trace_id:
            headers["traceparent"] = f"00-{trace_id}-{os.urandom(8).hex()}-01"
        response = await self.gateway.chat(self.actor, body, headers)
        result = orjson.loads(response.body)
        cost = response.headers.get("x-stackwright-cost-usd")
        return result, {"trace_id": response.headers.get("x-stackwright-trace-id"), "cost": float(cost) if cost else None}


def _messages(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict) and isinstance(value.get("messages"), list):
        return value["messages"]
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if isinstance(value, dict) and len(value) == 1 and isinstance(next(iter(value.values())), str):
        return [{"role": "user", "content": next(iter(value.values()))}]
    return [{"role": "user", "content": orjson.dumps(value).decode()}]


def with_case(messages: list[dict[str, Any]], case_input: Any) -> list[dict[str, Any]]:
    """A spec's own messages for one case: ``{{ field }}`` in their text is filled from the case input's
    fields (``{{ input }}`` is the whole input); if none names a field, the input follows as the user's message."""
    fields = {**(case_input if isinstance(case_input, dict) else {}), "input": case_input}
    used = False

    def fill(match: re.Match[str]) -> str:
        nonlocal used
        if match.group(1) not in fields:
            return match.group(0)
        used = True
        value = fields[match.group(1)]
        return value if isinstance(value, str) else orjson.dumps(value).decode()

    out = [{**m, "content": PLACEHOLDER.sub(fill, m["content"])} if isinstance(m.get("content"), str) else dict(m) for m in messages]
    return out if used else out + _messages(case_input)


class GatewayTarget:
    """prompt: name@label (variables = the case input), route: ROUTE@ENV, or a model for plain chat."""

    def __init__(self, spec_target: Any, caller: GatewayCaller | None):
        if caller is None:
            raise InvalidInput("This target calls the gateway, and no gateway is available here.")
        self.target = spec_target
        self.caller = caller

    def body(self, case_input: Any, item_id: str, seed: int) -> dict[str, Any]:
        t = self.target
        body: dict[str, Any] = {**t.params}
        if t.prompt or t.route:
            if not isinstance(case_input, dict):
                raise TargetError(f"{t.kind} targets need each case's input to be an object of template variables", transient=False)
            variables = {k: v for k, v in case_input.items() if k != "messages"}
            body.update(model=f"prompt:{t.prompt}" if t.prompt else f"route:{t.route}", variables=variables)
            if t.prompt and t.model:
                body["_route_model"] = t.model  # the spec's model wins over the prompt's, as a release's would
            if t.route:
                body["user"] = item_id  # sticky arm per case
            if isinstance(case_input.get("messages"), list):
                body["messages"] = case_input["messages"]
        else:
            body.update(model=t.model, messages=with_case(t.messages, case_input) if t.messages else _messages(case_input))
        body.setdefault("seed", seed)
        return body

    async def __call__(self, case_input: Any, item_id: str, seed: int) -> TargetResult:
        try:
            result, meta = await self.caller.chat(self.body(case_input, item_id, seed))
        except StackwrightError as exc:
            raise TargetError(exc.message, transient=is_transient(exc)) from None
        message = (result.get("choices") or [{}])[0].get("message") or {}
        output = message.get("content") if not message.get("tool_calls") else message
        usage = result.get("usage") or {}
        return TargetResult(output, meta["trace_id"], usage.get("prompt_tokens"), usage.get("completion_tokens"), meta["cost"])


class HttpTarget:
    """POST each case's input as JSON. ``egress``: the policy its connections obey (None for a spec the
    operator runs from a file); an error answer is summarised (status and the JSON error message), not echoed."""

    def __init__(self, spec_target: Any, timeout_s: float, egress: EgressPolicy | None = None):
        from stackwright.core.egress_http import async_client

        self.url = spec_target.http
        self.client = async_client(egress, timeout=timeout_s, headers=spec_target.headers)

    async def __call__(self, case_input: Any, item_id: str, seed: int) -> TargetResult:
        from stackwright.gateway.providers.http import display_url, upstream_message

        trace_id = os.urandom(16).hex()
        headers = {"traceparent": f"00-{trace_id}-{os.urandom(8).hex()}-01", "x-stackwright-eval-item": item_id}
        response = await self.client.post(self.url, content=orjson.dumps(case_input), headers={**headers, "content-type": "application/json"})
        if response.status_code >= 400:
            message, _ = upstream_message(response.content)
            raise TargetError(f"{display_url(self.url)} answered {response.status_code}: {message}",
                              transient=response.status_code >= 500 or response.status_code == 429)  # fmt: skip
        try:
            data = response.json()
        except ValueError:
            return TargetResult(response.text, trace_id)
        if isinstance(data, dict) and "output" in data:
            extra = {k: v for k, v in data.items() if k != "output"}
            return TargetResult(data["output"], trace_id, cost=_float(data.get("cost")), extra=extra)
        return TargetResult(data, trace_id)

    async def aclose(self) -> None:
        await self.client.aclose()


class PythonTarget:
    def __init__(self, spec_target: Any, policy: CodePolicy):
        self.fn = policy.load(spec_target.python, "target.python")

    async def __call__(self, case_input: Any, item_id: str, seed: int) -> TargetResult:
        if inspect.iscoroutinefunction(self.fn):
            value = await self.fn(case_input)
        else:
            value = await asyncio.to_thread(self.fn, case_input)
            if inspect.isawaitable(value):
                value = await value
        if isinstance(value, dict) and "output" in value:
            return TargetResult(value["output"], value.get("trace_id"), cost=_float(value.get("cost")),
                                extra={k: v for k, v in value.items() if k not in ("output", "trace_id")})  # fmt: skip
        return TargetResult(value)


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def http_egress(spec: Any, caller: GatewayCaller | None) -> EgressPolicy | None:
    """An operator's spec (a file the CLI runs) may reach any address; any other spec (API, jobs) obeys the
    server's egress policy (STACKWRIGHT_EGRESS_ALLOW)."""
    if spec.policy.is_operator:
        return None
    settings = getattr(getattr(caller, "gateway", None), "settings", None)
    return EgressPolicy.from_settings(settings) if settings is not None else EgressPolicy()


def make_target(spec: Any, caller: GatewayCaller | None) -> Any:
    """The target callable of a spec; a SpecError (file and line) if it cannot be set up."""
    t = spec.target
    if t.http:
        return HttpTarget(t, spec.timeout_s, http_egress(spec, caller))
    if t.python:
        try:
            return PythonTarget(t, spec.policy)
        except ValueError as exc:
            raise spec.error(("target", "python"), str(exc)) from None
    return GatewayTarget(t, caller)
