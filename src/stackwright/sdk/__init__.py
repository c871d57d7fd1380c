"""The Python SDK: ``Client`` (sync) and ``AsyncClient``, the typed errors they raise, and tracing
(``stackwright.sdk.observe``). Names load lazily so that tracing alone does not import the HTTP client."""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "Page": "stackwright.sdk.base",
    "AsyncClient": "stackwright.sdk.client",
    "Client": "stackwright.sdk.client",
    **{
        name: "stackwright.sdk.errors"
        for name in (
            "APIConnectionError",
            "AuthenticationError",
            "ConflictError",
            "InvalidRequestError",
            "NotFoundError",
            "PayloadTooLargeError",
            "PermissionDeniedError",
            "RateLimitError",
            "ServerError",
            "StackwrightAPIError",
        )
    },
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'stackwright.sdk' has no attribute {name!r}")
