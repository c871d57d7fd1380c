"""ASGI middleware: request ids, the body size limit, and one structured log line per request.

The model calls of the OpenAI-compatible gateway (``POST /v1/chat/completions``, ``/v1/embeddings``) are
the hot path: this middleware hands them straight to their endpoint, skipping the scan of the app's route
table and FastAPI's request plumbing (about a third of the gateway's CPU per call). Everything else here
(request id, size limit, log line, metrics) applies to them as to any request, and their errors go through
the app's exception handlers, as they would behind the router.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import MutableMapping
from typing import Any

import orjson

from stackwright.core.errors import PayloadTooLarge

log = logging.getLogger("stackwright.http")
REQUEST_ID_HEADER = "x-request-id"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def _observe(scope: dict[str, Any], status: int, elapsed_s: float) -> None:
    """Count the request in the app's metrics, labelled by route template (bounded), never by raw path."""
    app = scope.get("app")
    if app is None or not hasattr(app, "state"):
        return
    from stackwright.monitoring.metrics import UNMATCHED, metrics_for

    route = getattr(scope.get("route"), "path", None) or UNMATCHED
    try:
        metrics_for(app).observe_request(scope["method"], route, status, elapsed_s)
    except Exception:  # metrics never fail a request
        log.warning("could not record request metrics", exc_info=True)


def _new_request_id() -> str:
    """32 random hex digits, like ``uuid4().hex`` (an id for logs, not a secret: no system call needed)."""
    return f"{random.getrandbits(128):032x}"


def _fast_routes(app: Any) -> dict[tuple[str, str], tuple[Any, Any]]:
    """(method, path) -> (route, endpoint) of the gateway's model calls, if this app serves the gateway."""
    if getattr(getattr(app, "state", None), "gateway", None) is None:
        return {}
    from stackwright.gateway.api import fast_routes

    return fast_routes()


def _exception_handler(app: Any, exc: Exception) -> Any:
    handlers = getattr(app, "exception_handlers", None) or {}
    for kind in type(exc).__mro__:
        if kind in handlers:
            return handlers[kind]
    return None


async def _serve_fast(route: Any, endpoint: Any, scope: dict[str, Any], receive: Any, send: Any, state: dict[str, Any]) -> None:
    """Run ``endpoint`` as the router would, minus finding it: errors answered by the app's handlers."""
    from starlette.requests import Request

    scope["route"], scope["endpoint"] = route, endpoint
    scope.setdefault("path_params", {})
    request = Request(scope, receive)
    try:
        response = await endpoint(request)
        await response(scope, receive, send)
    except Exception as exc:
        handler = _exception_handler(scope.get("app"), exc)
        if handler is None or state["sent_start"] or state["too_large"]:
            raise
        response = handler(request, exc)
        if hasattr(response, "__await__"):
            response = await response
        await response(scope, receive, send)


class RequestMiddleware:
    """Gives each request an id (honouring a sane incoming X-Request-ID), caps body size, logs the outcome."""

    def __init__(self, app: Any, max_body_bytes: int):
        self.app = app
        self.max_body_bytes = max_body_bytes
        self._fast: dict[tuple[str, str], tuple[Any, Any]] | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and _VALID_REQUEST_ID.match(incoming) else _new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        state = {"status": 500, "sent_start": False, "too_large": False, "received": 0}

        async def send_with_id(message: MutableMapping[str, Any]) -> None:
            if state["too_large"]:
                return  # the app's own reply to a truncated body is replaced by our 413
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                state["sent_start"] = True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        async def limited_receive() -> dict[str, Any]:
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > self.max_body_bytes:
                    state["too_large"] = True
                    raise PayloadTooLarge(self._too_large_message())
            return message

        declared = _header(scope, b"content-length")
        try:
            if declared and declared.isdigit() and int(declared) > self.max_body_bytes:
                state["too_large"] = True
            else:
                if self._fast is None:
                    self._fast = _fast_routes(scope.get("app"))
                fast = self._fast.get((scope["method"], scope["path"])) if self._fast else None
                if fast is not None:
                    await _serve_fast(*fast, scope, limited_receive, send_with_id, state)
                else:
                    await self.app(scope, limited_receive, send_with_id)
        except PayloadTooLarge:
            pass
        except Exception as exc:
            # Starlette hands unhandled errors to ServerErrorMiddleware, outside this middleware: its 500 would
            # lack X-Request-ID and the error would escape to the server. Answer here instead, once.
            if state["sent_start"]:
                raise  # the response has begun: nothing can be sent; let the server drop the connection
            if not state["too_large"]:  # (a 413 is sent below)
                from starlette.requests import Request

                from stackwright.server.errors import on_unexpected

                response = await on_unexpected(Request(scope), exc)
                await response(scope, receive, send_with_id)
        finally:
            if state["too_large"] and not state["sent_start"]:
                state["status"] = 413
                await self._send_413(send, request_id)
            elapsed_s = time.perf_counter() - started
            _observe(scope, state["status"], elapsed_s)
            if log.isEnabledFor(logging.INFO):
                log.info(
                    "%s %s %s",
                    scope["method"],
                    scope["path"],
                    state["status"],
                    extra={
                        "request_id": request_id,
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": state["status"],
                        "duration_ms": round(elapsed_s * 1000, 2),
                        "project_id": scope["state"].get("project_id"),
                    },
                )

    def _too_large_message(self) -> str:
        return (
            f"The request body is larger than the limit of {self.max_body_bytes} bytes. "
            "Send a smaller body (split it into batches) or raise STACKWRIGHT_MAX_BODY_BYTES."
        )

    async def _send_413(self, send: Any, request_id: str) -> None:
        body = orjson.dumps(PayloadTooLarge(self._too_large_message()).to_dict())
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"x-request-id", request_id.encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
