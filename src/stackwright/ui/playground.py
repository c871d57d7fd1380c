"""The playground (`/ui/playground`): messages (free, or a prompt version's templates with its variables)
run through the gateway on up to three model configurations side by side.

- `?prompt={name}&version={n}` opens a prompt version; `?trace={id}&span={id}` replays a span (its exact
  messages with their tool calls, model, parameters and recorded tools, with its recorded output as the
  "before" column); another project's trace or span is a 404 page.
- `POST /ui/playground` runs every configuration and shows the page with their outputs (works without
  JavaScript); `POST /ui/playground/stream` (the page's script, CSRF in the X-CSRF-Token header) streams one
  configuration's tokens as JSON lines, then its tokens, cost, latency and trace.
- `POST /ui/playground/save` pushes the messages and the first configuration as a new version of a prompt
  through the prompts service (audited as ``prompt.push``; viewers are refused by it).
- The sweep form posts the first configuration with a dataset and scorers to `POST /ui/evals/new`.

Runs go through the gateway as the signed-in user (see ``playground_run``): a bad model or parameter is
shown beside its field; a budget, rate limit or guardrail refusal is the gateway's own message in its column.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import quote

import orjson
from fastapi import Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from stackwright.core.deps import get_db
from stackwright.core.errors import Forbidden, InvalidInput, NotFound, StackwrightError
from stackwright.prompts import service as prompts
from stackwright.tracing import queries
from stackwright.ui import playground_run as runs
from stackwright.ui.dataset_picker import dataset_choices
from stackwright.ui.nav import NavEntry, add_nav
from stackwright.ui.pages import UserDep, WebUser, check_csrf, form_fields, page_router, render
from stackwright.ui.playground_draft import (
    COLUMNS,
    ROLES,
    Draft,
    check_messages,
    from_form,
    from_span,
    from_version,
    params_of,
    recorded,
    rendered_messages,
    template_variables,
)
from stackwright.ui.playground_tools import shown_calls, wire
from stackwright.ui.settings import checked_form, web_actor

router = page_router()
PLAYGROUND = "/ui/playground"
PROMPT_CHOICES = 200
add_nav(NavEntry("Playground", PLAYGROUND, 32))


def _gateway(request: Request) -> Any:
    return request.app.state.gateway


def _scorers() -> list[str]:
    from stackwright.core.plugins import scorers
    from stackwright.evals.scorers import ensure_builtins

    ensure_builtins()
    return [name for name in scorers.names() if name != "python"]  # python scorers need a spec file


def _source(session: Any, project_id: str, draft: Draft) -> tuple[dict[str, Any] | None, bool]:
    """The source prompt version's variable schema, and whether the messages are still its templates."""
    if not (draft.prompt and draft.version.isdigit()):
        return None, False
    try:
        row = prompts.get_version(session, project_id, draft.prompt, version=int(draft.version))
    except (NotFound, InvalidInput):
        return None, False
    return row.variables, draft.templated and draft.messages == from_version(row).messages


def _prompt_params(session: Any, project_id: str, span: dict[str, Any]) -> dict[str, Any] | None:
    """The parameters stored with the prompt version a span names (the gateway sends them with the call)."""
    if not (span.get("prompt_name") and str(span.get("prompt_version") or "").isdigit()):
        return None
    try:
        return dict(prompts.get_version(session, project_id, span["prompt_name"], version=int(span["prompt_version"])).params or {})
    except (NotFound, InvalidInput):  # deleted since, or a name this registry would not store
        return None


