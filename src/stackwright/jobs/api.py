"""REST routes of jobs: enqueue, list, show (with logs), cancel; cron schedules (list, create or replace, delete).

Every route is scoped to the key's project: another project's job or schedule answers 404. Changes go through the
service's ``*_by`` functions, which check the role and write the audit entry (the web UI calls the same ones).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from stackwright.auth.deps import ReadCaller, WriteCaller
from stackwright.core.deps import SessionDep
from stackwright.core.responses import JSONBody

router = APIRouter(prefix="/api/v1", tags=["jobs"])
JobId = Annotated[str, Path(max_length=32, description="Job id (job_...).")]
ScheduleName = Annotated[str, Path(max_length=200, description="Schedule name.")]


class JobIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str = Field(max_length=100, description="Job kind: noop, sleep, retrieval.ingest, evals.run, datasets.from_traces or a plugin's.",
                      examples=["datasets.from_traces"])  # fmt: skip
    params: dict[str, Any] = Field(default_factory=dict, description="The kind's params (checked now: a bad field is a 400).",
                                   examples=[{"name": "prod-failures", "filters": {"status": "error"}, "limit": 50}])  # fmt: skip
    max_attempts: int = Field(default=1, ge=1, le=20, description="Attempts before the job fails (retries back off exponentially).")


class ScheduleIn(JobIn):
    name: str = Field(max_length=200, description="Schedule name, unique in the project (an existing one is replaced).")
    cron: str = Field(max_length=200, description='Five cron fields in UTC: minute hour day-of-month month day-of-week.', examples=["*/5 * * * *"])
    enabled: bool = Field(default=True, description="Disabled schedules do not fire.")


def wake_runner(request: Request) -> None:
    """Start a job just enqueued now, rather than at the runner's next poll (the API and the web UI)."""
    task = getattr(request.app.state, "jobs", None)
    if task is not None:
        task.wake()


@router.get("/jobs", summary="Jobs of the project, newest first")
def list_jobs(
    caller: ReadCaller,
    session: SessionDep,
    status: Annotated[str | None, Query(max_length=16, description="queued, running, succeeded, failed or cancelled.")] = None,
    kind: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10**6)] = 0,
) -> JSONBody:
    from stackwright.jobs import service

    rows = service.list_jobs(session, caller.project_id, status=status, kind=kind, limit=limit, offset=offset)
    return JSONBody({"data": [service.job_payload(j) for j in rows], "next_offset": offset + limit if len(rows) == limit else None})


@router.post("/jobs", summary="Enqueue a job (runs in the background; poll GET /jobs/{id})", status_code=202)
def enqueue(request: Request, caller: WriteCaller, session: SessionDep, body: JobIn) -> JSONBody:
    from stackwright.jobs import service

    job = service.enqueue_by(session, caller, caller.project_id, body.kind, body.params, max_attempts=body.max_attempts,
                             settings=request.app.state.settings)  # fmt: skip
    session.commit()
    wake_runner(request)
    return JSONBody(service.job_payload(job, []), status_code=202)


@router.get("/jobs/schedules", summary="Job schedules of the project")
def list_schedules(caller: ReadCaller, session: SessionDep) -> JSONBody:
    from stackwright.jobs import service

    return JSONBody({"data": [service.schedule_payload(r) for r in service.list_schedules(session, caller.project_id)]})


@router.post("/jobs/schedules", summary="Create a schedule, or replace the one with this name (201 created, 200 replaced)", status_code=201)
def set_schedule(request: Request, caller: WriteCaller, session: SessionDep, body: ScheduleIn) -> JSONBody:
    from stackwright.jobs import service

    row, created = service.set_schedule_by(session, caller, caller.project_id, body.name, body.cron, body.kind, body.params,
                                           max_attempts=body.max_attempts, enabled=body.enabled, settings=request.app.state.settings)  # fmt: skip
    payload = service.schedule_payload(row)
    session.commit()
    return JSONBody(payload, status_code=201 if created else 200)


@router.delete("/jobs/schedules/{name}", summary="Delete a schedule (jobs it enqueued stay)")
def delete_schedule(caller: WriteCaller, session: SessionDep, name: ScheduleName) -> JSONBody:
    from stackwright.jobs import service

    service.delete_schedule_by(session, caller, caller.project_id, name)
    session.commit()
    return JSONBody({"deleted": name})


@router.get("/jobs/{job_id}", summary="One job with its log")
def get_job(
    caller: ReadCaller,
    session: SessionDep,
    job_id: JobId,
    logs: Annotated[bool, Query(description="Include the log lines.")] = True,
) -> JSONBody:
    from stackwright.jobs import service

    job = service.get_job(session, caller.project_id, job_id)
    return JSONBody(service.job_payload(job, service.job_logs(session, job.id) if logs else None))


@router.post("/jobs/{job_id}/cancel", summary="Cancel a job: queued stops now, running stops at its next progress report")
def cancel_job(caller: WriteCaller, session: SessionDep, job_id: JobId) -> JSONBody:
    from stackwright.jobs import service

    job = service.cancel_by(session, caller, caller.project_id, job_id)
    session.commit()
    return JSONBody(service.job_payload(job))
