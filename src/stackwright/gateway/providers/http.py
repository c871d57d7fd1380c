"""HTTP plumbing shared by the network providers: one connection pool per provider, JSON posts, event
streams, and the mapping of transport faults and upstream statuses to ``ProviderError`` kinds.

Requests are ``httpx.Request`` objects sent straight to a transport: the lean keep-alive transport of
``transport`` normally, httpx's own client (which honours proxies) when proxy variables are set.
Skipping ``httpx.AsyncClient`` (cookies, auth, redirects, hooks) saves about 100 us of CPU per call.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import AsyncGenerator
from datetime import UTC
from typing import TYPE_CHECKING, Any

import orjson

from stackwright.gateway.providers.base import (
    AUTH,
    BAD_REQUEST,
    CONNECTION,
    CONTEXT_LENGTH,
    EGRESS_BLOCKED,
    MALFORMED,
    RATE_LIMITED,
    SERVER,
    STREAM_CUT,
    TIMEOUT,
    Deployment,
    ProviderError,
)
from stackwright.gateway.providers.sse import iter_sse

if TYPE_CHECKING:
    from stackwright.core.egress import EgressPolicy

MAX_CONNECTIONS = 1024  # httpx's own pool (used behind a proxy): across all upstreams of one provider
MAX_KEEPALIVE = 256  # idle connections kept warm (benchmarks run at concurrency 32-64)
KEEPALIVE_EXPIRY_S = 4.0  # below the common server keep-alive timeouts (uvicorn 5 s)
USER_AGENT = "stackwright-gateway"
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
_MESSAGE_CHARS = 200  # of an upstream's JSON error message; other bodies are not shown at all

_CONTEXT_CODES = {"context_length_exceeded", "exceed_context_size_error", "string_above_max_length"}
_CONTEXT_WORDS = re.compile(
    r"context[ _-]?(length|window|size)|prompt is too long|input is too long|too many input tokens"
    r"|`inputs` tokens \+ `max_new_tokens`",
    re.IGNORECASE,
)


class ClientPool:
    """The keep-alive connections of one provider, shared by all its deployments of the same egress policy;
    created lazily on the event loop that first sends (and again if a later call runs on another loop)."""

    def __init__(self) -> None:
        self._senders: dict[EgressPolicy | None, Any] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    async def send(self, request: Any, egress: EgressPolicy | None = None) -> Any:
        """Send ``request`` and return the streamed ``httpx.Response``; the caller closes it. Under an
        ``egress`` policy the connection goes only to checked addresses, never through a proxy."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._senders, self._loop = {}, loop  # connections belong to the loop that made them
        sender = self._senders.get(egress)
        if sender is None:
            sender = self._senders[egress] = _new_sender() if egress is None else _Direct(egress)
        return await sender.send(request)

    async def aclose(self) -> None:
        senders, self._senders, self._loop = self._senders, {}, None
        for sender in senders.values():
            await sender.aclose()


class _Direct:
    def __init__(self, egress: EgressPolicy | None = None) -> None:
        from stackwright.gateway.providers.transport import LeanTransport

        self.transport = LeanTransport(egress=egress)

    async def send(self, request: Any) -> Any:
        response = await self.transport.handle_async_request(request)
        response.request = request
        return response

    async def aclose(self) -> None:
        await self.transport.aclose()


class _Proxied:
    def __init__(self) -> None:
        import httpx

        limits = httpx.Limits(
            max_connections=MAX_CONNECTIONS,
            max_keepalive_connections=MAX_KEEPALIVE,
            keepalive_expiry=KEEPALIVE_EXPIRY_S,
        )
        self.client = httpx.AsyncClient(limits=limits, follow_redirects=False)

    async def send(self, request: Any) -> Any:
        return await self.client.send(request, stream=True)

    async def aclose(self) -> None:
        await self.client.aclose()


def _new_sender() -> _Direct | _Proxied:
    import os

    return _Proxied() if any(os.environ.get(name) for name in PROXY_VARIABLES) else _Direct()


def _request(deployment: Deployment, url: str, headers: dict[str, str], body: dict[str, Any]) -> Any:
    import httpx

    timeout = deployment.timeout_s
    extensions = {"timeout": {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}}
    headers = {"user-agent": USER_AGENT, "accept-encoding": "gzip, deflate", **headers}
    return httpx.Request("POST", _parsed_url(url), content=orjson.dumps(body), headers=headers, extensions=extensions)


@functools.lru_cache(maxsize=1024)
def _parsed_url(url: str) -> Any:
    """URLs are few (one per deployment and endpoint) and parsing one costs more than the rest of a request."""
    import httpx

    return httpx.URL(url)