async def _prepare(request: Request, user: WebUser, draft: Draft, project: Any) -> tuple[dict[int, dict[str, Any]], dict[str, str], dict[str, Any]]:
    """Each configuration's request body, the problems keyed by field, and the span attributes of the calls."""
    errors = check_messages(draft)
    served = runs.chat_models(project)
    if not draft.active():
        errors["model-0"] = "Pick a model to run."
    params: dict[int, dict[str, Any]] = {}
    for i in draft.active():
        model = draft.columns[i].model
        if model not in served:
            errors[f"model-{i}"] = f"{model[:200]!r} is not a chat model this project's gateway serves; pick one from the list."
        params[i], problem = params_of(draft.columns[i], i)
        errors |= problem
    schema, unchanged, rendered, problem = None, False, draft.messages, {}
    if draft.prompt or draft.templated:  # plain messages need no database
        with get_db(request).read() as session:
            schema, unchanged = _source(session, user.project_id, draft)
            rendered, problem = rendered_messages(session, user.project_id, draft, schema) if "messages" not in errors else ([], {})
    errors |= problem
    caller = runs.web_caller(request, user)
    attributes = runs.call_attributes(caller, (draft.prompt, draft.version) if unchanged else None)
    bodies = {i: {**params[i], "model": draft.columns[i].model, "messages": wire(rendered)} for i in draft.active()}
    return bodies, errors, attributes


async def _page(request: Request, user: WebUser, draft: Draft, status: int = 200, errors: dict[str, str] | None = None,
                outcomes: dict[int, runs.Outcome] | None = None) -> Response:  # fmt: skip
    project_id = user.project_id
    can_write = web_actor(request, user).has_scope("write")
    before = None
    with get_db(request).read() as session:
        if draft.trace and draft.span:
            before = recorded(queries.get_span(session, project_id, draft.trace, draft.span))
        _, unchanged = _source(session, project_id, draft)
        prompt_names = [p["name"] for p in prompts.list_prompts(session, project_id, limit=PROMPT_CHOICES)[0]]
        datasets = dataset_choices(session, project_id) if can_write else []
    served = runs.chat_models(await _gateway(request).catalog.get(project_id))
    names, template_errors = template_variables(draft)
    errors = {**template_errors, **(errors or {})}
    messages = [*draft.messages, {"role": "user", "content": ""}] if draft.messages else [{"role": "system", "content": ""}, {"role": "user", "content": ""}]
    rows = [{"tool_calls": "", "tool_call_id": "", **m, "calls": shown_calls(m.get("tool_calls"))} for m in messages]
    first = draft.columns[0]
    plain = [{"role": m["role"], "content": m["content"]} for m in draft.messages if m["content"].strip()]  # a sweep runs no tool calls
    sweep = {"model": first.model, "params": first.params, "messages": json.dumps(plain, ensure_ascii=False),
             "prompt": draft.prompt if unchanged else "", "prompt_version": draft.version if unchanged else ""}  # fmt: skip
    return render(
        request, "playground.html", status, user=user, draft=draft, rows=rows, roles=ROLES, variables=names, errors=errors,
        models=served, columns=range(COLUMNS), outcomes=outcomes or {}, before=before, can_write=can_write,
        prompt_names=prompt_names, datasets=datasets, scorers=_scorers() if can_write else [], sweep=sweep,
    )  # fmt: skip


@router.get(PLAYGROUND)
async def playground(request: Request, user: UserDep) -> Response:
    q = request.query_params
    trace, span, prompt, version = (q.get(k, "").strip() for k in ("trace", "span", "prompt", "version"))
    draft = Draft()
    if trace or span:
        if not (trace and span):
            raise InvalidInput("A replay needs both the trace and the span: open it from a span's Replay link.")
        with get_db(request).read() as session:
            found = queries.get_span(session, user.project_id, trace, span)
            draft = from_span(found, _prompt_params(session, user.project_id, found))
    elif prompt:
        if version and not version.isdigit():
            raise InvalidInput(f"The version must be a number, not {version[:40]!r}.")
        with get_db(request).read() as session:
            draft = from_version(prompts.get_version(session, user.project_id, prompt, version=int(version) if version else None))
    return await _page(request, user, draft)


