"""Request dependencies for the caller: the API key's project and scopes, and scope checks."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from stackwright.auth.actors import Caller, scopes_within_role
from stackwright.auth.keys import authenticate, role_of, touch_key
from stackwright.core.clock import utcnow
from stackwright.core.deps import get_db, get_settings
from stackwright.core.errors import Forbidden

log = logging.getLogger("stackwright.auth")


def get_caller(request: Request) -> Caller:
    """The API key's project and scopes; 401 if the key is missing, wrong, revoked or expired.

    A user's key acts with no more than the user's current role in the project allows (see ROLE_SCOPE).

    The key is checked in its own short read session, before the request's session starts, so that
    recording the key's last use never waits on the request's own write lock (SQLite).
    """
    db = get_db(request)
    with db.read() as session:
        key, project = authenticate(session, request.headers.get("authorization"))
        scopes = tuple(key.scopes) if key.user_id is None else scopes_within_role(key.scopes, role_of(session, project.id, key.user_id))
    settings = get_settings(request)
    last = key.last_used_at
    if last is None or (utcnow() - last).total_seconds() >= settings.api_key_touch_interval_s:
        try:
            with db.write() as writer:
                touch_key(writer, key.id, settings.api_key_touch_interval_s)
        except Exception:  # last-used time is best effort; never fail the request for it
            log.warning("could not record key use", exc_info=True)
    request.state.project_id = project.id
    return Caller(
        label=f"key:{key.prefix}… ({key.name})",
        project_id=project.id,
        scopes=scopes,
        user_id=key.user_id,
        key_id=key.id,
        request_id=getattr(request.state, "request_id", None),
    )


def require(scope: str) -> Callable[[Caller], Caller]:
    """A dependency that returns the caller if its key has ``scope`` (admin ⊃ write ⊃ read), else 403."""

    def check(caller: Annotated[Caller, Depends(get_caller)]) -> Caller:
        if not caller.has_scope(scope):
            raise Forbidden(
                f"This needs the {scope!r} scope; your key has {', '.join(caller.scopes) or 'none'}.",
                hint=f"Use a key with the {scope!r} scope (create one with `stackwright keys create --scope {scope}`).",
            )
        return caller

    return check


ReadCaller = Annotated[Caller, Depends(require("read"))]
WriteCaller = Annotated[Caller, Depends(require("write"))]
AdminCaller = Annotated[Caller, Depends(require("admin"))]
