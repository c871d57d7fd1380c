"""What the sync and async clients share: settings from arguments or env, request building, response parsing.

Every API call is described once as a ``Call``; ``Client`` sends it with ``httpx.Client`` and ``AsyncClient``
with ``httpx.AsyncClient``, and both turn the response into a result or a typed error here.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from stackwright import __version__
from stackwright.sdk.errors import AuthenticationError, connection_error, from_response

DEFAULT_BASE_URL = "http://127.0.0.1:8600"
DEFAULT_TIMEOUT = 30.0
IN_PROCESS_URL = "http://stackwright.in-process"
BASE_URL_ENV = "STACKWRIGHT_BASE_URL"
API_KEY_ENV = "STACKWRIGHT_API_KEY"


@dataclass
class Page:
    """One page of a paginated list: ``data`` (dicts) and ``next_cursor`` (None on the last page)."""

    data: list[dict[str, Any]]
    next_cursor: str | None = None

    def __iter__(self):
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


def parse_data(body: Any) -> Any:
    return body["data"]


def parse_page(body: Any) -> Page:
    return Page(data=body["data"], next_cursor=body.get("next_cursor"))


@dataclass(frozen=True)
class Call:
    """One API request and how to read its successful answer."""

    method: str
    path: str
    params: dict[str, Any] | None = None
    body: Any = None
    auth: bool = True
    parse: Callable[[Any], Any] | None = None  # None: the JSON body as is
    text: bool = False  # True: the answer is the body as text (exports), not JSON


def compact(values: dict[str, Any]) -> dict[str, Any]:
    """Drop None values; datetimes become ISO 8601 strings."""
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items() if v is not None}


class BaseClient(ABC):
    """Configuration and the request/response halves of a call; subclasses only move bytes."""

    def __init__(self, base_url: str | None, api_key: str | None, timeout: float | None):
        base_url = (base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).rstrip("/")
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(
                f"base_url {base_url!r} must start with http:// or https:// (e.g. {DEFAULT_BASE_URL}); "
                f"check the base_url= argument or {BASE_URL_ENV}."
            )
        self.base_url = base_url
        self.api_key = api_key or os.environ.get(API_KEY_ENV) or None
        self.timeout = timeout

    def _http_options(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "timeout": self.timeout,
            "headers": {"User-Agent": f"stackwright-python/{__version__}", "Accept": "application/json"},
        }

    def _request_args(self, call: Call) -> dict[str, Any]:
        headers = {}
        if call.auth:
            if not self.api_key:
                raise AuthenticationError(
                    f"No API key: pass api_key= to the client or set {API_KEY_ENV} (keys look like sw-...; "
                    "`stackwright keys create` makes one).",
                    code="missing_api_key",
                )
            headers["Authorization"] = f"Bearer {self.api_key}"
        return {"method": call.method, "url": call.path, "params": call.params, "json": call.body, "headers": headers}

    def _connection_error(self, exc: httpx.TransportError) -> Exception:
        return connection_error(exc, self.base_url, self.timeout)

    @staticmethod
    def _result(call: Call, response: httpx.Response) -> Any:
        if response.status_code >= 400:
            raise from_response(response)
        if call.text:
            return response.text
        if response.status_code == 204 or not response.content:
            return None
        body = response.json()
        return call.parse(body) if call.parse else body

    # The calls not tied to a resource. ``_run`` returns the result (sync) or an awaitable (async).

    def health(self) -> Any:
        """GET /healthz: the process is up. Needs no API key."""
        return self._run(Call("GET", "/healthz", auth=False))

    def ready(self) -> Any:
        """GET /readyz: database reachable and migrated; raises ServerError (503) if not. Needs no API key."""
        return self._run(Call("GET", "/readyz", auth=False))

    def me(self) -> Any:
        """GET /api/v1/me: the calling key, its project and user."""
        return self._run(Call("GET", "/api/v1/me"))

    @abstractmethod
    def _run(self, call: Call) -> Any:
        """Send ``call``: Client returns its result, AsyncClient an awaitable of it."""
