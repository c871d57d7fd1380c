"""The prompt editor (`/ui/prompts/{name}/edit`, `?from=N`) and the list page's "new prompt" form (POST `/ui/prompts`).

The form holds one textarea per chat message (or the text template), the model config as YAML or JSON, the
version's message and labels to move. It becomes a push file and goes through the prompts service's push, so
roles, validation and the audit entry are the API's. A Jinja2 or YAML error is shown beside its field with its
line, and nothing is saved; "Check" runs the same checks without saving. The editor carries the latest version
it saw, and the service refuses the push (an inline message, nothing saved) when someone pushed meanwhile.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from stackwright.core.deps import get_db
from stackwright.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from stackwright.prompts import service
from stackwright.prompts.models import PromptVersion
from stackwright.prompts.spec import MAX_MESSAGES, offline_payload
from stackwright.ui.pages import UserDep, WebUser, page_router, render
from stackwright.ui.prompt_pages import PROMPTS, config_text, prompt_list_view
from stackwright.ui.settings import checked_form, web_actor

router = page_router()
ROLES = ("system", "developer", "user", "assistant", "tool")
CONFIG_KEYS = ("model", "tools", "response_format", "variables")
MAX_FIELD_CHARS = 200_000
_WHERE = re.compile(r"^(?:message (\d+) \([a-z]+\)|the template)(?:, | at )(.*)$", re.S)


def _values(name: str = "", kind: str = "chat", messages: list[dict[str, str]] | None = None, template: str = "",
            config: str = "", latest: int = 0, source: int | None = None) -> dict[str, Any]:  # fmt: skip
    return {"name": name, "type": kind, "messages": messages or [], "template": template, "config": config, "message": "",
            "labels": "", "latest": str(latest), "from": str(source or "")}  # fmt: skip


def _editor(values: dict[str, Any], errors: dict[str, str] | None = None, problem: str | None = None,
            notice: str | None = None, status: int = 200) -> dict[str, Any]:  # fmt: skip
    """The editor's state for the template (and the page's status): one empty message slot more than the form
    had, to add a message."""
    slots = list(values["messages"])
    if len(slots) < MAX_MESSAGES and (not slots or slots[-1]["content"].strip()):
        slots.append({"role": "user" if slots else "system", "content": "", "name": ""})
    return {"values": {**values, "messages": slots}, "errors": errors or {}, "problem": problem, "notice": notice, "roles": ROLES,
            "status": status}  # fmt: skip


def blank_editor(request: Request, user: WebUser) -> dict[str, Any] | None:
    """The list page's new-prompt form (None for those who may not push)."""
    if not web_actor(request, user).has_scope("write"):
        return None
    messages = [{"role": "system", "content": "", "name": ""}, {"role": "user", "content": "", "name": ""}]
    return _editor(_values(messages=messages, config="model:\n  name: local/extractive\n  temperature: 0.2\n"))


def _from_version(row: PromptVersion, latest: int) -> dict[str, Any]:
    messages = [{"role": str(m.get("role", "user")), "content": str(m.get("content") or ""), "name": str(m.get("name") or "")}
                for m in row.messages or []]  # fmt: skip
    return _values(row.prompt.name, row.type, messages, row.template or "", config_text(row), latest, row.version)


def _text(form: dict[str, str], name: str) -> str:
    """A textarea's text with the browser's CRLF line ends made LF (so the same text hashes the same)."""
    return form.get(name, "")[:MAX_FIELD_CHARS].replace("\r\n", "\n")


def _read_form(form: dict[str, str], name: str) -> dict[str, Any]:
    """The submitted values, cut to sane sizes (never trusted: the push checks them)."""
    messages = []
    for index in range(MAX_MESSAGES + 1):
        if f"content_{index}" not in form:
            break
        messages.append({"role": form.get(f"role_{index}", "user")[:20], "content": _text(form, f"content_{index}"),
                         "name": form.get(f"msgname_{index}", "")[:128]})  # fmt: skip
    values = _values(name, form.get("type", "chat")[:10], messages, _text(form, "template"), _text(form, "config"), 0)
    values.update(message=form.get("message", "")[:2000], labels=form.get("labels", "")[:1000], latest=form.get("latest", "0")[:12],
                  **{"from": form.get("from", "")[:12]})  # fmt: skip
    return values


