"""What every page shares: the templates (autoescaped), the security headers, HTML error pages, the
signed-in user, CSRF checks, and the UI's own static files.

Routes use ``PageRoute``: whatever a page raises becomes an HTML page with the right status (a missing
trace is a 404 page, a bad CSRF token a 403 page, a bug a 500 page naming the request id), never a stack
trace or the API's JSON; a request without a live session is sent to the sign-in page.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import HTTPException, RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute

from stackwright.auth.actors import ROLE_RANK
from stackwright.auth.models import WebSession
from stackwright.auth.web_sessions import ProjectRole, find_session, projects_of
from stackwright.core.deps import get_db, get_settings
from stackwright.core.errors import Forbidden, InvalidInput, StackwrightError
from stackwright.ui.nav import nav_entries

log = logging.getLogger("stackwright.ui")
HERE = Path(__file__).parent
SESSION_COOKIE = "sw_session"
SIGN_IN = "/ui/sign-in"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'; object-src 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


@lru_cache(maxsize=1)
def _templates() -> Any:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    return Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True, undefined=StrictUndefined)


@dataclass(frozen=True)
class WebUser:
    """The signed-in person, the project their browser is looking at, and their role there."""

    session_id: str
    user_id: str
    email: str
    csrf_token: str
    projects: tuple[ProjectRole, ...]
    project: ProjectRole | None

    @property
    def project_id(self) -> str:
        if self.project is None:
            raise Forbidden("You are not a member of any project yet.", hint="Ask a project's admin to invite you.")
        return self.project.project_id

    def require_role(self, role: str) -> None:
        """Forbidden unless the user's role in the current project is at least ``role`` (viewer < member < admin < owner)."""
        mine = self.project.role if self.project else None
        if ROLE_RANK.get(mine or "", 0) < ROLE_RANK[role]:
            raise Forbidden(f"This needs the {role!r} role in the project; yours is {mine or 'none'}.",
                            hint="Ask an admin of the project for a higher role.")  # fmt: skip


class SignInNeeded(Exception):
    def __init__(self, expired: bool):
        self.expired = expired


def render(request: Request, template: str, status: int = 200, user: WebUser | None = None, **context: Any) -> HTMLResponse:
    html = _templates().get_template(template).render(
        user=user, nav=nav_entries(), path=request.url.path, csrf_token=user.csrf_token if user else "", **context
    )
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


def cursor_page(request: Request, fetch: Callable[[Any, str | None], tuple[list[Any], str | None]]) -> tuple[list[Any], str | None, str | None]:
    """One page of a cursor-paged list: ``fetch(session, cursor)``'s items and next cursor, and the message of a
    cursor that cannot be read (edited by hand) in place of the items."""
    cursor = request.query_params.get("cursor") or None
    try:
        with get_db(request).read() as session:
            items, next_cursor = fetch(session, cursor)
    except InvalidInput as exc:
        return [], None, exc.message
    return items, next_cursor, None


def error_page(request: Request, status: int, message: str, user: WebUser | None = None) -> HTMLResponse:
    titles = {400: "Bad request", 403: "Not allowed", 404: "Not found", 429: "Too many attempts"}
    title = titles.get(status, "Something went wrong" if status >= 500 else "Cannot do that")
    request_id = getattr(request.state, "request_id", None)
    return render(request, "error.html", status, user=user, title=title, message=message, code=status, request_id=request_id)


def _to_sign_in(request: Request, expired: bool) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    query = f"?next={quote(target, safe='')}" + ("&expired=1" if expired else "")
    response = RedirectResponse(SIGN_IN + query, status_code=303)
    if expired:
        response.delete_cookie(SESSION_COOKIE, path="/")
    return response


class PageRoute(APIRoute):
    """A route answering HTML pages: errors become error pages, a missing session a redirect to sign in."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                response = await handler(request)
            except SignInNeeded as exc:
                response = _to_sign_in(request, exc.expired)
            except StackwrightError as exc:
                response = error_page(request, exc.status if exc.status < 500 else 500, exc.message)
            except HTTPException as exc:
                response = error_page(request, exc.status_code, str(exc.detail))
            except RequestValidationError:
                response = error_page(request, 400, "The address has a value that is not valid. Go back and check the link.")
            except Exception:
                log.exception("page %s failed", request.url.path)
                response = error_page(request, 500, "The page could not be shown because of an error on the server.")
            response.headers.update(SECURITY_HEADERS)
            return response

        return page


def page_router() -> APIRouter:
    return APIRouter(route_class=PageRoute, include_in_schema=False)


# -- the signed-in user --------------------------------------------------------------------------


def signed_in(request: Request) -> WebUser:
    """The live session's user; SignInNeeded (a redirect to the sign-in page) without one."""
    db, settings = get_db(request), get_settings(request)
    row, expired = find_session(db, request.cookies.get(SESSION_COOKIE), timedelta(minutes=settings.web_session_idle_minutes))
    if row is None:
        raise SignInNeeded(expired)
    return _web_user(request, row)


def _web_user(request: Request, row: WebSession) -> WebUser:
    from stackwright.auth.models import User

    with get_db(request).read() as session:
        user = session.get(User, row.user_id)
        projects = tuple(projects_of(session, row.user_id))
    if user is None:
        raise SignInNeeded(True)
    current = next((p for p in projects if p.project_id == row.project_id), projects[0] if projects else None)
    return WebUser(row.id, user.id, user.email, row.csrf_token, projects, current)


UserDep = Annotated[WebUser, Depends(signed_in)]


async def form_fields(request: Request) -> dict[str, str]:
    """An urlencoded form's fields (the first value of each)."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return {name: values[0] for name, values in parse_qs(body, keep_blank_values=True).items()}


class BadCsrfToken(Forbidden):
    code = "bad_csrf_token"


def check_csrf(expected: str, given: str | None) -> None:
    """Forms send ``csrf_token``; scripts send the X-CSRF-Token header. A mismatch is a 403 page."""
    if not given or not expected or not hmac.compare_digest(expected.encode(), given.encode()):
        raise BadCsrfToken(
            "This form could not be accepted: its security token is missing or out of date (CSRF check).",
            hint="Go back, reload the page and submit the form again.",
        )


# -- static files and unknown pages --------------------------------------------------------------

static_router = APIRouter(include_in_schema=False)
_STATIC_TYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}


@lru_cache(maxsize=1)
def _static_files() -> dict[str, Path]:
    return {p.name: p for p in (HERE / "static").iterdir() if p.suffix in _STATIC_TYPES}


@static_router.get("/ui/static/{name}")
def static_file(name: str) -> Response:
    path = _static_files().get(name)
    if path is None:
        return Response("Not found", status_code=404, media_type="text/plain", headers=SECURITY_HEADERS)
    headers = {"Cache-Control": "public, max-age=3600", **SECURITY_HEADERS}
    return FileResponse(path, media_type=_STATIC_TYPES[path.suffix], headers=headers)


fallback_router = page_router()


@fallback_router.get("/ui")
def ui_home() -> Response:
    from stackwright.ui.layer import HOME

    return RedirectResponse(HOME, status_code=303)


@fallback_router.get("/ui/{rest:path}")
def unknown_page(request: Request, user: UserDep) -> Response:
    if request.url.path == "/ui/":
        return ui_home()
    return error_page(request, 404, f"There is no page at {request.url.path[:200]}.", user=user)
