"""Typed SDK exceptions, built from the server's one error shape ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

from typing import Any

import httpx


class StackwrightAPIError(Exception):
    """Base of every SDK error.

    ``message`` is the server's text (or the SDK's, for client-side failures); ``status`` is the HTTP status
    (None if no response), ``code`` the server's stable error code, ``details`` its structured details,
    ``request_id`` the X-Request-ID to quote in a report, and ``response`` the raw ``httpx.Response``.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        details: Any = None,
        request_id: str | None = None,
        response: httpx.Response | None = None,
    ):
        self.message = message
        self.status = status
        self.code = code
        self.details = details
        self.request_id = request_id
        self.response = response
        super().__init__(message)

    def __str__(self) -> str:
        facts = [f"HTTP {self.status}" if self.status else None, self.code, self.request_id and f"request id {self.request_id}"]
        shown = ", ".join(f for f in facts if f)
        return f"{self.message} ({shown})" if shown else self.message


class InvalidRequestError(StackwrightAPIError):
    """400 or 422: the request is malformed or has invalid fields (see ``details``)."""


class AuthenticationError(StackwrightAPIError):
    """401 (or no API key configured): the key is missing, wrong, revoked or expired."""


class PermissionDeniedError(StackwrightAPIError):
    """403: the key lacks the scope (or the user the role) this needs."""


class NotFoundError(StackwrightAPIError):
    """404: no such object in the key's project (other projects' objects also answer 404)."""


class ConflictError(StackwrightAPIError):
    """409: the change clashes with existing data."""


class PayloadTooLargeError(StackwrightAPIError):
    """413: the request body is over the server's STACKWRIGHT_MAX_BODY_BYTES."""


class RateLimitError(StackwrightAPIError):
    """429: too many requests; retry later."""


class ServerError(StackwrightAPIError):
    """5xx: the server failed or is unavailable; nothing was changed."""


class APIConnectionError(StackwrightAPIError):
    """No response: the server could not be reached or did not answer in time."""


_BY_STATUS: dict[int, type[StackwrightAPIError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    422: InvalidRequestError,
    429: RateLimitError,
}


def error_class(status: int) -> type[StackwrightAPIError]:
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, StackwrightAPIError)


def from_response(response: httpx.Response) -> StackwrightAPIError:
    """The typed exception for an error response, whatever its body (error shape, other JSON, text, empty)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        message, code, details = str(error["message"]), error.get("code"), error.get("details")
    else:
        text = response.text.strip()
        reason = response.reason_phrase or "error"
        message = f"The server answered {response.status_code} {reason}" + (f": {text[:500]}" if text else " with no body.")
        code, details = f"http_{response.status_code}", body
    request_id = response.headers.get("x-request-id")
    if request_id is None and isinstance(details, dict):
        request_id = details.get("request_id")  # a fallback when a proxy in between dropped the header
    return error_class(response.status_code)(
        message, status=response.status_code, code=code, details=details, request_id=request_id, response=response
    )


def connection_error(exc: httpx.TransportError, base_url: str, timeout: float | None) -> APIConnectionError:
    """Say which URL failed, why, and how to fix it."""
    if isinstance(exc, httpx.TimeoutException):
        why = f"did not answer within {timeout} seconds ({type(exc).__name__})"
        fix = "Retry, or pass a larger timeout= to the client."
    else:
        why = f"could not be reached ({exc or type(exc).__name__})"
        fix = "Is `stackwright serve` running there? Check STACKWRIGHT_BASE_URL or the base_url= you passed."
    return APIConnectionError(f"The Stackwright server at {base_url} {why}. {fix}", code="connection_error")