def _parse_config(text: str) -> dict[str, Any]:
    """The config textarea (YAML, or JSON which YAML reads too) as push-file keys; InvalidInput with the line."""
    import yaml

    if not text.strip():
        return {}
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise InvalidInput(f"{where}{getattr(exc, 'problem', None) or 'not valid YAML'}.") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidInput("The config must be a mapping, e.g. `model: {name: gpt-4o-mini, temperature: 0.2}`.")
    unknown = [str(key) for key in data if key not in CONFIG_KEYS]
    if unknown:
        raise InvalidInput(f"Unknown key {unknown[0]!r}: the config may hold {', '.join(CONFIG_KEYS)}.")
    return data


def _push_file(values: dict[str, Any]) -> tuple[dict[str, Any], list[int], dict[str, str]]:
    """The push body, the form slot of each message in it, and the errors found before the service looks."""
    errors: dict[str, str] = {}
    if values["type"] not in ("chat", "text"):
        errors["type"] = "Pick chat (messages) or text (one template)."
    try:
        config = _parse_config(values["config"])
    except InvalidInput as exc:
        errors["config"], config = exc.message, {}
    raw: dict[str, Any] = {"name": values["name"], "type": values["type"], **config, "message": values["message"]}
    slots = [i for i, m in enumerate(values["messages"]) if m["content"].strip()]
    if values["type"] == "text":
        raw["template"] = values["template"]
    else:
        raw["messages"] = [{k: v for k, v in values["messages"][i].items() if v or k != "name"} for i in slots]
    labels = [label for label in re.split(r"[\s,]+", values["labels"]) if label]
    if labels:
        raw["labels"] = labels
    return raw, slots, errors


def _field_of(path: str, kind: str, slots: list[int]) -> str:
    """The form field a push-file path (``messages.2.content``, ``model.name``...) belongs to."""
    head, _, rest = path.partition(".")
    if head == "messages":
        index, _, part = rest.partition(".")
        if index.isdigit() and int(index) < len(slots):
            return f"{'role' if part == 'role' else 'content'}_{slots[int(index)]}"
        return "messages"
    if head in CONFIG_KEYS:
        return "config"
    if head in ("labels", "protected_labels"):
        return "labels"
    if head in ("name", "template", "message", "type"):
        return head
    return "messages" if kind == "chat" else "template"


def _errors_of(exc: InvalidInput, kind: str, slots: list[int]) -> dict[str, str] | None:
    """Field errors for a refused push (None: it is not about one field)."""
    details = exc.details or {}
    if "line" in details and "where" in details:  # a Jinja2 syntax error
        found = _WHERE.match(f"{details['where']}, ")
        field = f"content_{slots[int(found.group(1)) - 1]}" if found and found.group(1) else "template"
        return {field: f"line {details['line']}: {details['problem']}"}
    if details.get("errors"):
        found_by_field: dict[str, list[str]] = {}
        for problem in details["errors"]:
            field = _field_of(problem["field"], kind, slots)
            text = problem["problem"][:300] + (f" ({problem['field']})" if field == "config" else "")
            found_by_field.setdefault(field, []).append(text)
        return {field: " ".join(texts) for field, texts in found_by_field.items()}
    found = _WHERE.match(exc.message)  # include errors name their message and line
    if found:
        return {f"content_{slots[int(found.group(1)) - 1]}" if found.group(1) else "template": found.group(2)}
    return None


