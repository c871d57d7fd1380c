"""The gateway (`/ui/gateway`): the models the project serves with their deployments, fallbacks, retries, cache
and health (consecutive failures and cooldowns, as this server process sees them); the applied config as YAML;
the provider secrets by name (admins only, as the API's `GET /api/v1/gateway/secrets`; values never leave the
store), with forms to store and delete them (ui/gateway_secrets.py); and a "Test model" form
(`POST /ui/gateway/test`) that sends one short chat request through the whole gateway path, as
`stackwright gateway test` does, showing the answer inline. Testing needs the member role
(the test's service refuses a viewer); the call is traced and counted against budgets like any other.
Usage and budgets are on `/ui/usage`.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from stackwright.auth.actors import Caller
from stackwright.core.deps import get_db
from stackwright.gateway import secrets
from stackwright.gateway.admin_api import run_test
from stackwright.gateway.catalog import ProjectGateway, describe
from stackwright.gateway.service import read_config_trust
from stackwright.ui.nav import NavEntry, add_nav
from stackwright.ui.pages import UserDep, WebUser, page_router, render
from stackwright.ui.settings import checked_form, web_actor

router = page_router()
GATEWAY = "/ui/gateway"
add_nav(NavEntry("Gateway", GATEWAY, 37))

MAX_PROMPT = 4000  # as POST /api/v1/gateway/test takes it
DEFAULT_PROMPT = "Say hello in five words."
DONE = {"secret-stored": "Secret stored, encrypted. Deployments that name it use it from their next request.",
        "secret-deleted": "Secret deleted. Deployments that named it have no key now."}  # fmt: skip


def _health(request: Request, project_id: str, deployment_id: str) -> dict[str, Any]:
    health = request.app.state.gateway.router.health
    key = f"{project_id}:{deployment_id}"
    until = health.cooling_until(key)
    return {"failures": health.failures(key), "cooldown_left_s": round(until - time.monotonic(), 1) if until else None}


def _models(request: Request, project: ProjectGateway) -> list[dict[str, Any]]:
    rows = []
    for row in describe(project):
        served = project.models[row["name"]]
        cache = served.cache or project.cache
        deployments = [{**d, **_health(request, project.project_id, d["id"])} for d in row["deployments"]]
        rows.append({**row, "deployments": deployments, "cache": f"{cache.mode}, {cache.ttl_s} s" + ("" if served.cache else " (project default)"),
                     "cooldown_s": served.cooldown_s, "failures_to_cooldown": served.failures_to_cooldown,
                     "rules": [{"when": when, "use": use} for when, use in served.rules]})  # fmt: skip
    return rows


def _config_yaml(spec: Any) -> str:
    import yaml

    return yaml.safe_dump(spec.model_dump(mode="json", exclude_none=True), sort_keys=False, allow_unicode=True)


async def gateway_view(request: Request, user: WebUser, status: int = 200, **context: Any) -> Response:
    project_id = user.project_id
    actor = web_actor(request, user)
    project = await request.app.state.gateway.catalog.get(project_id)
    with get_db(request).read() as session:
        spec, revision, by_operator = read_config_trust(session, project_id)
        stored = secrets.list_secrets(session, project_id) if actor.has_scope("admin") else None
    context.setdefault("values", {"model": "", "prompt": DEFAULT_PROMPT})
    context.setdefault("errors", {})
    context.setdefault("result", None)
    context.setdefault("secret_form", {"name": "", "errors": {}})
    context.setdefault("notice", DONE.get(request.query_params.get("done", "")))
    return render(request, "gateway.html", status, user=user, models=_models(request, project), config_yaml=_config_yaml(spec),
                  revision=revision, by_operator=by_operator, secrets=stored, can_test=actor.has_scope("write"),
                  max_prompt=MAX_PROMPT, **context)  # fmt: skip


@router.get(GATEWAY)
async def gateway_page(request: Request, user: UserDep) -> Response:
    return await gateway_view(request, user)


def _caller(request: Request, user: WebUser) -> Caller:
    actor = web_actor(request, user)
    return Caller(label=actor.label, project_id=user.project_id, scopes=actor.scopes, user_id=actor.user_id, request_id=actor.request_id)


@router.post(GATEWAY + "/test")
async def test_model(request: Request, user: UserDep) -> Response:
    form = await checked_form(request, user)
    values = {"model": form.get("model", "").strip(), "prompt": form.get("prompt", "")}
    errors: dict[str, str] = {}
    project = await request.app.state.gateway.catalog.get(user.project_id)
    if not values["model"]:
        errors["model"] = "Pick a model to test."
    elif values["model"] not in project.models:
        errors["model"] = f"{values['model'][:200]!r} is not a model this project's gateway serves; pick one from the list."
    if not values["prompt"].strip():
        errors["prompt"] = "Write a message to send."
    elif len(values["prompt"]) > MAX_PROMPT:
        errors["prompt"] = f"The message is {len(values['prompt']):,} characters long; the limit is {MAX_PROMPT:,}."
    if errors:
        return await gateway_view(request, user, 400, values=values, errors=errors)
    result = await run_test(request.app.state.gateway, _caller(request, user), values["model"], values["prompt"])
    return await gateway_view(request, user, values=values, result=result)
