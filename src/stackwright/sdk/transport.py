"""Drive the ASGI app in this process through httpx's ASGI transport, from sync or async code.

httpx's ASGITransport is async only; ``InProcessTransport`` runs it on an anyio event loop in a
background thread (a blocking portal) so the sync ``Client`` uses exactly the same request path.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from anyio.from_thread import BlockingPortal


class InProcessTransport(httpx.BaseTransport):
    def __init__(self, app: Any, *, raise_app_exceptions: bool = True):
        """``raise_app_exceptions=False`` returns the app's 500 answer for an unhandled error, as a real server does."""
        from anyio.from_thread import start_blocking_portal

        self._asgi = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
        self._portal_cm: AbstractContextManager[BlockingPortal] | None = start_blocking_portal()
        self._portal = self._portal_cm.__enter__()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()

        async def call() -> tuple[int, list[tuple[bytes, bytes]], bytes]:
            async_request = httpx.Request(request.method, request.url, headers=request.headers, content=body)
            response = await self._asgi.handle_async_request(async_request)
            content = await response.aread()
            return response.status_code, response.headers.raw, content

        status, headers, content = self._portal.call(call)
        return httpx.Response(status, headers=headers, content=content, request=request)

    def close(self) -> None:
        if self._portal_cm is not None:
            self._portal_cm.__exit__(None, None, None)
            self._portal_cm = None