def _check(request: Request, user: WebUser, raw: dict[str, Any]) -> str:
    """What a push would store, checked without saving: the variables it found (InvalidInput/NotFound otherwise)."""
    payload = offline_payload(raw, "The prompt")
    with get_db(request).read() as session:
        service.resolve_includes(session, user.project_id, payload["name"], payload["includes"])
    names = ", ".join(payload["variables"]["properties"]) or "none"
    return f"No problems found; nothing was saved. Variables: {names}."


def _submit(request: Request, user: WebUser, values: dict[str, Any], form: dict[str, str]) -> tuple[dict[str, Any] | None, Any]:
    """Check or save the editor's form: (the editor to show again, None) or (None, the push result)."""
    from stackwright.prompts.push import push

    actor = web_actor(request, user)
    actor.require_scope("write", "Pushing a prompt version")  # a viewer's forged form is a 403 page
    raw, slots, errors = _push_file(values)
    if errors:
        return _editor(values, errors, status=400), None
    try:
        if form.get("action") == "check":
            return _editor(values, notice=_check(request, user, raw)), None
        expected = int(values["latest"]) if values["latest"].isdigit() else 0
        with get_db(request).write() as session:
            return None, push(session, actor, user.project_id, raw, expected_latest=expected)
    except InvalidInput as exc:
        errors_found = _errors_of(exc, values["type"], slots)
        return _editor(values, errors_found or {}, None if errors_found else exc.message, status=400), None
    except NotFound as exc:  # an include that does not resolve
        return _editor(values, problem=exc.message, status=400), None
    except Forbidden as exc:  # a member naming a protected label: said beside the labels, nothing saved
        return _editor(values, {"labels": exc.message}, status=403), None
    except Conflict as exc:  # pushed meanwhile: show the newest number, so saving again is a deliberate choice
        with get_db(request).read() as session:
            prompt = service.get_prompt(session, user.project_id, values["name"])
        return _editor({**values, "latest": str(prompt.latest_version)}, problem=exc.message, status=409), None


def _saved(name: str, result: dict[str, Any]) -> Response:
    done = "pushed" if result["created"] else "same"
    return RedirectResponse(f"{PROMPTS}/{name}/versions/{result['version']}?done={done}", status_code=303)


@router.post(PROMPTS)
async def new_prompt(request: Request, user: UserDep) -> Response:
    form = await checked_form(request, user)
    values = _read_form(form, form.get("name", "").strip()[:200])
    values["latest"] = "0"  # a new prompt: refused when the name is taken
    if not values["name"]:
        web_actor(request, user).require_scope("write", "Creating a prompt")
        return prompt_list_view(request, user, _editor(values, {"name": "Give the prompt a name, e.g. support-answer."}), 400)
    editor, result = _submit(request, user, values, form)
    if editor is not None:
        return prompt_list_view(request, user, editor, editor["status"])
    return _saved(result["name"], result)


@router.get(PROMPTS + "/{name}/edit")
def edit_page(request: Request, name: str, user: UserDep) -> Response:
    web_actor(request, user).require_scope("write", "Editing a prompt")
    source = request.query_params.get("from", "")
    with get_db(request).read() as session:
        prompt = service.get_prompt(session, user.project_id, name)
        if source and not source.isdigit():
            raise InvalidInput("`from` must be a version number.")
        row = service.get_version(session, user.project_id, prompt.name, version=int(source) if source else prompt.latest_version)
        editor = _editor(_from_version(row, prompt.latest_version))
    return render(request, "prompt_edit.html", user=user, prompt=prompt, editor=editor)


@router.post(PROMPTS + "/{name}/edit")
async def edit_submit(request: Request, name: str, user: UserDep) -> Response:
    form = await checked_form(request, user)
    with get_db(request).read() as session:
        prompt = service.get_prompt(session, user.project_id, name)  # another project's prompt: a 404 page
    editor, result = _submit(request, user, _read_form(form, prompt.name), form)
    if editor is not None:
        return render(request, "prompt_edit.html", editor["status"], user=user, prompt=prompt, editor=editor)
    return _saved(prompt.name, result)
