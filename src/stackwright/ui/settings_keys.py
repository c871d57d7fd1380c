"""Settings: the project's API keys (`/ui/settings/keys`): list (never a secret), create with scopes, revoke.
Admins and owners only, through the same key services as the API; a key never exceeds its creator's role.

The new secret is shown once: the create form's answer redirects to the key's page with the secret in a
cookie for that page alone (HttpOnly, SameSite=Strict, one minute), which the page shows and deletes at once.
The server keeps only the hash, so a reload, or any later visit, finds no secret to show.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from stackwright.auth import keys
from stackwright.auth.actors import ROLE_SCOPE, SCOPE_RANK
from stackwright.auth.models import SCOPES
from stackwright.auth.security import api_key_matches
from stackwright.core.clock import utcnow
from stackwright.core.deps import get_db
from stackwright.core.errors import Forbidden, InvalidInput
from stackwright.ui.pages import UserDep, WebUser, page_router
from stackwright.ui.settings import SETTINGS, checked_form, settings_page, web_actor

router = page_router()
KEYS = f"{SETTINGS}/keys"
SECRET_COOKIE = "sw_new_key"
MAX_EXPIRY_DAYS = 3650


def _scopes_for(user: WebUser) -> list[str]:
    """The scopes the user's role allows a key of theirs."""
    ceiling = SCOPE_RANK[ROLE_SCOPE[user.project.role]] if user.project else 0
    return [scope for scope in SCOPES if SCOPE_RANK[scope] <= ceiling]


def _keys_page(request: Request, user: WebUser, status: int = 200, **context: Any) -> Response:
    project_id = user.project_id
    manager = web_actor(request, user).has_scope("admin")
    rows = []
    if manager:
        with get_db(request).read() as session:
            rows = keys.list_keys(session, project_id)
    context.setdefault("errors", {})
    context.setdefault("values", {"name": "", "scopes": ["read"], "expires_in_days": ""})
    return settings_page(
        request, "settings_keys.html", user, status, manager=manager, rows=rows, scopes=_scopes_for(user), now=utcnow(),
        max_days=MAX_EXPIRY_DAYS, **context,
    )  # fmt: skip


@router.get(KEYS)
def keys_page(request: Request, user: UserDep) -> Response:
    return _keys_page(request, user)


def _expiry_days(raw: str) -> int | None:
    raw = raw.strip()
    if not raw:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_EXPIRY_DAYS:
        raise InvalidInput(f"Give a whole number of days from 1 to {MAX_EXPIRY_DAYS}, or leave it empty for no expiry.")
    return int(raw)


@router.post(KEYS)
async def create_key(request: Request, user: UserDep) -> Response:
    form = await checked_form(request, user)
    ticked = parse_qs((await request.body()).decode("utf-8", errors="replace")).get("scope", [])
    chosen = [scope for scope in SCOPES if scope in ticked]
    name, expires_raw = form.get("name", "")[:200], form.get("expires_in_days", "")[:20]
    values: dict[str, Any] = {"name": name, "scopes": chosen, "expires_in_days": expires_raw}
    errors: dict[str, str] = {}
    try:
        days = _expiry_days(expires_raw)
    except InvalidInput as exc:
        errors["expires_in_days"], days = exc.message, None
    if not errors:
        expires_at = utcnow() + timedelta(days=days) if days else None
        try:
            with get_db(request).write() as session:
                key, raw = keys.create_own_key(session, web_actor(request, user), user.project_id, name, chosen,
                                               expires_at=expires_at)  # fmt: skip
        except InvalidInput as exc:
            errors["scope" if "scope" in exc.message else "name"] = exc.message
    if errors:
        return _keys_page(request, user, 400, values=values, errors=errors)
    target = f"{KEYS}/{key.id}/created"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(SECRET_COOKIE, raw, max_age=60, path=target, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")  # fmt: skip
    return response


@router.get(KEYS + "/{key_id}/created")
def created_key(request: Request, key_id: str, user: UserDep) -> Response:
    if not web_actor(request, user).has_scope("admin"):
        raise Forbidden("Only an admin or owner of the project sees its API keys.")
    with get_db(request).read() as session:
        key = keys.find_key(session, key_id, user.project_id)
    raw = request.cookies.get(SECRET_COOKIE, "")
    secret = raw if raw.startswith(key.prefix) and api_key_matches(raw, key.key_hash) else None
    response = settings_page(request, "settings_key_created.html", user, key=key, secret=secret)
    response.delete_cookie(SECRET_COOKIE, path=request.url.path, httponly=True, samesite="strict")
    return response


@router.post(KEYS + "/{key_id}/revoke")
async def revoke_key(request: Request, key_id: str, user: UserDep) -> Response:
    await checked_form(request, user)
    actor = web_actor(request, user)
    with get_db(request).write() as session:
        keys.revoke_key(session, actor, keys.find_key(session, key_id, user.project_id))
    return RedirectResponse(f"{KEYS}?done=revoked-key", status_code=303)
