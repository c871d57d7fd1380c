"""Settings: passwords. Everyone changes their own (`/ui/settings/password`: the current one required; their other
sessions end); an instance admin sets another user's (`/ui/settings/password-reset`; all that user's sessions end).
Both through the auth layer's password service, which checks the rules, stores an argon2 hash and audits."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from stackwright.auth import passwords
from stackwright.core.deps import get_db
from stackwright.core.errors import InvalidInput, NotFound
from stackwright.ui.pages import UserDep, WebUser, page_router
from stackwright.ui.settings import SETTINGS, checked_form, settings_page, web_actor

router = page_router()
PASSWORD = f"{SETTINGS}/password"
RESET = f"{SETTINGS}/password-reset"


def _field_error(exc: InvalidInput | NotFound, default: str) -> dict[str, str]:
    field = exc.details.get("field", default) if isinstance(exc.details, dict) else default
    return {field: exc.message}


def _may_reset(request: Request, user: WebUser) -> bool:
    with get_db(request).read() as session:
        return passwords.may_set_passwords(session, web_actor(request, user))


def _password_page(request: Request, user: WebUser, status: int = 200, **context: Any) -> Response:
    context.setdefault("errors", {})
    return settings_page(request, "settings_password.html", user, status, minimum=passwords.MIN_PASSWORD_LENGTH,
                         may_reset=_may_reset(request, user), **context)  # fmt: skip


@router.get(PASSWORD)
def password_page(request: Request, user: UserDep) -> Response:
    return _password_page(request, user)


@router.post(PASSWORD)
async def change_password(request: Request, user: UserDep) -> Response:
    form = await checked_form(request, user)
    current, new = form.get("current_password", ""), form.get("new_password", "")
    if new != form.get("confirm_password", ""):
        return _password_page(request, user, 400, errors={"confirm_password": "The two new passwords differ."})
    try:
        with get_db(request).write() as session:
            passwords.change_own_password(session, web_actor(request, user), user.user_id, current, new, keep_session_id=user.session_id)
    except InvalidInput as exc:
        return _password_page(request, user, 400, errors=_field_error(exc, "new_password"))
    return RedirectResponse(f"{PASSWORD}?done=password", status_code=303)


def _reset_page(request: Request, user: WebUser, status: int = 200, **context: Any) -> Response:
    context.setdefault("errors", {})
    context.setdefault("email", "")
    return settings_page(request, "settings_password_reset.html", user, status, minimum=passwords.MIN_PASSWORD_LENGTH,
                         may_reset=_may_reset(request, user), **context)  # fmt: skip


@router.get(RESET)
def reset_page(request: Request, user: UserDep) -> Response:
    return _reset_page(request, user)


@router.post(RESET)
async def reset_password(request: Request, user: UserDep) -> Response:
    form = await checked_form(request, user)
    email = form.get("email", "")[:320]
    try:
        with get_db(request).write() as session:
            passwords.set_password(session, web_actor(request, user), email, form.get("new_password", ""))
    except (InvalidInput, NotFound) as exc:
        return _reset_page(request, user, exc.status, email=email, errors=_field_error(exc, "new_password"))
    return RedirectResponse(f"{RESET}?done=reset", status_code=303)