@router.post(PLAYGROUND)
async def run_all(request: Request, user: UserDep) -> Response:
    """Every configuration, side by side (the page without JavaScript)."""
    draft = from_form(await checked_form(request, user))
    bodies, errors, attributes = await _prepare(request, user, draft, await _gateway(request).catalog.get(user.project_id))
    if errors:
        return await _page(request, user, draft, 400, errors)
    caller = runs.web_caller(request, user)
    found = await asyncio.gather(*(runs.run(_gateway(request), caller, body, attributes) for body in bodies.values()))
    outcomes = dict(zip(bodies, found, strict=True))
    errors = {f"params-{i}": o.error for i, o in outcomes.items() if o.param and o.error}
    return await _page(request, user, draft, 200, errors, outcomes)


def _line(value: dict[str, Any]) -> bytes:
    return orjson.dumps(value) + b"\n"


@router.post(PLAYGROUND + "/stream")
async def run_streamed(request: Request, user: UserDep) -> Response:
    """One configuration's answer as JSON lines: ``{"delta"}``... then ``{"done": figures}`` or ``{"error"}``.
    Problems with the form answer 422 ``{"errors": {field: message}}`` (the script then submits the form)."""
    form = await form_fields(request)
    check_csrf(user.csrf_token, request.headers.get("x-csrf-token"))
    draft = from_form(form)
    column = form.get("column", "")
    gateway, caller = _gateway(request), runs.web_caller(request, user)
    project = await gateway.catalog.get(user.project_id)
    bodies, errors, attributes = await _prepare(request, user, draft, project)
    if not (column.isdigit() and int(column) in bodies):
        errors.setdefault("model-0", "Pick a model for this column.")
    if errors:
        return Response(_line({"errors": errors}), status_code=422, media_type="application/json")
    try:
        opened = await runs.open_stream(gateway, caller, bodies[int(column)], attributes)
    except Forbidden:
        raise
    except StackwrightError as exc:
        return Response(_line({"error": exc.message}), media_type="application/x-ndjson")

    async def lines() -> Any:
        async for event in runs.relay(gateway, project, caller, *opened):
            yield _line(event)

    return StreamingResponse(lines(), media_type="application/x-ndjson", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def _save_error_field(exc: InvalidInput) -> str:
    problems = (exc.details or {}).get("errors") if isinstance(exc.details, dict) else None
    where = str((problems or [{}])[0].get("field", "")) if problems else ""
    return "save_name" if where == "name" else "params-0" if where.startswith("model") else "messages"


@router.post(PLAYGROUND + "/save")
async def save(request: Request, user: UserDep) -> Response:
    """The messages and the first configuration as a new version of a prompt (the prompts service decides who may)."""
    from stackwright.prompts.push import push

    draft = from_form(await checked_form(request, user))
    errors = check_messages(draft)
    if not draft.save_name:
        errors["save_name"] = "Name the prompt to save to (an existing one gets a new version)."
    if not draft.save_message.strip():
        errors["save_message"] = "Say what changed: it is the version's message in the history."
    carrying = next((i for i, m in enumerate(draft.messages) if m.get("tool_calls") or m.get("tool_call_id")), None)
    if carrying is not None and "messages" not in errors:
        errors["messages"] = f"Message {carrying + 1} carries a tool call, which a prompt version cannot store: change its role or remove it to save."
    params, problem = params_of(draft.columns[0], 0)
    errors |= problem
    if errors:
        return await _page(request, user, draft, 400, errors)
    raw: dict[str, Any] = {"name": draft.save_name, "type": "chat", "messages": draft.messages, "message": draft.save_message}
    if draft.columns[0].model:
        raw["model"] = {"name": draft.columns[0].model, "params": params}
    try:
        with get_db(request).write() as session:
            result = push(session, web_actor(request, user), user.project_id, raw, source="The prompt")
    except InvalidInput as exc:
        return await _page(request, user, draft, 400, {_save_error_field(exc): exc.message})
    return RedirectResponse(f"/ui/prompts/{quote(result['name'], safe='')}", status_code=303)
