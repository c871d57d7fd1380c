"""Signing in and out of the web UI, and switching the project a browser looks at.

The sign-in form carries a token matched against a short-lived cookie (so another site cannot sign a
browser in); every form of a signed-in page carries the session's CSRF token.
"""

from __future__ import annotations

import secrets

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from stackwright.auth.web_sessions import end_session, limits_text, sign_in, switch_project
from stackwright.core.deps import get_db
from stackwright.ui.layer import HOME
from stackwright.ui.pages import SESSION_COOKIE, SIGN_IN, UserDep, check_csrf, form_fields, page_router, render

router = page_router()
SIGN_IN_COOKIE = "sw_sign_in"


def _safe_next(target: str | None) -> str:
    """Only a page of this UI: never another site (``//host``) or a scheme."""
    if target and target.startswith("/ui") and not target.startswith("//") and "\\" not in target and ":" not in target.split("?")[0]:
        return target
    return HOME


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _sign_in_page(request: Request, status: int = 200, error: str | None = None, email: str = "") -> Response:
    token = secrets.token_urlsafe(32)
    next_page = _safe_next(request.query_params.get("next"))
    notice = "Your session expired; sign in again." if request.query_params.get("expired") else None
    response = render(
        request, "sign_in.html", status, sign_in_token=token, next_page=next_page, error=error, notice=notice, email=email,
        limits=limits_text(),
    )  # fmt: skip
    response.set_cookie(SIGN_IN_COOKIE, token, httponly=True, samesite="lax", secure=_secure(request), path=SIGN_IN)
    return response


@router.get(SIGN_IN)
def sign_in_form(request: Request) -> Response:
    return _sign_in_page(request)


@router.post(SIGN_IN)
async def sign_in_submit(request: Request) -> Response:
    form = await form_fields(request)
    check_csrf(request.cookies.get(SIGN_IN_COOKIE, ""), form.get("csrf_token"))
    email, password = form.get("email", ""), form.get("password", "")
    address = request.client.host if request.client else "unknown"
    signed = sign_in(get_db(request), email, password, address) if email and password else None
    if signed is None:
        return _sign_in_page(request, 401, "Wrong email or password.", email=email[:320])
    token, _ = signed
    response = RedirectResponse(_safe_next(form.get("next")), status_code=303)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=_secure(request), path="/")
    response.delete_cookie(SIGN_IN_COOKIE, path=SIGN_IN)
    return response


@router.post("/ui/sign-out")
async def sign_out(request: Request, user: UserDep) -> Response:
    form = await form_fields(request)
    check_csrf(user.csrf_token, form.get("csrf_token") or request.headers.get("x-csrf-token"))
    end_session(get_db(request), user.session_id)
    response = RedirectResponse(SIGN_IN, status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/ui/project")
async def choose_project(request: Request, user: UserDep) -> Response:
    form = await form_fields(request)
    check_csrf(user.csrf_token, form.get("csrf_token") or request.headers.get("x-csrf-token"))
    switch_project(get_db(request), user.session_id, user.user_id, form.get("project_id", ""))
    return RedirectResponse(HOME, status_code=303)
