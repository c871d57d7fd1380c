"""Jobs (`/ui/jobs`): the project's background jobs with status, progress and attempts, filtered by status and
paged; one job with its params, result and log (`/ui/jobs/{job_id}`); cancelling one after a confirmation step
(`/ui/jobs/{job_id}/cancel`); and the cron schedules.

Reads and the cancel go through the jobs service the API and CLI use: `cancel_by` refuses a viewer (a 403 page)
and audits `job.cancel`. A queued job is cancelled at once; a running one stops at its next progress report.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from stackwright.core.deps import get_db
from stackwright.core.errors import Conflict
from stackwright.jobs import service
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
DONE = {"cancelled": "Job cancelled.", "requested": "Cancel requested: the job stops at its next progress report."}


def _offset(raw: str) -> int | None:
    return int(raw) if raw.isdigit() and int(raw) <= MAX_OFFSET else None


@router.get(JOBS)
def job_list(request: Request, user: UserDep) -> Response:
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
    return render(request, "jobs.html", user=user, page="list", values=values, errors=errors, jobs=jobs[:PAGE_SIZE],
                  counts=counts, statuses=STATUSES, schedules=schedules, pages=pages)  # fmt: skip


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
