"""One JSON error shape for every failure: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from stackwright.core.errors import Conflict, DatabaseUnavailable, InvalidInput, StackwrightError
from stackwright.core.responses import JSONBody

log = logging.getLogger("stackwright.server")

_HTTP_CODES = {
    400: ("bad_request", "The request is not valid."),
    401: ("unauthenticated", "Send a valid API key as `Authorization: Bearer sw-...`."),
    403: ("forbidden", "Your key may not do this."),
    404: ("not_found", "No such route. The API is documented at /docs."),
    405: ("method_not_allowed", "This route does not accept that method. See /docs."),
}


def error_response(status: int, code: str, message: str, details: Any = None, headers: dict | None = None) -> JSONBody:
    return JSONBody(
        {"error": {"code": code, "message": message, "details": details}}, status_code=status, headers=headers
    )


def _describe_validation(errors: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    details, parts = [], []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ())]
        where = ".".join(loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc) or "body"
        msg = err.get("msg", "is not valid")
        if err.get("type") == "extra_forbidden":
            msg = "is not a known field; remove it (see /docs for the accepted fields)"
        elif err.get("type") == "missing":
            msg = "is required"
        details.append({"field": where, "in": loc[0] if loc else "body", "message": msg, "type": err.get("type")})
        parts.append(f"{where}: {msg}")
    shown = "; ".join(parts[:5]) + (f"; and {len(parts) - 5} more" if len(parts) > 5 else "")
    return f"The request has invalid fields: {shown}.", details


async def _on_validation(request: Request, exc: RequestValidationError) -> JSONBody:
    errors = list(exc.errors())
    bad_json = [e for e in errors if e.get("type") == "json_invalid"]
    if bad_json:
        reason = (bad_json[0].get("ctx") or {}).get("error", "not valid JSON")
        position = bad_json[0].get("loc", ("body", "?"))[-1]
        return error_response(
            400,
            "malformed_json",
            f"The request body is not valid JSON ({reason} at character {position}). "
            "Send a JSON object with Content-Type: application/json.",
        )
    not_an_object = [e for e in errors if tuple(e.get("loc", ())) == ("body",) and e.get("type") != "missing"]
    if not_an_object:
        return error_response(
            400,
            "malformed_json",
            "The request body must be a JSON object. Send one with Content-Type: application/json.",
        )
    message, details = _describe_validation(errors)
    return error_response(422, "validation_error", message, details)


async def _on_stackwright(request: Request, exc: StackwrightError) -> JSONBody:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    if exc.status == 429:
        headers = {"Retry-After": str((exc.details or {}).get("retry_after_s", 1))}
    if exc.status >= 500:
        log.error("request failed: %s", exc.message, extra={"request_id": _request_id(request)})
    return error_response(exc.status, exc.code, exc.message, exc.details, headers)


async def _on_http(request: Request, exc: StarletteHTTPException) -> JSONBody:
    code, default = _HTTP_CODES.get(exc.status_code, (f"http_{exc.status_code}", "The request failed."))
    message = default
    if exc.status_code == 404:
        message = f"No route {request.method} {request.url.path}. The API is documented at /docs."
    elif exc.status_code == 405:
        message = f"{request.url.path} does not accept {request.method}. See /docs."
    elif exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
        # FastAPI turns a body that is not UTF-8 into a bare 400 "error parsing the body": say what is wrong.
        code = "malformed_json"
        message = (
            f"The request body is not valid JSON (it is not UTF-8 text: {exc.__cause__.reason}). "
            "Send a JSON object with Content-Type: application/json."
        )
    elif isinstance(exc.detail, str) and exc.detail:
        message = exc.detail
    return error_response(exc.status_code, code, message, headers=getattr(exc, "headers", None))


async def _on_operational(request: Request, exc: OperationalError) -> JSONBody:
    log.error("database error: %s", exc.orig, extra={"request_id": _request_id(request)})
    err = DatabaseUnavailable(
        "The database is unavailable or busy; nothing was changed.", hint="Retry shortly; if it persists, check the database."
    )
    return error_response(err.status, err.code, err.message, {"request_id": _request_id(request)})


async def _on_integrity(request: Request, exc: IntegrityError) -> JSONBody:
    err = Conflict("The change conflicts with existing data (a duplicate or a missing reference); nothing was changed.")
    return error_response(err.status, err.code, err.message)


async def _on_data(request: Request, exc: DataError) -> JSONBody:
    # e.g. a NUL character in a path or query value (Postgres refuses it in text), a number out of range.
    err = InvalidInput(
        "A value in the request cannot be stored or compared by the database "
        "(for example it contains a NUL character or a number is out of range); nothing was changed.",
        hint="Fix the value and retry.",
    )
    return error_response(err.status, err.code, err.message, {"request_id": _request_id(request)})


async def on_unexpected(request: Request, exc: Exception) -> JSONBody:
    """The last-resort 500. Also called by RequestMiddleware, so the answer carries X-Request-ID."""
    request_id = _request_id(request)
    log.exception("unhandled error", extra={"request_id": request_id})
    return error_response(
        500,
        "internal_error",
        f"Something went wrong on the server; nothing was changed. Report request id {request_id} to your admin.",
        {"request_id": request_id},
    )


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def install_error_handlers(app: FastAPI) -> None:
    # Starlette calls a handler only with the exception class it is registered for, but types every handler
    # as taking any Exception: the handlers that name their class need the ignores.
    app.add_exception_handler(RequestValidationError, _on_validation)  # type: ignore[arg-type]
    app.add_exception_handler(StackwrightError, _on_stackwright)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _on_http)  # type: ignore[arg-type]
    app.add_exception_handler(OperationalError, _on_operational)  # type: ignore[arg-type]
    app.add_exception_handler(IntegrityError, _on_integrity)  # type: ignore[arg-type]
    app.add_exception_handler(DataError, _on_data)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, on_unexpected)