def display_url(url: str) -> str:
    """``url`` as safe to show: no user-info, no query string (either may hold a secret)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url.split("?", 1)[0]
    host_and_path = rest.split("?", 1)[0]
    authority, slash, path = host_and_path.partition("/")
    return f"{scheme}://{authority.rpartition('@')[2]}{slash}{path}"


async def post_json(
    pool: ClientPool, deployment: Deployment, url: str, where: str, headers: dict[str, str], body: dict[str, Any]
) -> Any:
    """POST ``body`` as JSON and return the parsed 2xx answer; everything else is a ProviderError.
    The whole exchange must finish within ``deployment.timeout_s``."""
    import httpx

    from stackwright.core.egress import EgressBlocked

    timeout = deployment.timeout_s
    request = _request(deployment, url, headers, body)
    try:
        async with asyncio.timeout(timeout):
            response = await pool.send(request, deployment.egress)
            try:
                content = await response.aread()
            finally:
                await response.aclose()
    except EgressBlocked as exc:
        raise ProviderError(EGRESS_BLOCKED, f"upstream {where}: {exc.message}") from None
    except (TimeoutError, httpx.TimeoutException):
        raise ProviderError(TIMEOUT, f"upstream {where} did not answer within {timeout:g} s.") from None
    except httpx.TransportError as exc:
        raise connection_error(exc, where) from None
    except httpx.DecodingError as exc:
        raise ProviderError(MALFORMED, f"upstream {where} sent a body that cannot be decoded: {exc}.") from None
    if response.status_code >= 300:
        raise error_from_response(response.status_code, response.headers, content, where, deployment.api_key)
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        raise ProviderError(
            MALFORMED,
            f"upstream {where} answered {response.status_code} with a body that is not JSON: {_snippet(content)}",
            status=response.status_code,
        ) from None


async def stream_events(
    pool: ClientPool, deployment: Deployment, url: str, where: str, headers: dict[str, str], body: dict[str, Any]
) -> AsyncGenerator[tuple[str, bytes], None]:
    """POST ``body`` and yield the answer's server-sent events as ``(event, data)``. A refused request or
    an error status raises before the first event; a break after it raises STREAM_CUT, a stall of
    ``timeout_s`` between reads raises TIMEOUT. A clean end simply ends the iteration."""
    import httpx

    from stackwright.core.egress import EgressBlocked

    timeout = deployment.timeout_s
    try:
        response = await pool.send(_request(deployment, url, headers, body), deployment.egress)
    except EgressBlocked as exc:
        raise ProviderError(EGRESS_BLOCKED, f"upstream {where}: {exc.message}") from None
    except httpx.TimeoutException:
        raise ProviderError(TIMEOUT, f"upstream {where} did not answer within {timeout:g} s.") from None
    except httpx.TransportError as exc:
        raise connection_error(exc, where) from None
    try:
        if response.status_code >= 300:
            content = await response.aread()
            raise error_from_response(response.status_code, response.headers, content, where, deployment.api_key)
        async for event in iter_sse(response.aiter_bytes()):
            yield event
    except httpx.TimeoutException:
        raise ProviderError(TIMEOUT, f"upstream {where} stopped sending for {timeout:g} s mid-stream.") from None
    except httpx.TransportError as exc:
        reason = str(exc) or type(exc).__name__
        raise ProviderError(STREAM_CUT, f"upstream {where} broke the stream: {reason}.") from None
    except httpx.DecodingError as exc:
        raise ProviderError(MALFORMED, f"upstream {where} sent a stream that cannot be decoded: {exc}.") from None
    finally:
        await response.aclose()


def connection_error(exc: Exception, where: str) -> ProviderError:
    reason = str(exc) or type(exc).__name__
    return ProviderError(CONNECTION, f"could not reach upstream {where}: {reason}.")


def error_from_response(status: int, headers: Any, content: bytes, where: str, api_key: str | None) -> ProviderError:
    """The ProviderError for a non-2xx upstream answer, with the upstream's own message."""
    message, code = upstream_message(content)
    if api_key:
        message = message.replace(api_key, "***")
    text = f"upstream {where} answered {status}: {message}" + (f" ({code})" if code and code not in message else "")
    retry_after = retry_after_seconds(headers)
    return ProviderError(status_kind(status, message, code), text, status=status, retry_after_s=retry_after)


def status_kind(status: int, message: str = "", code: str | None = None) -> str:
    if status == 429:
        return RATE_LIMITED
    if status >= 500:
        return SERVER
    if status in (401, 403):
        return AUTH
    if status == 408:
        return TIMEOUT
    if status in (400, 413, 422) and is_context_length(message, code):
        return CONTEXT_LENGTH
    return BAD_REQUEST


def is_context_length(message: str, code: str | None = None) -> bool:
    return code in _CONTEXT_CODES or bool(_CONTEXT_WORDS.search(message))


def upstream_message(content: bytes) -> tuple[str, str | None]:
    """``(message, code)`` from an error body: OpenAI's and Anthropic's ``{"error": {...}}``, a bare
    ``{"error": "..."}`` or FastAPI's ``{"detail": "..."}``, cut to ``_MESSAGE_CHARS``; any other body
    only by its size."""
    try:
        data = orjson.loads(content)
    except orjson.JSONDecodeError:
        return _snippet(content), None
    if not isinstance(data, dict):
        return _snippet(content), None
    error = data.get("error", data)
    if isinstance(error, dict):
        message = error.get("message") or error.get("detail") or data.get("detail") or data.get("message")
        code = error.get("code") or error.get("type")
        text = message if isinstance(message, str) else _snippet(content)
        return _cut(text), str(code)[:_MESSAGE_CHARS] if code not in (None, "") else None
    return _cut(str(error)), None


def _cut(text: str) -> str:
    return text if len(text) <= _MESSAGE_CHARS else text[:_MESSAGE_CHARS] + "..."


def retry_after_seconds(headers: Any) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (delta-seconds or an HTTP-date)."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from datetime import datetime
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def malformed(where: str, what: str, data: Any = b"") -> ProviderError:
    shown = data if isinstance(data, bytes) else orjson.dumps(data)
    return ProviderError(MALFORMED, f"upstream {where} answered {what}: {_snippet(shown)}")


def _snippet(content: bytes) -> str:
    """A body without a JSON error message is summarised by its size, never echoed: it may be another
    service's page."""
    return f"({len(content)} bytes, not shown)" if content.strip() else "(empty body)"
