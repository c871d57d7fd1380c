"""Deleting a guardrail policy from its page (`/ui/guardrails/policies/{name}/delete`), confirmed first.

The confirmation page says what is deleted and which requests lose their checks (the policy's route, when a
release route or a served model has that name, or every request for `*`) and what guards them instead. The
delete goes through the guardrails service the API's DELETE calls: it refuses viewers (a 403 page), audits
the change and, given the revision the page showed, refuses when the policy changed meanwhile (said inline).
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from stackwright.core.deps import get_db
from stackwright.core.errors import Conflict
from stackwright.guardrails import service
from stackwright.guardrails.api import forget_policies
from stackwright.ui.guardrails import GUARDRAILS
from stackwright.ui.pages import UserDep, WebUser, page_router, render
from stackwright.ui.settings import checked_form, web_actor

router = page_router()


async def _guarded(request: Request, project_id: str, route: str) -> list[str]:
    """What in this project carries the policy's route: release routes (per environment) and served models."""
    from stackwright.releases.service import list_releases

    if route == "*":
        return []
    with get_db(request).read() as session:
        found = [f"release route {r['route']} ({r['env']})" for r in list_releases(session, project_id) if r["route"] == route]
    project = await request.app.state.gateway.catalog.get(project_id)
    if route in project.models:
        found.append(f"gateway model {route}")
    return found


async def _confirm_page(request: Request, user: WebUser, name: str, status: int = 200, problem: str | None = None) -> Response:
    with get_db(request).read() as session:
        policy = service.payload(service.get_row(session, user.project_id, name[:128]))
        others = {p["route"]: p["name"] for p in service.list_policies(session, user.project_id) if p["name"] != policy["name"]}
    fallback = others.get("*") if policy["route"] != "*" else None
    return render(request, "guardrails_delete.html", status, user=user, policy=policy, problem=problem, fallback=fallback,
                  guarded=await _guarded(request, user.project_id, policy["route"]), editor=web_actor(request, user).has_scope("write"))  # fmt: skip


@router.get(GUARDRAILS + "/policies/{name}/delete")
async def confirm_delete(request: Request, name: str, user: UserDep) -> Response:
    return await _confirm_page(request, user, name)


@router.post(GUARDRAILS + "/policies/{name}/delete")
async def delete_policy(request: Request, name: str, user: UserDep) -> Response:
    form = await checked_form(request, user)
    raw = form.get("revision", "")
    if not raw.isdigit():  # never delete blind: the revision says which policy the person saw
        return await _confirm_page(
            request, user, name, 400, problem="The form did not say which revision of the policy you saw; confirm again."
        )
    revision = int(raw)
    try:
        with get_db(request).write() as session:
            service.delete_policy(session, web_actor(request, user), user.project_id, name[:128], expected_revision=revision)
    except Conflict as exc:
        return await _confirm_page(request, user, name, 409, problem=exc.message)
    forget_policies(request, user.project_id)  # this process stops applying it at once, as after the API's DELETE
    return RedirectResponse(f"{GUARDRAILS}?done=deleted", status_code=303)
