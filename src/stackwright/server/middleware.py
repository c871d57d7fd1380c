"""ASGI middleware: request ids, the body size limit, and one structured log line per request."""

from __future__ import annotations

import logging
import re
import time
import uuid
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


class RequestMiddleware:
    """Gives each request an id (honouring a sane incoming X-Request-ID), caps body size, logs the outcome."""

    def __init__(self, app: Any, max_body_bytes: int):
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        state = {"status": 500, "sent_start": False, "too_large": False, "received": 0}

        async def send_with_id(message: dict[str, Any]) -> None:
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
            elapsed_ms = round(elapsed_s * 1000, 2)
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
                    "duration_ms": elapsed_ms,
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
