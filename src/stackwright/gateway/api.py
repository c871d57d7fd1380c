"""The OpenAI-compatible API (`/v1/chat/completions`, `/v1/embeddings`, `/v1/models`).

Errors here use OpenAI's error object (``{"error": {"message", "type", "param", "code"}}``) so that
existing clients and SDKs report them as they would OpenAI's own.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from stackwright.core.errors import InvalidInput, StackwrightError
from stackwright.gateway.catalog import describe

log = logging.getLogger("stackwright.gateway")
router = APIRouter(tags=["gateway (OpenAI-compatible)"])

_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error", 404: "invalid_request_error",
          409: "invalid_request_error", 413: "invalid_request_error", 422: "invalid_request_error", 429: "rate_limit_error"}  # fmt: skip


def openai_error(exc: StackwrightError) -> Response:
    details = exc.details if isinstance(exc.details, dict) else {}
    error = {
        "message": exc.message,
        "type": _TYPES.get(exc.status, "api_error"),
        "param": details.get("param"),
        "code": exc.code,
        "details": exc.details,
    }
    headers = {}
    if exc.status == 401:
        headers["www-authenticate"] = "Bearer"
    if exc.status in (429, 503) and details.get("retry_after_s") is not None:
        headers["retry-after"] = str(details["retry_after_s"])
    if exc.status >= 500 and exc.status not in (502, 503, 504):
        log.error("gateway request failed: %s", exc.message)
    return Response(orjson.dumps({"error": error}), status_code=exc.status, media_type="application/json", headers=headers)


async def _json(request: Request) -> Any:
    raw = await request.body()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(
            f"The request body is not valid JSON ({exc}).", hint="Send a JSON object with Content-Type: application/json.",
            code="malformed_json",
        ) from None  # fmt: skip


def _gateway(request: Request) -> Any:
    return request.app.state.gateway


@router.post("/v1/chat/completions", summary="OpenAI-compatible chat completions (streaming and not)")
async def chat_completions(request: Request) -> Response:
    gateway = _gateway(request)
    try:
        actor = await gateway.authenticate(request)
        body = await _json(request)
        return await gateway.chat(actor, body, request.headers)
    except StackwrightError as exc:
        return openai_error(exc)


@router.post("/v1/embeddings", summary="OpenAI-compatible embeddings")
async def embeddings(request: Request) -> Response:
    gateway = _gateway(request)
    try:
        actor = await gateway.authenticate(request)
        body = await _json(request)
        return await gateway.embeddings(actor, body, request.headers)
    except StackwrightError as exc:
        return openai_error(exc)


@router.get("/v1/models", summary="Models this project's gateway serves (OpenAI's list format)")
async def list_models(request: Request) -> Response:
    gateway = _gateway(request)
    try:
        actor = await gateway.authenticate(request, scope="read")
        project = await gateway.catalog.get(actor.project_id)
    except StackwrightError as exc:
        return openai_error(exc)
    created = int(time.time())
    data = [
        {"id": m["name"], "object": "model", "created": created, "owned_by": "stackwright" if m["builtin"] else "project",
         "kind": m["kind"], "deployments": len(m["deployments"])}
        for m in describe(project)
    ]  # fmt: skip
    return Response(orjson.dumps({"object": "list", "data": data}), media_type="application/json")


def fast_routes() -> dict[tuple[str, str], tuple[Any, Any]]:
    """The model calls, the hot path: (method, path) -> (route, endpoint taking a Request). The request
    middleware sends them straight to their endpoint instead of through the app's route table."""
    endpoints = {"/v1/chat/completions": chat_completions, "/v1/embeddings": embeddings}
    found: dict[tuple[str, str], tuple[Any, Any]] = {}
    for route in router.routes:
        path = getattr(route, "path", "")
        endpoint = endpoints.get(path)
        if endpoint is not None and getattr(route, "endpoint", None) is endpoint:
            found[("POST", path)] = (route, endpoint)
    return found

