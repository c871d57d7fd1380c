"""A lean HTTP/1.1 keep-alive transport for httpx, on asyncio protocols and the httptools parser.

Why: httpcore's pool re-checks every pooled connection (a readability probe each) on every request and
response, so its cost grows with the number of connections: at 32 concurrent upstream calls it spends
about 2 ms of CPU per request, twice the whole gateway budget at 1,000 requests/s. This transport keeps
a LIFO stack of idle connections per origin and does O(1) work per request. httpx still builds requests, decodes
responses (gzip...) and raises its usual exceptions, so providers do not know which transport runs.

Scope: HTTP/1.1 over TCP or TLS, one request per connection at a time, request bodies sent at once.
No proxies (the provider uses httpx's own transport when proxy variables are set) and no HTTP/2.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import httptools
import httpx

from stackwright.core.egress import EgressPolicy

IDLE_PER_ORIGIN = 256  # idle connections kept per origin; more are closed
IDLE_EXPIRY_S = 4.0  # below the common server keep-alive timeouts (uvicorn 5 s, nginx 75 s)


class LeanTransport(httpx.AsyncBaseTransport):
    """Pass as ``httpx.AsyncClient(transport=LeanTransport())``; bound to the event loop that uses it."""

    def __init__(self, ssl_context: Any = None, idle_per_origin: int = IDLE_PER_ORIGIN, egress: EgressPolicy | None = None):
        self._ssl_context = ssl_context
        self._egress = egress  # when set, hosts are resolved here and only checked addresses are connected to
        self._idle_per_origin = idle_per_origin
        self._idle: dict[tuple[str, str, int], deque[tuple[float, _Connection]]] = {}
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"Request URL has an unsupported protocol '{url.scheme}://'.")
        origin = (url.scheme, url.raw_host.decode("ascii"), url.port or (443 if url.scheme == "https" else 80))
        timeouts = request.extensions.get("timeout") or {}
        payload = _serialize(request, await request.aread())
        connection = self._take_idle(origin)
        if connection is not None:
            try:
                return await self._exchange(request, origin, connection, payload, timeouts)
            except _StaleConnection:
                pass  # the server closed the idle connection as we reused it: once more on a new one
        connection = await self._connect(origin, timeouts.get("connect"))
        try:
            return await self._exchange(request, origin, connection, payload, timeouts)
        except _StaleConnection:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            ) from None

    async def aclose(self) -> None:
        self._closed = True
        for stack in self._idle.values():
            for _, connection in stack:
                connection.close()
        self._idle.clear()

    async def _exchange(self, request: httpx.Request, origin: tuple[str, str, int], connection: _Connection,
                        payload: bytes, timeouts: dict[str, Any]) -> httpx.Response:  # fmt: skip
        head = connection.send(payload)
        try:
            await asyncio.wait_for(head, timeouts.get("read"))
        except TimeoutError:
            connection.close()
            raise httpx.ReadTimeout("Timed out waiting for the response.", request=request) from None
        except BaseException:  # stale, disconnected, invalid, cancelled
            connection.close()
            raise
        body = _Body(self, origin, connection, timeouts.get("read"), request)
        extensions = {"http_version": b"HTTP/1.1", "reason_phrase": b""}
        return httpx.Response(connection.status, headers=connection.headers, stream=body, extensions=extensions)

    async def _connect(self, origin: tuple[str, str, int], timeout: float | None) -> _Connection:
        scheme, host, port = origin
        ssl = self._tls() if scheme == "https" else None
        try:
            connection = await asyncio.wait_for(self._open(host, port, ssl), timeout)
        except TimeoutError:
            raise httpx.ConnectTimeout(f"Timed out connecting to {host}:{port}.") from None
        except OSError as exc:  # refused, unreachable, DNS, TLS (ssl.SSLError is an OSError)
            raise httpx.ConnectError(str(exc) or type(exc).__name__) from None
        return connection

    async def _open(self, host: str, port: int, ssl: Any) -> _Connection:
        """A connection to ``host``; under an egress policy, to one of its checked addresses (EgressBlocked if
        any is refused), the TLS server name staying ``host``."""
        loop = asyncio.get_running_loop()
        addresses = [host] if self._egress is None else await self._egress.resolve(host, port)
        for index, address in enumerate(addresses):
            try:
                _, connection = await loop.create_connection(_Connection, address, port, ssl=ssl, server_hostname=host if ssl else None)
                return connection
            except OSError:
                if index == len(addresses) - 1:
                    raise
        raise OSError(f"no address to connect to for {host}")

    def _tls(self) -> Any:
        if self._ssl_context is None:
            self._ssl_context = httpx.create_ssl_context()
        return self._ssl_context

    def _take_idle(self, origin: tuple[str, str, int]) -> _Connection | None:
        stack = self._idle.get(origin)
        now = time.monotonic()
        while stack:
            since, connection = stack.pop()
            if not connection.closed and now - since < IDLE_EXPIRY_S:
                return connection
            connection.close()
        return None

    def _give_back(self, origin: tuple[str, str, int], connection: _Connection) -> None:
        stack = self._idle.setdefault(origin, deque())
        if self._closed or len(stack) >= self._idle_per_origin:
            connection.close()
        else:
            stack.append((time.monotonic(), connection))


class _StaleConnection(Exception):
    """A reused connection closed before any byte of the response arrived."""


class _Connection(asyncio.Protocol):
    """One TCP/TLS connection and the parser of the response in flight on it."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: Any = None
        self.closed = False
        self.requests = 0  # a close before any answer on a reused connection is a stale keep-alive
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: deque[bytes] = deque()
        self.complete = False
        self.error: Exception | None = None
        self.received = False
        self.sized = False  # the response has Content-Length or chunked framing
        self.keep_alive = False
        self.head: asyncio.Future[None] | None = None
        self.waiter: asyncio.Future[None] | None = None

    def send(self, payload: bytes) -> asyncio.Future[None]:
        """Write a request; the future resolves when the response head has arrived."""
        loop = asyncio.get_running_loop()
        self.head = loop.create_future()
        self.status, self.headers, self.error = 0, [], None
        self.complete = self.received = self.sized = self.keep_alive = False
        self.chunks.clear()
        self.requests += 1
        if self.closed:
            self.head.set_exception(_StaleConnection() if self.requests > 1 else _disconnected())
        else:
            self.transport.write(payload)
        return self.head

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    # asyncio.Protocol

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.received = True
        if self.head is None:  # bytes nobody asked for: the connection cannot be trusted
            self.close()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.error = httpx.RemoteProtocolError(f"Invalid HTTP response: {exc}")
            self._fail_head(self.error)
            self.close()
        self._wake()

    def eof_received(self) -> bool | None:
        return None  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.head is not None and not self.head.done():
            self._fail_head(_StaleConnection() if self.requests > 1 and not self.received else _disconnected())
        elif self.head is not None and not self.complete and self.error is None:
            if self.status and not self.sized:
                self.complete = True  # a body delimited by the connection's end
            else:
                self.error = httpx.RemoteProtocolError("peer closed connection without sending complete message body")
        self._wake()

    # httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))
        lowered = name.lower()
        if lowered == b"content-length" or (lowered == b"transfer-encoding" and b"chunked" in value.lower()):
            self.sized = True

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.keep_alive = self.parser.should_keep_alive()  # only meaningful now, not after the body
        if self.head is not None and not self.head.done():
            self.head.set_result(None)

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        self.complete = True
        if self.head is not None and not self.head.done():  # e.g. a response without headers
            self.head.set_result(None)

    def _fail_head(self, exc: BaseException) -> None:
        if self.head is not None and not self.head.done():
            self.head.set_exception(exc)

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class _Body(httpx.AsyncByteStream):
    """The response body as it arrives; the connection goes back to the pool once the body is complete."""

    def __init__(self, pool: LeanTransport, origin: tuple[str, str, int], connection: _Connection,
                 timeout: float | None, request: httpx.Request):  # fmt: skip
        self.pool, self.origin, self.timeout, self.request = pool, origin, timeout, request
        self.connection: _Connection | None = connection  # None once handed back to the pool

    async def __aiter__(self) -> AsyncIterator[bytes]:
        connection = self.connection
        if connection is None:
            return
        while True:
            while connection.chunks:
                yield connection.chunks.popleft()
            if connection.complete:
                return
            if connection.error is not None:
                raise connection.error
            if connection.closed:
                raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")
            connection.waiter = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait_for(connection.waiter, self.timeout)
            except TimeoutError:
                connection.close()
                raise httpx.ReadTimeout("Timed out reading the response body.", request=self.request) from None
            finally:
                connection.waiter = None

    async def aclose(self) -> None:
        connection, self.connection = self.connection, None
        if connection is None:
            return
        if connection.complete and not connection.closed and connection.keep_alive:
            connection.head = None
            self.pool._give_back(self.origin, connection)
        else:
            connection.close()


def _serialize(request: httpx.Request, body: bytes) -> bytes:
    parts = [request.method.encode("ascii"), b" ", request.url.raw_path, b" HTTP/1.1\r\n"]
    chunked = False
    for name, value in request.headers.raw:
        if name.lower() == b"transfer-encoding":
            chunked = True
            continue
        parts += [name, b": ", value, b"\r\n"]
    if chunked:  # the body was streamed to us; it is sent whole, so it gets a length
        parts += [b"Content-Length: ", str(len(body)).encode("ascii"), b"\r\n"]
    parts.append(b"\r\n")
    return b"".join(parts) + body


def _disconnected() -> httpx.RemoteProtocolError:
    return httpx.RemoteProtocolError("Server disconnected without sending a response.")
