"""Jobs (`/ui/jobs`): the project's background jobs with status, progress and attempts, filtered by status and
paged; one job with its params, result and log (`/ui/jobs/{job_id}`); cancelling one after a confirmation step
(`/ui/jobs/{job_id}/cancel`); and the cron schedules. The forms that enqueue a job and create, replace or delete
a schedule live in ``job_forms`` and show on the list page.

Reads and the cancel go through the jobs service the API and CLI use: `cancel_by` refuses a viewer (a 403 page)
and audits `job.cancel`. A queued job is cancelled at once; a running one stops at its next progress report.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from stackwright.core.deps import get_db
from stackwright.core.errors import Conflict, NotFound
from stackwright.jobs import service
from stackwright.jobs.kinds import JobKind, kinds
from stackwright.jobs.models import FINISHED, STATUSES
from stackwright.ui.nav import NavEntry, add_nav
from stackwright.ui.pages import UserDep, WebUser, page_router, render
from stackwright.ui.settings import checked_form, web_actor

router = page_router()
JOBS = "/ui/jobs"
add_nav(NavEntry("Jobs", JOBS, 39))

PAGE_SIZE = 50
MAX_OFFSET = 10**6
LOG_LINES = 1000
DONE = {"cancelled": "Job cancelled.", "requested": "Cancel requested: the job stops at its next progress report.",
        "enqueued": "Job enqueued: it runs in the background; reload the page to follow it."}
LIST_DONE = {"schedule-created": "Schedule created.", "schedule-replaced": "Schedule replaced.", "schedule-deleted": "Schedule deleted."}
ENQUEUE_BLANK = {"kind": "noop", "params": "{}", "max_attempts": "1"}
SCHEDULE_BLANK = {"name": "", "cron": "", "kind": "noop", "params": "{}", "enabled": "1", "max_attempts": "1"}


def _offset(raw: str) -> int | None:
    return int(raw) if raw.isdigit() and int(raw) <= MAX_OFFSET else None


def kind_choices() -> list[dict[str, Any]]:
    """The registered job kinds (built-ins and plugins' kinds alike; the API accepts any of them), with their params."""
    found = [k for k in map(kinds.get, kinds.names()) if isinstance(k, JobKind)]  # anything else cannot be enqueued
    return [{"name": k.name, "description": k.description, "params": list(k.params.model_fields) if k.params else []} for k in found]


def _schedule_values(request: Request, project_id: str) -> dict[str, str]:
    """The schedule form's values: blank, or those of the schedule named by ``?edit=`` (to replace it)."""
    name = request.query_params.get("edit", "")
    if not name:
        return dict(SCHEDULE_BLANK)
    try:
        with get_db(request).read() as session:
            row = service.get_schedule(session, project_id, name[:200])
    except NotFound:
        return dict(SCHEDULE_BLANK)
    params = orjson.dumps(row.params, option=orjson.OPT_INDENT_2).decode()
    return {"name": row.name, "cron": row.cron, "kind": row.kind, "params": params, "enabled": "1" if row.enabled else "", "max_attempts": str(row.max_attempts)}


def list_page(request: Request, user: WebUser, status: int = 200, enqueue: dict[str, Any] | None = None,
              schedule: dict[str, Any] | None = None) -> Response:  # fmt: skip
    """The jobs list with its filters, the schedules, and (for members and above) the forms, with ``enqueue`` or
    ``schedule`` holding a posted form's values and errors."""
    values = {name: request.query_params.get(name, "").strip() for name in ("status", "offset")}
    errors: dict[str, str] = {}
    if values["status"] and values["status"] not in STATUSES:
        errors["status"] = f"Show one of: {', '.join(STATUSES)}."
    offset = _offset(values["offset"] or "0")
    if offset is None:
        errors["offset"] = f"The offset is a whole number from 0 to {MAX_OFFSET:,}."
    jobs: list[dict[str, Any]] = []
    with get_db(request).read() as session:
        if not errors:
            rows = service.list_jobs(session, user.project_id, status=values["status"] or None, limit=PAGE_SIZE + 1, offset=offset or 0)
            jobs = [service.job_payload(j) for j in rows]
        counts = service.count_by_status(session, user.project_id)
        schedules = [service.schedule_payload(s) for s in service.list_schedules(session, user.project_id)]
    more = len(jobs) > PAGE_SIZE
    shared = {"status": values["status"]} if values["status"] else {}
    pages = {
        "next": urlencode({**shared, "offset": (offset or 0) + PAGE_SIZE}) if more else None,
        "previous": urlencode({**shared, "offset": max((offset or 0) - PAGE_SIZE, 0)}) if offset else None,
    }
    can_write = web_actor(request, user).has_scope("write")
    forms = {
        "enqueue": enqueue or {"fields": dict(ENQUEUE_BLANK), "errors": {}},
        "schedule": schedule or {"fields": _schedule_values(request, user.project_id) if can_write else {}, "errors": {}},
    }
    return render(request, "jobs.html", status, user=user, page="list", values=values, errors=errors, jobs=jobs[:PAGE_SIZE],
                  counts=counts, statuses=STATUSES, schedules=schedules, pages=pages, can_write=can_write, forms=forms,
                  kinds=kind_choices() if can_write else [], notice=LIST_DONE.get(request.query_params.get("done", "")))  # fmt: skip


@router.get(JOBS)
def job_list(request: Request, user: UserDep) -> Response:
    return list_page(request, user)


def _job_page(request: Request, user: WebUser, job_id: str, page: str, status: int = 200, problem: str | None = None) -> Response:
    with get_db(request).read() as session:
        job = service.get_job(session, user.project_id, job_id)
        payload = service.job_payload(job, service.job_logs(session, job.id, limit=LOG_LINES))
    can_cancel = web_actor(request, user).has_scope("write") and payload["status"] not in FINISHED
    return render(request, "jobs.html", status, user=user, page=page, job=payload, can_cancel=can_cancel, log_limit=LOG_LINES,
                  notice=DONE.get(request.query_params.get("done", "")), problem=problem)  # fmt: skip


@router.get(JOBS + "/{job_id}")
def job_page(request: Request, job_id: str, user: UserDep) -> Response:
    return _job_page(request, user, job_id, "job")


@router.get(JOBS + "/{job_id}/cancel")
def confirm_cancel(request: Request, job_id: str, user: UserDep) -> Response:
    """The confirmation step: what will happen, and the form that does it."""
    return _job_page(request, user, job_id, "cancel")


@router.post(JOBS + "/{job_id}/cancel")
async def cancel_job(request: Request, job_id: str, user: UserDep) -> Response:
    await checked_form(request, user)
    try:
        with get_db(request).write() as session:
            job = service.cancel_by(session, web_actor(request, user), user.project_id, job_id)
            done = "cancelled" if job.status == "cancelled" else "requested"
            found = job.id
    except Conflict as exc:  # it finished meanwhile
        return _job_page(request, user, job_id, "job", 409, problem=exc.message)
    return RedirectResponse(f"{JOBS}/{found}?done={done}", status_code=303)
