"""The Jobs page's forms, for members and above: enqueue a job (`/ui/jobs/enqueue`), create or replace a cron schedule
(`/ui/jobs/schedules`), and delete one after a confirmation page (`/ui/jobs/schedules/{name}/delete`).

Every change goes through the jobs service's ``*_by`` functions, as the API's routes do: the same role check (a
viewer's forged post is a 403 page), the same checks of kind, params and cron (python code in an evals.run spec
only from the operator's allow-list), and the same audit entries (`job.enqueue`, `job_schedule.set`,
`job_schedule.delete`). Before that, each field runs through the service's own check, so a bad one gets the
service's message beside it (status 400, the entered values kept, nothing saved).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from stackwright.core.deps import get_db, get_settings
from stackwright.core.errors import Forbidden, InvalidInput
from stackwright.jobs import service
from stackwright.jobs.api import wake_runner
from stackwright.jobs.kinds import get_kind
from stackwright.ui.jobs import ENQUEUE_BLANK, JOBS, SCHEDULE_BLANK, list_page
from stackwright.ui.pages import UserDep, WebUser, page_router, render
from stackwright.ui.settings import checked_form, web_actor

router = page_router()
SCHEDULES = JOBS + "/schedules"
MAX_FIELD = 1_100_000  # a little above the service's params limit, so its message is the one shown


def _values(form: dict[str, str], blank: dict[str, str]) -> dict[str, str]:
    values = {name: form.get(name, "")[:MAX_FIELD] for name in blank}
    if "enabled" in blank:
        values["enabled"] = "1" if form.get("enabled") else ""
    return values


class FieldErrors(dict[str, str]):
    """The service's messages by field; the page's status is 403 if one is a refusal (python code in a spec that
    the operator has not allowed, as the API answers), else 400."""

    status = 400


def _check(errors: FieldErrors, field: str, check: Callable[[], Any]) -> Any:
    """``check()``'s value, or None with the service's message put beside ``field``."""
    try:
        return check()
    except InvalidInput as exc:
        errors[field] = exc.message
    except Forbidden as exc:
        errors[field], errors.status = exc.message, 403
    return None


def _attempts(raw: str) -> int:
    number: Any = int(raw) if raw.strip().isascii() and raw.strip().isdigit() else raw
    return service.check_max_attempts(number)


def _params(raw: str) -> Any:
    if not raw.strip():
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"Params are not valid JSON ({exc}).", hint='Write a JSON object, e.g. {} or {"seconds": 5}.') from None


def _checked_job(request: Request, values: dict[str, str], errors: FieldErrors) -> dict[str, Any]:
    """Kind, params and attempts after the service's checks, each failure beside its field."""
    kind = _check(errors, "kind", lambda: get_kind(values["kind"]).name)
    params = _check(errors, "params", lambda: _params(values["params"]))
    if kind is not None and "params" not in errors:
        params = _check(errors, "params", lambda: service.check_params(kind, params, get_settings(request))[1])
    return {"kind": kind, "params": params, "max_attempts": _check(errors, "max_attempts", lambda: _attempts(values["max_attempts"]))}


@router.post(JOBS + "/enqueue")
async def enqueue(request: Request, user: UserDep) -> Response:
    form = await checked_form(request, user)
    actor = web_actor(request, user)
    actor.require_scope("write", "Enqueueing a job")
    values, errors = _values(form, ENQUEUE_BLANK), FieldErrors()
    job = _checked_job(request, values, errors)
    if errors:
        return list_page(request, user, errors.status, enqueue={"fields": values, "errors": errors})
    with get_db(request).write() as session:
        job_id = service.enqueue_by(session, actor, user.project_id, job["kind"], job["params"], max_attempts=job["max_attempts"],
                                    settings=get_settings(request)).id  # fmt: skip
    wake_runner(request)
    return RedirectResponse(f"{JOBS}/{job_id}?done=enqueued", status_code=303)


@router.post(SCHEDULES)
async def set_schedule(request: Request, user: UserDep) -> Response:
    form = await checked_form(request, user)
    actor = web_actor(request, user)
    actor.require_scope("write", "Changing a job schedule")
    values, errors = _values(form, SCHEDULE_BLANK), FieldErrors()
    name = _check(errors, "name", lambda: service.check_schedule_name(values["name"]))
    cron = _check(errors, "cron", lambda: service.check_cron(values["cron"]))
    job = _checked_job(request, values, errors)
    if errors:
        return list_page(request, user, errors.status, schedule={"fields": values, "errors": errors})
    with get_db(request).write() as session:
        _, created = service.set_schedule_by(session, actor, user.project_id, name, cron, job["kind"], job["params"],
                                             max_attempts=job["max_attempts"], enabled=bool(values["enabled"]),
                                             settings=get_settings(request))  # fmt: skip
    return RedirectResponse(f"{JOBS}?done=schedule-{'created' if created else 'replaced'}", status_code=303)


def _delete_page(request: Request, user: WebUser, name: str) -> Response:
    with get_db(request).read() as session:
        schedule = service.schedule_payload(service.get_schedule(session, user.project_id, name))
    can_write = web_actor(request, user).has_scope("write")
    return render(request, "job_schedule_delete.html", user=user, schedule=schedule, can_write=can_write)


@router.get(SCHEDULES + "/{name}/delete")
def confirm_delete(request: Request, name: str, user: UserDep) -> Response:
    """The confirmation step: the schedule, what deleting it does, and the form that does it."""
    return _delete_page(request, user, name)


@router.post(SCHEDULES + "/{name}/delete")
async def delete_schedule(request: Request, name: str, user: UserDep) -> Response:
    await checked_form(request, user)
    with get_db(request).write() as session:
        service.delete_schedule_by(session, web_actor(request, user), user.project_id, name)
    return RedirectResponse(f"{JOBS}?done=schedule-deleted", status_code=303)
