"""Releases (`/ui/releases`): every route per environment, and one release (`/ui/releases/{route}?env=`) with its
stable and candidate configs, rules, required evaluation and its status, last rollback, the live arm comparison
and the paged history.

Actions (start a canary, change its share, promote, roll back after a confirmation page) call the releases
service the API and CLI call, with the signed-in user as the actor: the service checks the role (a viewer's
forged post is a 403 page) and audits the change. Every form carries the release's revision; a concurrent
change makes the service refuse, and the page says so beside the form, with nothing applied.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from stackwright.core.deps import get_db
from stackwright.core.errors import Conflict, InvalidInput, NotFound
from stackwright.releases import gates, service
from stackwright.releases.history import change_view, list_changes
from stackwright.releases.models import Release
from stackwright.releases.schemas import MODES
from stackwright.ui.nav import NavEntry, add_nav
from stackwright.ui.pages import UserDep, WebUser, page_router, render
from stackwright.ui.release_arms import live_arms
from stackwright.ui.settings import checked_form, web_actor

router = page_router()
RELEASES = "/ui/releases"
HISTORY_PAGE = 20
PROMPT_CHOICES = 20
DONE = {  # ?done= codes: fixed texts, never echoed input
    "canary": "Candidate started.",
    "share": "Share changed.",
    "promoted": "Candidate promoted: it is the stable config now.",
    "rolled-back": "Rolled back.",
    "rules": "Rules saved.",
}

add_nav(NavEntry("Releases", RELEASES, 35))


def release_url(route: str, env: str, **extra: str) -> str:
    query = "".join(f"&{name}={quote(value, safe='')}" for name, value in extra.items())
    return f"{RELEASES}/{quote(route, safe='')}?env={quote(env, safe='')}{query}"


def _gate(session: Any, project_id: str, row: Release) -> dict[str, Any] | None:
    """The required evaluation's status, or None when none is required."""
    if not row.required_eval:
        return None
    result = gates.check_promotion(session, project_id, row)
    return {"name": row.required_eval, "passed": result.passed, "detail": result.detail}


@router.get(RELEASES)
def release_list(request: Request, user: UserDep) -> Response:
    project_id = user.project_id
    rows = []
    with get_db(request).read() as session:
        for view in service.list_releases(session, project_id):
            row = service.get_release(session, project_id, view["route"], view["env"]) if view["required_eval"] else None
            rows.append({**view, "gate": _gate(session, project_id, row) if row is not None else None,
                         "href": release_url(view["route"], view["env"])})  # fmt: skip
    return render(request, "releases.html", user=user, rows=rows)


def _prompt_choices(session: Any, project_id: str, row: Release) -> list[str]:
    from stackwright.prompts.service import list_versions

    name = (row.stable or {}).get("prompt_name")
    if not name:
        return []
    try:
        versions, _ = list_versions(session, project_id, name, limit=PROMPT_CHOICES)
    except NotFound:
        return []
    return [f"{v['name']}@{v['version']}" for v in versions]


def rules_form_values(rules: dict[str, Any] | None, required_eval: str | None) -> dict[str, str]:
    """The form's fields as they show a release's current rules."""
    rules = rules or {}
    margin = rules.get("error_rate_margin")
    p95 = rules.get("p95_margin_ms")
    return {
        "error_rate": "" if margin is None else f"{margin * 100:g}",
        "p95_ms": "" if p95 is None else f"{p95:g}",
        "scores": "\n".join(f"{name}: {value:g}" for name, value in (rules.get("scores") or {}).items()),
        "min_requests": str(rules.get("min_requests", 100)),
        "require_eval": required_eval or "",
    }


def release_page(request: Request, user: WebUser, route: str, env: str, status: int = 200, **context: Any) -> Response:
    project_id = user.project_id
    cursor = request.query_params.get("cursor") or None
    with get_db(request).read() as session:
        row = service.get_release(session, project_id, route, env)
        view = service.status_view(session, row)
        gate = _gate(session, project_id, row)
        arms = live_arms(session, project_id, row.route, row.environment, row.candidate_started_at, row.candidate_mode) \
            if row.candidate is not None and row.candidate_started_at is not None else None  # fmt: skip
        changes, next_cursor = list_changes(session, row, cursor=cursor, limit=HISTORY_PAGE)
        history = [change_view(c) for c in changes]
        choices = _prompt_choices(session, project_id, row)
    candidate, actor = view["candidate"], web_actor(request, user)
    context.setdefault("errors", {})
    context.setdefault("problem", None)
    context.setdefault("values", {"prompt": choices[0] if choices else "", "share": "10", "mode": "canary", "model": ""})
    context.setdefault("share_value", f"{candidate['share']:g}" if candidate else "")
    context.setdefault("rules_values", rules_form_values(view["rollback_rules"], view["required_eval"]))
    return render(
        request, "release.html", status, user=user, release=view, gate=gate, arms=arms, history=history,
        next_page=release_url(route, env, cursor=next_cursor) if next_cursor else None, first_page=release_url(route, env) if cursor else None,
        choices=choices, modes=MODES, can_write=actor.has_scope("write"), is_admin=actor.has_scope("admin"),
        notice=DONE.get(request.query_params.get("done", "")), url=release_url(route, env), **context,
    )  # fmt: skip


@router.get(RELEASES + "/{route}")
def release_detail(request: Request, route: str, user: UserDep) -> Response:
    env = request.query_params.get("env", "")
    if not env:
        with get_db(request).read() as session:
            envs = sorted(v["env"] for v in service.list_releases(session, user.project_id) if v["route"] == route)
        if not envs:
            raise NotFound(f"No release for route {route[:200]!r}.")
        return RedirectResponse(release_url(route, envs[0]), status_code=303)
    return release_page(request, user, route, env)


