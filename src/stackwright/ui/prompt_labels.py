"""Moving and removing a prompt's labels from its history page (`/ui/prompts/{name}`).

Both go through the prompts service the API uses: it refuses viewers, and non-admins on protected labels (a 403
page), and audits the change. Each form carries the version the page showed the label on; when the label moved
meanwhile the service refuses and the page says so inline. Removing asks for a confirmation first. Admins also
set which labels are protected.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from stackwright.core.deps import get_db
from stackwright.core.errors import Conflict, InvalidInput, NotFound
from stackwright.prompts import service
from stackwright.prompts.labels import protect, remove_label, set_label
from stackwright.ui.pages import UserDep, page_router, render
from stackwright.ui.prompt_pages import PROMPTS, history_view
from stackwright.ui.settings import checked_form, web_actor

router = page_router()


def _expected(raw: str) -> int | None:
    """The version the page showed the label on (0: the label was not set); None when the form did not say."""
    return int(raw) if raw.isdigit() else None


@router.post(PROMPTS + "/{name}/labels")
async def move_label(request: Request, name: str, user: UserDep) -> Response:
    form = await checked_form(request, user)
    values = {"label": form.get("label", "").strip()[:64], "version": form.get("version", "").strip()[:12]}
    errors: dict[str, str] = {}
    if not values["label"]:
        errors["label"] = "Give a label, e.g. staging."
    if not values["version"].isdigit():
        errors["version"] = "Give a version number."
    if not errors:
        try:
            with get_db(request).write() as session:
                result = set_label(session, web_actor(request, user), user.project_id, name, values["label"], int(values["version"]),
                                   expected_from=_expected(form.get("expected", "")))  # fmt: skip
        except InvalidInput as exc:
            errors["label" if "Label" in exc.message else "version"] = exc.message
        except NotFound as exc:
            if "version" not in exc.message:
                raise  # the prompt itself: a 404 page
            errors["version"] = exc.message
        except Conflict as exc:
            return history_view(request, user, name, 409, problem=exc.message)
    if errors:
        return history_view(request, user, name, 400, label_form={"values": values, "errors": errors})
    done = "moved" if result["moved"] else "unchanged"
    return RedirectResponse(f"{PROMPTS}/{result['name']}?done={done}", status_code=303)


@router.get(PROMPTS + "/{name}/labels/{label}/remove")
def confirm_remove(request: Request, name: str, label: str, user: UserDep) -> Response:
    with get_db(request).read() as session:
        prompt = service.get_prompt(session, user.project_id, name)
        version = service.label_map(session, prompt.id).get(label)
    if version is None:
        raise NotFound(f"Prompt {prompt.name!r} has no label {label[:64]!r}.")
    web_actor(request, user).require_scope("write", "Removing a prompt label")
    return render(request, "prompt_label_remove.html", user=user, prompt=prompt, label=label, version=version,
                  protected=label in (prompt.protected_labels or []))  # fmt: skip


@router.post(PROMPTS + "/{name}/labels/{label}/remove")
async def remove(request: Request, name: str, label: str, user: UserDep) -> Response:
    form = await checked_form(request, user)
    try:
        with get_db(request).write() as session:
            result = remove_label(session, web_actor(request, user), user.project_id, name, label,
                                  expected_from=_expected(form.get("expected", "")))  # fmt: skip
    except (Conflict, InvalidInput) as exc:
        return history_view(request, user, name, exc.status, problem=exc.message)
    return RedirectResponse(f"{PROMPTS}/{result['name']}?done=removed", status_code=303)


@router.post(PROMPTS + "/{name}/protected")
async def set_protected(request: Request, name: str, user: UserDep) -> Response:
    form = await checked_form(request, user)
    raw = form.get("protected", "")[:1000]
    labels = [label for label in raw.replace(",", " ").split() if label]
    try:
        with get_db(request).write() as session:
            result = protect(session, web_actor(request, user), user.project_id, name, labels)
    except InvalidInput as exc:
        return history_view(request, user, name, 400, protect_form={"value": raw, "error": exc.message})
    return RedirectResponse(f"{PROMPTS}/{result['name']}?done={'protected' if result['changed'] else 'unchanged'}", status_code=303)
