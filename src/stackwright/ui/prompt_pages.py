"""The prompt pages: the list (`/ui/prompts`), one prompt's history with its labels (`/ui/prompts/{name}`), one
version (`/ui/prompts/{name}/versions/{n}`) and a line diff of two versions or labels (`/ui/prompts/{name}/diff`).

Every read goes through the prompts service in the session's current project, so another project's prompt is a
404 page. The editor and the label forms live beside this module (prompt_editor.py, prompt_labels.py).
"""

from __future__ import annotations

import difflib
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from stackwright.core.deps import get_db
from stackwright.core.errors import InvalidInput, NotFound
from stackwright.prompts import service
from stackwright.prompts.diff import selector, template_text
from stackwright.prompts.models import PromptVersion
from stackwright.prompts.refs import LATEST
from stackwright.ui.nav import NavEntry, add_nav
from stackwright.ui.pages import UserDep, WebUser, cursor_page, page_router, render
from stackwright.ui.settings import web_actor

router = page_router()
PROMPTS = "/ui/prompts"
PAGE_SIZE = 50
DIFF_CONTEXT = 5  # unchanged lines shown around each change
DONE = {  # ?done= codes after a change: fixed texts, never echoed input
    "moved": "Label moved.",
    "removed": "Label removed.",
    "unchanged": "Nothing changed.",
    "protected": "Protected labels saved.",
    "pushed": "New version saved.",
    "same": "This content was already stored as this version: nothing new was saved.",
}

add_nav(NavEntry("Prompts", PROMPTS, 31))


def config_text(row: PromptVersion) -> str:
    """The version's model config (model, parameters, tools, response format) as YAML, for reading and diffing."""
    import yaml

    config: dict[str, Any] = {}
    if row.model or row.params:
        config["model"] = {**({"name": row.model} if row.model else {}), **(row.params or {})}
    for key in ("tools", "response_format"):
        if getattr(row, key):
            config[key] = getattr(row, key)
    overrides = variable_overrides(row)
    if overrides:
        config["variables"] = overrides
    return yaml.safe_dump(config, sort_keys=False, allow_unicode=True) if config else ""


def variable_overrides(row: PromptVersion) -> dict[str, Any]:
    """What the version's file declared about its variables (type, default...): the non-empty parts of its schema."""
    properties = (row.variables or {}).get("properties") or {}
    return {name: spec for name, spec in properties.items() if spec}


def variable_rows(row: PromptVersion) -> list[dict[str, Any]]:
    schema = row.variables or {}
    required = set(schema.get("required") or [])
    return [
        {"name": name, "type": spec.get("type", "any"), "required": name in required, "default": spec.get("default"),
         "description": spec.get("description", "")}
        for name, spec in (schema.get("properties") or {}).items()
    ]  # fmt: skip


def can_write(request: Request, user: WebUser) -> bool:
    return web_actor(request, user).has_scope("write")


def may_move(request: Request, user: WebUser, label: str, protected: list[str]) -> bool:
    """Whether to offer the label's forms: the service decides (labels.check_may_move); this only hides what it refuses."""
    actor = web_actor(request, user)
    return actor.has_scope("write") and (label not in protected or actor.has_scope("admin")) and label != LATEST


@router.get(PROMPTS)
def prompt_list(request: Request, user: UserDep) -> Response:
    from stackwright.ui.prompt_editor import blank_editor

    return prompt_list_view(request, user, blank_editor(request, user))


def prompt_list_view(request: Request, user: WebUser, editor: dict[str, Any] | None, status: int = 200) -> Response:
    """The list; ``editor`` is the new-prompt form (with a refused form's values and errors), None for viewers."""
    items, next_cursor, problem = cursor_page(
        request, lambda session, cursor: service.list_prompts(session, user.project_id, cursor=cursor, limit=PAGE_SIZE)
    )
    return render(request, "prompts.html", status, user=user, items=items, next_cursor=next_cursor, problem=problem,
                  editor=editor if can_write(request, user) else None)  # fmt: skip