def form_revision(form: dict[str, str]) -> int | None:
    raw = form.get("revision", "").strip()
    return int(raw) if raw.isdigit() else None


def _share(raw: str) -> Any:
    """A number when the text is one; otherwise the text, which the service refuses with its message."""
    try:
        return float(raw)
    except ValueError:
        return raw.strip()[:40]


def changed(request: Request, project_id: str, route: str, env: str, done: str) -> Response:
    from stackwright.releases.resolver import resolver_for

    resolver_for(get_db(request)).forget(project_id, route, env)
    return RedirectResponse(release_url(route, env, done=done), status_code=303)


def _field_of(exc: InvalidInput | NotFound) -> str:
    text = exc.message
    if text.startswith("Share"):
        return "share"
    if text.startswith("Mode"):
        return "mode"
    if text.startswith("Model"):
        return "model"
    return "prompt"


def apply_change(request: Request, user: WebUser, route: str, env: str, work: Any) -> InvalidInput | NotFound | Conflict | None:
    """``work(session)`` in one transaction; what the service refused (nothing applied), or None when done.
    An unknown release (or another project's) is a 404 page, not a message beside a field."""
    with get_db(request).read() as session:
        service.get_release(session, user.project_id, route, env)
    try:
        with get_db(request).write() as session:
            work(session)
    except (InvalidInput, NotFound, Conflict) as exc:
        return exc
    return None


@router.post(RELEASES + "/{route}/canary")
async def start_canary(request: Request, route: str, user: UserDep) -> Response:
    form = await checked_form(request, user)
    env = form.get("env", "")
    values = {name: form.get(name, "")[:300] for name in ("prompt", "share", "mode", "model")}
    actor = web_actor(request, user)
    refused = apply_change(request, user, route, env, lambda session: service.start_candidate(
        session, actor, user.project_id, route, env, values["prompt"].strip(), share=_share(values["share"]),
        mode=values["mode"] or "canary", model=values["model"].strip() or None, expected_revision=form_revision(form),
    ))  # fmt: skip
    if isinstance(refused, Conflict):
        return release_page(request, user, route, env, 409, values=values, problem=refused.message)
    if refused is not None:
        return release_page(request, user, route, env, 400, values=values, errors={_field_of(refused): refused.message})
    return changed(request, user.project_id, route, env, "canary")


@router.post(RELEASES + "/{route}/share")
async def change_share(request: Request, route: str, user: UserDep) -> Response:
    form = await checked_form(request, user)
    env, share = form.get("env", ""), form.get("share", "")[:40]
    actor = web_actor(request, user)

    def work(session: Any) -> None:
        actor.require_scope("write", "Changing a candidate's share")
        row = service.get_release(session, user.project_id, route, env, lock=True)
        if row.candidate is None:
            raise Conflict(f"Route {route!r} in {env!r} has no candidate any more: start one first.")
        config = row.candidate
        service.start_candidate(
            session, actor, user.project_id, route, env, config["prompt"], share=_share(share), mode=row.candidate_mode or "canary",
            model=config["model"], params=config.get("params"), settings=config.get("settings"), expected_revision=form_revision(form),
        )  # fmt: skip

    refused = apply_change(request, user, route, env, work)
    if refused is not None:
        status, where = (409, "problem") if isinstance(refused, Conflict) else (400, "errors")
        found = {"problem": refused.message} if where == "problem" else {"errors": {"new_share": refused.message}}
        return release_page(request, user, route, env, status, share_value=share, **found)
    return changed(request, user.project_id, route, env, "share")


@router.post(RELEASES + "/{route}/promote")
async def promote(request: Request, route: str, user: UserDep) -> Response:
    form = await checked_form(request, user)
    env = form.get("env", "")
    actor = web_actor(request, user)
    refused = apply_change(request, user, route, env, lambda session: service.promote(
        session, actor, user.project_id, route, env, expected_revision=form_revision(form)))  # fmt: skip
    if refused is not None:
        return release_page(request, user, route, env, refused.status, problem=refused.message)
    return changed(request, user.project_id, route, env, "promoted")


def _confirm_page(
    request: Request, user: WebUser, route: str, env: str, status: int = 200, problem: str | None = None
) -> Response:
    with get_db(request).read() as session:
        view = service.release_view(service.get_release(session, user.project_id, route, env))
    return render(request, "release_rollback.html", status, user=user, release=view, url=release_url(route, env), problem=problem,
                  can_write=web_actor(request, user).has_scope("write"))  # fmt: skip


@router.get(RELEASES + "/{route}/rollback")
def confirm_rollback(request: Request, route: str, user: UserDep) -> Response:
    return _confirm_page(request, user, route, request.query_params.get("env", ""))


@router.post(RELEASES + "/{route}/rollback")
async def rollback(request: Request, route: str, user: UserDep) -> Response:
    form = await checked_form(request, user)
    env, reason = form.get("env", ""), form.get("reason", "").strip()[:500] or None
    actor = web_actor(request, user)
    refused = apply_change(request, user, route, env, lambda session: service.rollback(
        session, actor, user.project_id, route, env, reason=reason, expected_revision=form_revision(form)))  # fmt: skip
    if refused is not None:
        return _confirm_page(request, user, route, env, refused.status, problem=refused.message)
    return changed(request, user.project_id, route, env, "rolled-back")
