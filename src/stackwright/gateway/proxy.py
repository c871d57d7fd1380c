"""The gateway's request path: key -> project -> limits -> cache -> router -> response, then cost,
limits settled, cache filled and the call traced in the background."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import orjson
from starlette.responses import Response, StreamingResponse

from stackwright.auth.actors import Caller
from stackwright.core.config import Settings
from stackwright.core.db import Database
from stackwright.core.errors import Forbidden, StackwrightError
from stackwright.gateway import routes, stored_prompts
from stackwright.gateway.cache import ResponseCache, cache_key, chunks_from_completion, completion_from_chunks, wanted
from stackwright.gateway.catalog import Catalog
from stackwright.gateway.hooks import gateway_hooks
from stackwright.gateway.providers.base import ProviderError
from stackwright.gateway.requests import check_chat, check_embeddings, request_tags
from stackwright.gateway.router import Attempt, GatewayFailure, Health, Providers, Router
from stackwright.gateway.spans import CallRecord, GatewayTracer, trace_context

log = logging.getLogger("stackwright.gateway")
SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
_MAX_KEYS_CACHED = 10_000
NOT_PARAMS = frozenset(("model", "messages", "stream", "stream_options", "user", "metadata", "variables"))  # recorded elsewhere


class Gateway:
    """One per app (``app.state.gateway``)."""

    def __init__(self, settings: Settings, db: Database, span_writer: Any, pricers: Any, metrics: Any, limits: Any):
        self.settings = settings
        self.db = db
        self.pricers = pricers
        self.metrics = metrics
        self.limits = limits
        self.catalog = Catalog(db, settings)
        self.providers = Providers()
        self.router = Router(self.providers, Health())
        self.cache = ResponseCache(db, settings.gateway_cache_memory_entries)
        self.tracer = GatewayTracer(span_writer, pricers, settings.max_attribute_chars)
        self._keys: dict[str, tuple[float, Caller]] = {}
        self._shadows: set[asyncio.Task] = set()
        self.hooks = gateway_hooks()
        self.guard = self.hooks.call_guard(db, settings) if self.hooks.call_guard else None  # the guardrails layer's

    async def aclose(self) -> None:
        if self._shadows:
            await asyncio.gather(*list(self._shadows), return_exceptions=True)
        await self.tracer.drain()
        await self.cache.drain()
        await self.providers.aclose()

    # -- authentication ---------------------------------------------------------------------------

    async def authenticate(self, request: Any, scope: str = "write") -> Caller:
        """The key's actor; checked keys are trusted for ``gateway_key_cache_s`` (revocation takes that long)."""
        header = request.headers.get("authorization") or ""
        digest = hashlib.sha256(header.encode()).hexdigest()
        cached = self._keys.get(digest)
        if cached is not None and cached[0] > time.monotonic():
            actor = cached[1]
        else:
            from stackwright.auth.deps import get_caller

            actor = await asyncio.to_thread(get_caller, request)
            if len(self._keys) >= _MAX_KEYS_CACHED:
                self._keys.clear()
            self._keys[digest] = (time.monotonic() + self.settings.gateway_key_cache_s, actor)
        request.state.project_id = actor.project_id
        if not actor.has_scope(scope):
            raise Forbidden(f"Model calls need a key with the {scope!r} scope; this key has {', '.join(actor.scopes)}.",
                            hint=f"Create one with `stackwright keys create --scope {scope}`.")  # fmt: skip
        return actor

    # -- chat -------------------------------------------------------------------------------------

    async def chat(self, actor: Caller, body: dict[str, Any], headers: Any, attributes: dict[str, Any] | None = None) -> Response:
        if not actor.has_scope("write"):  # keys are checked in authenticate; this holds for in-process callers (web pages)
            raise Forbidden(f"Model calls need the 'write' scope (a member of the project or above); you have {', '.join(actor.scopes) or 'none'}.",
                            hint="Ask an admin of the project for the member role.")  # fmt: skip
        prompt_attributes: dict[str, Any] = {}
        if isinstance(body, dict) and routes.is_route_ref(body.get("model")):
            return await self._chat_route(actor, body, headers)
        if isinstance(body, dict) and stored_prompts.is_prompt_ref(body.get("model")):
            body, prompt_attributes = await stored_prompts.expand(self.db, actor.project_id, body)
        check_chat(body)
        project = await self.catalog.get(actor.project_id)
        asked = body["model"]
        project.model(asked)  # unknown model -> 404 before anything is counted
        call = self._new_call(actor, "chat", asked, body, headers)
        call.extra = {**prompt_attributes, **(attributes or {})}
        call.stream = bool(body.get("stream"))
        guard = await self.guard.before(self, actor, call, body, headers, project) if self.guard else None
        if guard is not None:
            body, call.stream = guard.body, bool(guard.body.get("stream"))
            if guard.fallback is not None:
                return await guard.fallback_response()
        ticket = await self._admit(actor, asked)
        served = project.models[asked]
        use_cache = wanted(served.cache or project.cache, body, headers) and not (guard and guard.buffers)
        key = cache_key(asked, body) if use_cache else None
        if key is not None:
            cached = await self.cache.get(actor.project_id, key)
            if cached is not None:
                return await self._from_cache(call, ticket, cached, body)
            call.cache = "miss"
        upstream = _upstream_body(body)
        try:
            if call.stream:
                (first, stream), model, deployment = await self.router.call(
                    project, asked, "stream", upstream, call.attempts, tags=call_tags(call), metadata=metadata_of(body)
                )
            else:
                result, model, deployment = await self.router.call(
                    project, asked, "chat", upstream, call.attempts, tags=call_tags(call), metadata=metadata_of(body)
                )
        except StackwrightError as exc:
            await self.fail(call, ticket, exc)
            raise
        call.served_model, call.deployment, call.provider = model.name, deployment.id, deployment.provider
        call.upstream_model = deployment.model
        if call.stream:
            call.ttft_ms = (time.time_ns() - call.start_ns) / 1e6
            return StreamingResponse(self._relay(call, ticket, key, first, stream, body), media_type="text/event-stream",
                                     headers={**SSE_HEADERS, **self.response_headers(call, with_cost=False)})  # fmt: skip
        if guard is not None:
            result = await guard.after(result, upstream, ticket)
        self.account(call, result.get("usage"))
        call.output = _first_message(result)
        await self.finish(call, ticket)
        if key is not None:
            self.cache.put(actor.project_id, key, result, (served.cache or project.cache).ttl_s)
        if guard is not None and guard.streamed:
            return guard.respond_stream(result, self.response_headers(call))
        return Response(orjson.dumps(result), media_type="application/json", headers=self.response_headers(call))

    async def _chat_route(self, actor: Caller, body: dict[str, Any], headers: Any, attributes: dict | None = None) -> Response:
        """A release route: the resolved arm answers; a shadow candidate runs in the background."""
        resolved = await routes.resolve(self.db, actor.project_id, body, headers)
        response = await self.chat(actor, routes.request_for(resolved["config"], body), headers, resolved["span_attributes"])
        if resolved.get("shadow"):
            shadow = {**routes.request_for(resolved["shadow"], body), "stream": False}
            shadow.pop("stream_options", None)
            task = asyncio.get_running_loop().create_task(self._shadow(actor, shadow, resolved.get("shadow_span_attributes") or {}))
            self._shadows.add(task)
            task.add_done_callback(self._shadows.discard)
        return response

    async def _shadow(self, actor: Caller, body: dict[str, Any], attributes: dict[str, Any]) -> None:
        try:
            await self.chat(actor, body, {"x-stackwright-cache": "off"}, attributes)
        except Exception as exc:  # a shadow's failure is traced by chat itself and never reaches the caller
            log.info("shadow run failed: %s", exc)

    async def _relay(self, call: CallRecord, ticket: Any, key: str | None, first: dict, stream: AsyncIterator[dict],
                     body: dict[str, Any]) -> AsyncIterator[bytes]:  # fmt: skip
        wants_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        chunks: list[dict[str, Any]] = []
        complete = settled = False
        try:
            chunk: dict[str, Any] | None = first
            while chunk is not None:
                chunks.append(chunk)
                if wants_usage or not (chunk.get("usage") and not chunk.get("choices")):
                    if not wants_usage and chunk.get("usage"):
                        chunk = {k: v for k, v in chunk.items() if k != "usage"}
                    yield b"data: " + orjson.dumps(chunk) + b"\n\n"
                chunk = await anext(stream, None)
            complete = settled = True  # settle before [DONE]: a client's next request must see this one's spend
            await self._after_stream(call, ticket, key, chunks, stream, complete)
            yield b"data: [DONE]\n\n"
        except ProviderError as exc:
            call.error, call.error_code = f"{exc.kind}: {exc.message}", f"upstream_{exc.kind}"
            call.attempts[-1].finish(exc) if call.attempts else None
            settled = True
            await self._after_stream(call, ticket, key, chunks, stream, complete)
            error = {"message": f"The upstream stream failed: {exc.message}", "type": "api_error", "code": call.error_code}
            yield b"data: " + orjson.dumps({"error": error}) + b"\n\n"
        finally:
            if not settled:
                with anyio.CancelScope(shield=True):  # a client that hangs up must not skip accounting
                    await self._after_stream(call, ticket, key, chunks, stream, complete)

    async def _after_stream(self, call: CallRecord, ticket: Any, key: str | None, chunks: list[dict[str, Any]],
                            stream: AsyncIterator[dict], complete: bool) -> None:  # fmt: skip
        closer = getattr(stream, "aclose", None)
        if closer is not None:
            try:
                await closer()
            except Exception:  # the upstream connection is gone either way
                pass
        completion = completion_from_chunks(chunks)
        self.account(call, (completion or {}).get("usage"))
        call.output = _first_message(completion or {})
        if call.error is None and not complete:
            call.error, call.error_code = "the client disconnected before the stream ended", "client_disconnected"
        await self.finish(call, ticket)
        if complete and key is not None and completion is not None:
            project = await self.catalog.get(call.project_id)
            served = project.models.get(call.asked_model)
            ttl = ((served.cache if served else None) or project.cache).ttl_s
            self.cache.put(call.project_id, key, completion, ttl)

    async def _from_cache(self, call: CallRecord, ticket: Any, cached: dict[str, Any], body: dict[str, Any]) -> Response:
        call.cache = "hit"
        call.cost = 0.0
        usage = cached.get("usage") or {}
        call.input_tokens, call.output_tokens = usage.get("prompt_tokens"), usage.get("completion_tokens")
        call.output = _first_message(cached)
        call.served_model = call.asked_model
        await self.finish(call, ticket)
        headers = self.response_headers(call)
        if not call.stream:
            return Response(orjson.dumps(cached), media_type="application/json", headers=headers)
        wants_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        payload = b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks_from_completion(cached, wants_usage))
        return Response(payload + b"data: [DONE]\n\n", media_type="text/event-stream", headers={**SSE_HEADERS, **headers})

    # -- embeddings -------------------------------------------------------------------------------

    async def embeddings(self, actor: Caller, body: dict[str, Any], headers: Any) -> Response:
        check_embeddings(body)
        project = await self.catalog.get(actor.project_id)
        asked = body["model"]
        project.model(asked)
        call = self._new_call(actor, "embeddings", asked, body, headers)
        ticket = await self._admit(actor, asked)
        try:
            result, model, deployment = await self.router.call(
                project, asked, "embed", _upstream_body(body), call.attempts, tags=call_tags(call), metadata=metadata_of(body)
            )
        except StackwrightError as exc:
            await self.fail(call, ticket, exc)
            raise
        call.served_model, call.deployment, call.provider = model.name, deployment.id, deployment.provider
        call.upstream_model = deployment.model
        usage = result.get("usage") or {}
        self.account(call, {"prompt_tokens": usage.get("prompt_tokens"), "completion_tokens": 0})
        await self.finish(call, ticket)
        return Response(orjson.dumps(result), media_type="application/json", headers=self.response_headers(call))

    # -- shared steps -----------------------------------------------------------------------------

    def _new_call(self, actor: Caller, operation: str, asked: str, body: dict[str, Any], headers: Any) -> CallRecord:
        trace_id, parent = trace_context(headers.get("traceparent"))
        return CallRecord(
            project_id=actor.project_id, operation=operation, asked_model=asked, trace_id=trace_id, parent_span_id=parent,
            start_ns=time.time_ns(), input=body.get("messages") if operation == "chat" else body.get("input"),
            params={k: v for k, v in body.items() if k not in NOT_PARAMS} if operation == "chat" else None,
            user_id=body.get("user") if isinstance(body.get("user"), str) else None,
            session_id=headers.get("x-stackwright-session-id"), key_id=actor.key_id, tags=request_tags(body, headers),
        )  # fmt: skip

    async def _admit(self, actor: Caller, model: str) -> Any:
        if self.limits is None:
            return None
        return await self.limits.admit(actor.project_id, actor.key_id, model)

    def account(self, call: CallRecord, usage: dict[str, Any] | None) -> None:
        usage = usage or {}
        call.input_tokens = _int(usage.get("prompt_tokens"))
        call.output_tokens = _int(usage.get("completion_tokens"))
        if call.provider == "local":  # free, unless the project prices its local compute (a price override)
            pricer = self.pricers.get(call.project_id)
            priced = next((m for m in (call.served_model, call.upstream_model) if m and m in pricer.overrides), None)
            call.cost = pricer(priced, None, call.input_tokens, call.output_tokens) if priced else 0.0
        elif call.upstream_model and (call.input_tokens or call.output_tokens):
            call.cost = self.pricers.get(call.project_id)(call.upstream_model, call.provider, call.input_tokens, call.output_tokens)

    async def fail(self, call: CallRecord, ticket: Any, exc: StackwrightError) -> None:
        call.error, call.error_code = exc.message, exc.code
        await self.finish(call, ticket)

    async def finish(self, call: CallRecord, ticket: Any) -> None:
        call.end_ns = time.time_ns()
        if ticket is not None:
            tokens = (call.input_tokens or 0) + (call.output_tokens or 0)
            await self.limits.settle(ticket, call.cost or 0.0, tokens)
        self.tracer.record(call)
        if self.metrics is not None:
            self.metrics.observe_gateway(call)

    @staticmethod
    def response_headers(call: CallRecord, with_cost: bool = True) -> dict[str, str]:
        headers = {
            "x-stackwright-trace-id": call.trace_id,
            "x-stackwright-cache": call.cache,
            "x-stackwright-attempts": str(len(call.attempts)),
        }
        if call.served_model:
            headers["x-stackwright-model"] = call.served_model
        if call.deployment:
            headers["x-stackwright-deployment"] = call.deployment
        if with_cost and call.cost is not None:
            headers["x-stackwright-cost-usd"] = f"{call.cost:.8f}"
        return headers


def call_tags(call: CallRecord) -> frozenset[str]:
    return frozenset(call.tags)


def metadata_of(body: dict[str, Any]) -> dict[str, Any]:
    metadata = body.get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def _upstream_body(body: dict[str, Any]) -> dict[str, Any]:
    """What is sent upstream: the client's body minus the gateway's own fields."""
    if "metadata" in body and not body.get("store"):
        return {k: v for k, v in body.items() if k != "metadata"}
    return body


def _first_message(completion: dict[str, Any]) -> Any:
    choices = completion.get("choices") or []
    if not choices:
        return None
    message = choices[0].get("message") or {}
    return message.get("content") if not message.get("tool_calls") else message


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


__all__ = ["Attempt", "Gateway", "GatewayFailure"]
