"""Settings: the project's members and invitations (`/ui/settings/members`). The keys, audit and password pages
live beside this module and share its helpers.

Every change calls the auth service the API calls, with the signed-in user as the actor and their role mapped to
the scope their own API key would have (viewer read, member write, admin and owner admin). So a page can do no more
than the user's key could: the service refuses, and the refusal is a 403 page. Pages offer only the forms the user
may submit; a viewer sees the same pages read-only.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from stackwright.auth import invitations, service
from stackwright.auth.actors import ROLE_RANK, ROLE_SCOPE, Actor
from stackwright.auth.models import ROLES
from stackwright.core.deps import get_db, get_settings
from stackwright.core.errors import Conflict, InvalidInput
from stackwright.ui.nav import NavEntry, add_nav
from stackwright.ui.pages import UserDep, WebUser, check_csrf, form_fields, page_router, render

router = page_router()
SETTINGS = "/ui/settings"
MEMBERS = f"{SETTINGS}/members"
TABS = (("Members", MEMBERS), ("API keys", f"{SETTINGS}/keys"), ("Audit log", f"{SETTINGS}/audit"), ("Project", f"{SETTINGS}/project"),
        ("Password", f"{SETTINGS}/password"))
DONE = {  # ?done= codes after a change: fixed texts, never echoed input
    "invited": "Invitation sent. The person accepts it with their own account.",
    "role": "Role changed.",
    "removed": "Member removed; their keys in this project were revoked.",
    "revoked-invitation": "Invitation revoked.",
    "revoked-key": "Key revoked.",
    "password": "Your password was changed. Your other sessions were signed out.",
    "reset": "Password set. That user's sessions were signed out.",
}

add_nav(NavEntry("Settings", SETTINGS, 90))


def web_actor(request: Request, user: WebUser) -> Actor:
    """The signed-in user as the services' actor, with the scope their role's keys have in the current project."""
    role = user.project.role if user.project else None
    return Actor(
        label=f"web:{user.email}", project_id=user.project.project_id if user.project else None,
        scopes=(ROLE_SCOPE[role],) if role else (), user_id=user.user_id, request_id=getattr(request.state, "request_id", None),
    )  # fmt: skip


async def checked_form(request: Request, user: WebUser) -> dict[str, str]:
    """A signed-in form's fields after its CSRF check (a 403 page on a mismatch)."""
    form = await form_fields(request)
    check_csrf(user.csrf_token, form.get("csrf_token"))
    return form


def done_notice(request: Request) -> str | None:
    return DONE.get(request.query_params.get("done", ""))


def settings_page(request: Request, template: str, user: WebUser, status: int = 200, **context: Any) -> Response:
    context.setdefault("notice", done_notice(request))
    context.setdefault("problem", None)
    return render(request, template, status, user=user, tabs=TABS, **context)


def grantable_roles(user: WebUser) -> list[str]:
    """Roles the user may hand out: none below admin, and none above their own."""
    mine = ROLE_RANK.get(user.project.role if user.project else "", 0)
    if mine < ROLE_RANK["admin"]:
        return []
    return [role for role in ROLES if ROLE_RANK[role] <= mine]


@router.get(SETTINGS)
def settings_home() -> Response:
    return RedirectResponse(MEMBERS, status_code=303)


def _members_page(request: Request, user: WebUser, status: int = 200, **context: Any) -> Response:
    project_id = user.project_id
    actor = web_actor(request, user)
    with get_db(request).read() as session:
        members = service.list_members(session, project_id)
        pending = [i for i in invitations.list_for_project(session, project_id) if invitations.shown_status(i) == "pending"]
    roles = grantable_roles(user)
    rows = [
        {"user": u, "role": m.role, "manageable": bool(roles) and m.role in roles, "me": u.id == user.user_id}
        for u, m in members
    ]
    context.setdefault("errors", {})
    context.setdefault("values", {"email": "", "role": "member"})
    return settings_page(
        request, "settings_members.html", user, status, rows=rows, roles=roles, manager=actor.has_scope("admin"),
        invitations=pending if actor.has_scope("admin") else [],
        **context,
    )  # fmt: skip


@router.get(MEMBERS)
def members_page(request: Request, user: UserDep) -> Response:
    return _members_page(request, user)


@router.post(f"{MEMBERS}/invite")
async def invite(request: Request, user: UserDep) -> Response:
    form = await checked_form(request, user)
    values = {"email": form.get("email", "")[:320], "role": form.get("role", "")}
    try:
        with get_db(request).write() as session:
            invitations.invite(
                session, web_actor(request, user), user.project_id, values["email"], values["role"],
                get_settings(request).invitation_ttl_days,
            )  # fmt: skip
    except (InvalidInput, Conflict) as exc:
        field = "role" if "Role" in exc.message else "email"
        return _members_page(request, user, exc.status, values=values, errors={field: exc.message})
    return RedirectResponse(f"{MEMBERS}?done=invited", status_code=303)


@router.post(MEMBERS + "/{user_id}/role")
async def change_role(request: Request, user_id: str, user: UserDep) -> Response:
    form = await checked_form(request, user)
    try:
        with get_db(request).write() as session:
            service.set_member_role(session, web_actor(request, user), user.project_id, user_id, form.get("role", ""))
    except (InvalidInput, Conflict) as exc:
        return _members_page(request, user, exc.status, problem=exc.message)
    return RedirectResponse(f"{MEMBERS}?done=role", status_code=303)


@router.post(MEMBERS + "/{user_id}/remove")
async def remove(request: Request, user_id: str, user: UserDep) -> Response:
    await checked_form(request, user)
    try:
        with get_db(request).write() as session:
            service.remove_member(session, web_actor(request, user), user.project_id, user_id)
    except Conflict as exc:
        return _members_page(request, user, exc.status, problem=exc.message)
    return RedirectResponse(f"{MEMBERS}?done=removed", status_code=303)


@router.post(SETTINGS + "/invitations/{invitation_id}/revoke")
async def revoke_invitation(request: Request, invitation_id: str, user: UserDep) -> Response:
    await checked_form(request, user)
    try:
        with get_db(request).write() as session:
            invitations.revoke(session, web_actor(request, user), user.project_id, invitation_id)
    except Conflict as exc:
        return _members_page(request, user, exc.status, problem=exc.message)
    return RedirectResponse(f"{MEMBERS}?done=revoked-invitation", status_code=303)
