"""Provider secrets on the gateway page, for admins: store one (`POST /ui/gateway/secrets`, name and value) and
delete one after a confirmation page (`/ui/gateway/secrets/{name}/delete`).

Both call the gateway secrets service the API's `PUT`/`DELETE /api/v1/gateway/secrets/{name}` call: it refuses
anyone below admin (a forged post is a 403 page) and audits the change by name (`gateway.secret.set` /
`.delete`). The value goes from the form to the encrypted store only: no page, log line or audit entry holds it.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from stackwright.core.deps import get_db, get_settings
from stackwright.core.errors import InvalidInput, NotFound
from stackwright.gateway import secrets
from stackwright.gateway.service import read_config_trust
from stackwright.ui.gateway import GATEWAY, gateway_view
from stackwright.ui.pages import UserDep, page_router, render
from stackwright.ui.settings import checked_form, web_actor

router = page_router()
SECRETS = GATEWAY + "/secrets"
MAX_NAME_CHARS = 200  # longer names are refused anyway (at most 128); this bounds what the message quotes


def _changed(request: Request, project_id: str, done: str) -> Response:
    request.app.state.gateway.catalog.forget(project_id)  # this process's deployments pick the change up at once
    return RedirectResponse(f"{GATEWAY}?done={done}", status_code=303)


@router.post(SECRETS)
async def store(request: Request, user: UserDep) -> Response:
    form = await checked_form(request, user)
    name = form.get("name", "").strip()[:MAX_NAME_CHARS]
    try:
        with get_db(request).write() as session:
            secrets.store_secret(
                session, get_settings(request), web_actor(request, user), user.project_id, name, form.get("value", "")
            )
    except InvalidInput as exc:
        field = (exc.details or {}).get("field", "name")
        return await gateway_view(request, user, 400, secret_form={"name": name, "errors": {field: exc.message}})
    return _changed(request, user.project_id, "secret-stored")


def _users_of(spec: Any, name: str) -> list[str]:
    """The deployments of the applied config that take their key from the secret ``name``."""
    return [f"{m.name}/{i}" for m in spec.models for i, d in enumerate(m.deployments) if d.api_key_env == name]


@router.get(SECRETS + "/{name}/delete")
def confirm_delete(request: Request, name: str, user: UserDep) -> Response:
    web_actor(request, user).require_scope("admin", "Managing provider secrets")  # even the names are for admins
    with get_db(request).read() as session:
        found = next((s for s in secrets.list_secrets(session, user.project_id) if s["name"] == name), None)
        spec, _, _ = read_config_trust(session, user.project_id)
    if found is None:
        raise NotFound(f"No secret named {name[:MAX_NAME_CHARS]!r} in this project.")
    return render(request, "gateway_secret_delete.html", user=user, secret=found, used_by=_users_of(spec, name))


@router.post(SECRETS + "/{name}/delete")
async def delete(request: Request, name: str, user: UserDep) -> Response:
    await checked_form(request, user)
    with get_db(request).write() as session:
        secrets.delete_secret(session, web_actor(request, user), user.project_id, name[:MAX_NAME_CHARS])
    return _changed(request, user.project_id, "secret-deleted")
