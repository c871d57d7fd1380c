"""The ``anthropic`` provider: Anthropic's native Messages API, translated to and from OpenAI's chat
format, streaming included.

``base_url`` is the API host, default ``https://api.anthropic.com``; a trailing ``/v1`` is accepted too
(``https://api.anthropic.com/v1``), so both spellings reach ``/v1/messages``. Deployment options:
``api_version`` (the ``anthropic-version`` header, default 2023-06-01) and ``max_tokens`` (used when the
client sends none; Anthropic requires it; default 4096). Beta features go in ``headers``
(``anthropic-beta``). See ``anthropic_request`` for what is translated and what is dropped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import orjson

from stackwright.gateway.providers.anthropic_request import to_anthropic
from stackwright.gateway.providers.anthropic_response import (
    StreamTranslator,
    to_completion,
)
from stackwright.gateway.providers.base import (
    STREAM_CUT,
    UNSUPPORTED,
    Deployment,
    ProviderError,
)
from stackwright.gateway.providers.http import (
    ClientPool,
    display_url,
    malformed,
    post_json,
    stream_events,
)

DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"


class AnthropicProvider:
    """Chat completions (streamed or not) against the Messages API; no embeddings."""

    name = "anthropic"

    def __init__(self) -> None:
        self._pool = ClientPool()

    async def chat(self, deployment: Deployment, body: dict[str, Any]) -> dict[str, Any]:
        request = to_anthropic(deployment, body, stream=False)
        url, where = _endpoint(deployment)
        data = await post_json(self._pool, deployment, url, where, _headers(deployment), request)
        if not isinstance(data, dict) or not isinstance(data.get("content"), list):
            raise malformed(where, "a message without 'content'", data)
        return to_completion(data)

    async def chat_stream(self, deployment: Deployment, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """OpenAI chunks for the Anthropic event stream; the last one carries usage. Errors before any
        content keep their kind (an ``error`` event maps like the HTTP status would); after content
        has been yielded every failure is STREAM_CUT."""
        request = to_anthropic(deployment, body, stream=True)
        url, where = _endpoint(deployment)
        translator = StreamTranslator(where)
        try:
            async with aclosing(
                stream_events(self._pool, deployment, url, where, _headers(deployment), request)
            ) as events:
                async for event, data in events:
                    for chunk in translator.feed(event, _parse_event(data, where)):
                        yield chunk
                    if translator.finished:
                        return
        except ProviderError as exc:
            if translator.started and exc.kind != STREAM_CUT:
                raise ProviderError(STREAM_CUT, exc.message, status=exc.status) from None
            raise
        raise ProviderError(STREAM_CUT, f"upstream {where} ended the stream before message_stop.")

    async def embed(self, deployment: Deployment, body: dict[str, Any]) -> dict[str, Any]:
        raise ProviderError(
            UNSUPPORTED,
            f"{deployment.id} is an Anthropic model: Anthropic has no embeddings API. "
            "Route embeddings to an openai-compatible or local/wordllama deployment.",
        )

    async def aclose(self) -> None:
        await self._pool.aclose()


def _endpoint(deployment: Deployment) -> tuple[str, str]:
    base = (deployment.base_url or DEFAULT_BASE_URL).rstrip("/")
    base = base.removesuffix("/v1")
    return base + "/v1/messages", display_url(base)


def _headers(deployment: Deployment) -> dict[str, str]:
    headers = {
        "content-type": "application/json",
        "anthropic-version": deployment.options.get("api_version") or API_VERSION,
    }
    if deployment.api_key:
        headers["x-api-key"] = deployment.api_key
    if deployment.headers:
        headers.update(deployment.headers)
    return headers


def _parse_event(data: bytes, where: str) -> dict[str, Any]:
    try:
        event = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise malformed(where, "a stream event that is not JSON", data) from None
    if not isinstance(event, dict):
        raise malformed(where, "a stream event that is not an object", data)
    return event
