"""The Python SDK: ``Client`` (sync) and ``AsyncClient``, and the typed errors they raise."""

from stackwright.sdk.base import Page
from stackwright.sdk.client import AsyncClient, Client
from stackwright.sdk.errors import (
    APIConnectionError,
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    StackwrightAPIError,
)

__all__ = [
    "APIConnectionError",
    "AsyncClient",
    "AuthenticationError",
    "Client",
    "ConflictError",
    "InvalidRequestError",
    "NotFoundError",
    "Page",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServerError",
    "StackwrightAPIError",
]