@router.get(PROMPTS + "/{name}")
def prompt_history(request: Request, name: str, user: UserDep) -> Response:
    return history_view(request, user, name)


def history_view(request: Request, user: WebUser, name: str, status: int = 200, problem: str | None = None,
                 label_form: dict[str, Any] | None = None, protect_form: dict[str, Any] | None = None) -> Response:  # fmt: skip
    """The history page; ``label_form`` and ``protect_form`` carry a refused form's values and what was wrong with them."""
    cursor = request.query_params.get("cursor") or None
    with get_db(request).read() as session:
        prompt = service.get_prompt(session, user.project_id, name)
        try:
            versions, next_cursor = service.list_versions(session, user.project_id, prompt.name, cursor=cursor, limit=PAGE_SIZE)
        except InvalidInput as exc:
            versions, next_cursor, problem = [], None, exc.message
        labels = service.label_map(session, prompt.id)
        moves, _ = service.label_history(session, user.project_id, prompt.name, limit=20)
    protected = list(prompt.protected_labels or [])
    label_rows = [
        {"label": label, "version": version, "protected": label in protected, "movable": may_move(request, user, label, protected)}
        for label, version in labels.items()
    ]
    return render(
        request, "prompt_history.html", status, user=user, prompt=prompt, versions=versions, next_cursor=next_cursor,
        labels=label_rows, protected=protected, moves=moves, can_write=can_write(request, user),
        admin=web_actor(request, user).has_scope("admin"), problem=problem, notice=DONE.get(request.query_params.get("done", "")),
        label_form=label_form or {"values": {"label": "", "version": str(prompt.latest_version)}, "errors": {}},
        protect_form=protect_form or {"value": " ".join(protected), "error": None},
    )  # fmt: skip


@router.get(PROMPTS + "/{name}/versions/{version}")
def version_page(request: Request, name: str, version: int, user: UserDep) -> Response:
    with get_db(request).read() as session:
        row = service.get_version(session, user.project_id, name, version=version)
        labels = service.labels_of_version(session, row)
    return render(
        request, "prompt_version.html", user=user, row=row, labels=labels, config=config_text(row), variables=variable_rows(row),
        can_write=can_write(request, user), notice=DONE.get(request.query_params.get("done", "")),
    )  # fmt: skip


def diff_lines(old: str, new: str) -> list[dict[str, str]]:
    """A line diff: each line with its kind (add, del, same, hunk); the template escapes the text."""
    lines = []
    for line in difflib.unified_diff(old.splitlines(), new.splitlines(), n=DIFF_CONTEXT, lineterm=""):
        if line.startswith(("---", "+++")):
            continue
        kind = {"@": "hunk", "+": "add", "-": "del"}.get(line[:1], "same")
        lines.append({"kind": kind, "text": line})
    return lines


@router.get(PROMPTS + "/{name}/diff")
def diff_page(request: Request, name: str, user: UserDep) -> Response:
    values = {key: request.query_params.get(key, "").strip()[:64] for key in ("a", "b")}
    errors: dict[str, str] = {}
    found: dict[str, PromptVersion] = {}
    with get_db(request).read() as session:
        prompt = service.get_prompt(session, user.project_id, name)
        for key in ("a", "b"):
            if not values[key]:
                continue
            try:
                found[key] = service.resolve(session, user.project_id, selector(prompt.name, values[key]))
            except (InvalidInput, NotFound) as exc:
                errors[key] = exc.message
        versions, _ = service.list_versions(session, user.project_id, prompt.name, limit=PAGE_SIZE)
        labels = service.label_map(session, prompt.id)
    sections = []
    if len(found) == 2 and not errors:
        a, b = found["a"], found["b"]
        sections = [
            {"title": "Templates", "lines": diff_lines(template_text(a), template_text(b))},
            {"title": "Model config", "lines": diff_lines(config_text(a), config_text(b))},
        ]
    status = 400 if errors else 200
    return render(request, "prompt_diff.html", status, user=user, prompt=prompt, values=values, errors=errors, found=found,
                  sections=sections, versions=versions, labels=labels)  # fmt: skip
