"""The ``openai`` provider: any OpenAI-compatible server (OpenAI, vLLM, Ollama, llama.cpp server,
Together, LM Studio...). Requests pass through untouched apart from ``model`` (set by the router) and
the streaming flags; responses are returned as the upstream sent them.

``base_url`` is the API root including its version path, as in the ``openai`` SDK
(default ``https://api.openai.com/v1``). Deployment options: ``stream_usage`` (default true) asks
for usage in the last stream chunk with ``stream_options.include_usage``; turn it off for servers
that reject ``stream_options``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import orjson

from stackwright.gateway.providers.base import (
    CONTEXT_LENGTH,
    SERVER,
    STREAM_CUT,
    Deployment,
    ProviderError,
)
from stackwright.gateway.providers.http import (
    ClientPool,
    display_url,
    is_context_length,
    malformed,
    post_json,
    status_kind,
    stream_events,
    upstream_message,
)

DEFAULT_BASE_URL = "https://api.openai.com/v1"


class OpenAIProvider:
    """Chat completions (streamed or not) and embeddings over one shared keep-alive pool."""

    name = "openai"

    def __init__(self) -> None:
        self._pool = ClientPool()

    async def chat(self, deployment: Deployment, body: dict[str, Any]) -> dict[str, Any]:
        if "stream" in body or "stream_options" in body:
            body = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
        url, where = _endpoint(deployment, "/chat/completions")
        data = await post_json(self._pool, deployment, url, where, _headers(deployment), body)
        if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
            raise malformed(where, "a chat completion without 'choices'", data)
        return data

    async def chat_stream(self, deployment: Deployment, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """Upstream chunks as they come. Leading chunks without content (the role announcement) are held
        back until content arrives, so a failure before the first token is still a retryable error of
        its own kind; once a chunk has been yielded every failure is STREAM_CUT."""
        body = {**body, "stream": True}
        if deployment.options.get("stream_usage", True):
            body["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
        url, where = _endpoint(deployment, "/chat/completions")
        held: list[dict[str, Any]] = []
        sent = 0
        try:
            async with aclosing(
                stream_events(self._pool, deployment, url, where, _headers(deployment), body)
            ) as events:
                async for _event, data in events:
                    if data == b"[DONE]":
                        for chunk in held:
                            yield chunk
                        return
                    chunk = _parse_chunk(data, where)
                    if not sent and _is_preamble(chunk):
                        held.append(chunk)
                        continue
                    for early in held:
                        yield early
                    held.clear()
                    sent += 1
                    yield chunk
        except ProviderError as exc:
            if sent and exc.kind != STREAM_CUT:
                raise ProviderError(STREAM_CUT, exc.message, status=exc.status) from None
            raise
        raise ProviderError(STREAM_CUT, f"upstream {where} ended the stream after {sent} chunk(s) without [DONE].")

    async def embed(self, deployment: Deployment, body: dict[str, Any]) -> dict[str, Any]:
        url, where = _endpoint(deployment, "/embeddings")
        data = await post_json(self._pool, deployment, url, where, _headers(deployment), body)
        if not isinstance(data, dict) or not isinstance(data.get("data"), list):
            raise malformed(where, "an embeddings response without 'data'", data)
        return data

    async def aclose(self) -> None:
        await self._pool.aclose()


def _endpoint(deployment: Deployment, path: str) -> tuple[str, str]:
    base = (deployment.base_url or DEFAULT_BASE_URL).rstrip("/")
    return base + path, display_url(base)


def _headers(deployment: Deployment) -> dict[str, str]:
    headers = {"content-type": "application/json"}
    if deployment.api_key:
        headers["authorization"] = f"Bearer {deployment.api_key}"
    if deployment.headers:
        headers.update(deployment.headers)
    return headers


def _parse_chunk(data: bytes, where: str) -> dict[str, Any]:
    try:
        chunk = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise malformed(where, "a stream event that is not JSON", data) from None
    if not isinstance(chunk, dict):
        raise malformed(where, "a stream event that is not an object", data)
    if "error" in chunk:
        raise _stream_error(chunk, data, where)
    return chunk


def _stream_error(chunk: dict[str, Any], data: bytes, where: str) -> ProviderError:
    """An ``{"error": ...}`` event inside the stream (vLLM, OpenAI and others send these)."""
    message, code = upstream_message(data)
    error = chunk["error"] if isinstance(chunk["error"], dict) else {}
    status = error.get("code") if isinstance(error.get("code"), int) else None
    if status is None:
        kind = CONTEXT_LENGTH if is_context_length(message, code) else SERVER
    else:
        kind = status_kind(status, message, code)
    return ProviderError(kind, f"upstream {where} sent an error in the stream: {message}", status=status)


def _is_preamble(chunk: dict[str, Any]) -> bool:
    """True for a chunk that carries no content yet (typically ``{"role": "assistant", "content": ""}``)."""
    choices = chunk.get("choices")
    if not choices or chunk.get("usage"):
        return False
    for choice in choices:
        delta = choice.get("delta") or {}
        if choice.get("finish_reason") or delta.get("content") or delta.get("tool_calls") or delta.get("refusal"):
            return False
        if delta.get("reasoning_content") or delta.get("function_call"):
            return False
    return True
