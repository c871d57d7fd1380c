"""The error tree. Every error carries an HTTP status, a stable code and a message the user can act on."""

from __future__ import annotations

from typing import Any


class StackwrightError(Exception):
    """Base error: ``status`` for HTTP, ``code`` for programs, ``message`` (+ ``hint``) for people."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, hint: str | None = None, details: Any = None, code: str | None = None):
        self.message = f"{message} {hint}" if hint else message
        self.details = details
        if code:
            self.code = code
        super().__init__(self.message)

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class InvalidInput(StackwrightError):
    status = 400
    code = "invalid_input"


class Unauthenticated(StackwrightError):
    status = 401
    code = "unauthenticated"


class Forbidden(StackwrightError):
    status = 403
    code = "forbidden"


class NotFound(StackwrightError):
    status = 404
    code = "not_found"


class Conflict(StackwrightError):
    status = 409
    code = "conflict"


class PayloadTooLarge(StackwrightError):
    status = 413
    code = "payload_too_large"


class Unavailable(StackwrightError):
    status = 503
    code = "unavailable"


class ConfigError(StackwrightError):
    """Bad settings or environment found at start; the CLI prints it and exits non-zero."""

    status = 500
    code = "config_error"


class DatabaseUnavailable(Unavailable):
    code = "database_unavailable"
