"""The API's resources, written once for both clients.

Each method builds a ``Call`` and hands it to the client's ``_run``: on ``Client`` that returns the result, on
``AsyncClient`` an awaitable of it. Results are the server's JSON (dicts), lists for unpaginated lists, and
``Page`` for the audit log.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

from stackwright.sdk.base import Call, compact, parse_data, parse_page

API = "/api/v1"


def _path(collection: str, object_id: str | None = None) -> str:
    return f"{API}/{collection}" if object_id is None else f"{API}/{collection}/{quote(str(object_id), safe='')}"


class Resource:
    def __init__(self, client: Any):
        self._client = client

    def _run(self, call: Call) -> Any:
        return self._client._run(call)


class Projects(Resource):
    """Projects visible to the key: its own. Creating one needs an instance admin's admin key."""

    def list(self) -> Any:
        return self._run(Call("GET", _path("projects"), parse=parse_data))

    def get(self, project_id: str) -> Any:
        return self._run(Call("GET", _path("projects", project_id)))

    def create(self, name: str, description: str = "") -> Any:
        """Returns ``{"project": {...}, "api_key": {..., "key": "sw-..."}}``; the key secret is shown only here."""
        return self._run(Call("POST", _path("projects"), body={"name": name, "description": description}))


class Users(Resource):
    """Members of the key's project."""

    def list(self) -> Any:
        return self._run(Call("GET", _path("users"), parse=parse_data))

    def get(self, user_id: str) -> Any:
        return self._run(Call("GET", _path("users", user_id)))

    def add(self, email: str, password: str | None = None, role: str = "member") -> Any:
        """Invite ``email`` to the project (returns the invitation; its user accepts it). An instance admin's key may
        instead create a new user with a password (returns the member)."""
        body = compact({"email": email, "password": password, "role": role})
        return self._run(Call("POST", _path("users"), body=body))

    def update(self, user_id: str, *, role: str) -> Any:
        return self._run(Call("PATCH", _path("users", user_id), body={"role": role}))

    def remove(self, user_id: str) -> Any:
        """Remove the member from the project; returns None."""
        return self._run(Call("DELETE", _path("users", user_id)))


class Keys(Resource):
    """API keys of the project (admin scope). Secrets are returned once, by ``create``."""

    def list(self) -> Any:
        return self._run(Call("GET", _path("keys"), parse=parse_data))

    def get(self, key_id: str) -> Any:
        return self._run(Call("GET", _path("keys", key_id)))

    def create(self, name: str, scopes: Sequence[str] = ("read", "write"), expires_at: datetime | str | None = None) -> Any:
        """Scopes: any of read, write, admin. The result's ``key`` is the secret: store it now."""
        body = compact({"name": name, "scopes": list(scopes), "expires_at": expires_at})
        return self._run(Call("POST", _path("keys"), body=body))

    def revoke(self, key_id: str) -> Any:
        """Revoke the key (idempotent); returns the key with ``revoked_at`` set."""
        return self._run(Call("DELETE", _path("keys", key_id)))


class Audit(Resource):
    """The project's audit log, newest first (admin scope)."""

    def list(
        self,
        action: str | None = None,
        object_type: str | None = None,
        object_id: str | None = None,
        since: datetime | str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Any:
        """One ``Page``; pass its ``next_cursor`` as ``cursor`` for the next one."""
        return self._run(self._call(action, object_type, object_id, since, limit)(cursor))

    def iter(
        self,
        action: str | None = None,
        object_type: str | None = None,
        object_id: str | None = None,
        since: datetime | str | None = None,
        limit: int = 50,
    ) -> Any:
        """Every matching entry, fetching pages of ``limit`` as needed (an iterator; async iterator on AsyncClient)."""
        return self._client._paginate(self._call(action, object_type, object_id, since, limit))

    @staticmethod
    def _call(action: Any, object_type: Any, object_id: Any, since: Any, limit: int) -> Callable[[str | None], Call]:
        def page_call(cursor: str | None) -> Call:
            params = compact(
                {
                    "action": action,
                    "object_type": object_type,
                    "object_id": object_id,
                    "since": since,
                    "limit": limit,
                    "cursor": cursor,
                }
            )
            return Call("GET", _path("audit"), params=params, parse=parse_page)

        return page_call
