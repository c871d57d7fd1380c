"""`stackwright jobs ...`: list, show, run, cancel jobs; schedule and unschedule them; on the store directly."""

from __future__ import annotations

from typing import Any

import typer

from stackwright.auth.commands import project_for
from stackwright.core import command_helpers as common

jobs_app = typer.Typer(help="Background jobs and cron schedules: list, show, run, cancel, schedule.", no_args_is_help=True)
PARAMS_OPTION = typer.Option("{}", "--params", help='The kind\'s params as a JSON object, e.g. \'{"seconds": 2}\'.')
COLUMNS = ["id", "kind", "status", "progress", "attempts", "created_at", "error"]


def _params(text: str) -> Any:
    import orjson

    from stackwright.core.errors import InvalidInput

    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"--params is not valid JSON: {exc}.", hint='Quote it for the shell: --params \'{"key": "value"}\'.') from None
    if not isinstance(value, dict):
        raise InvalidInput(f"--params must be a JSON object, not {type(value).__name__}.")
    return value


def _row(job: dict[str, Any]) -> dict[str, Any]:
    return {**job, "progress": f"{job['progress']:.0%}", "attempts": f"{job['attempts']}/{job['max_attempts']}", "error": (job["error"] or "")[:80]}


@jobs_app.command("list")
def list_(
    ctx: typer.Context,
    status: str = typer.Option(None, "--status", help="queued, running, succeeded, failed or cancelled."),
    kind: str = typer.Option(None, "--kind", help="Only jobs of this kind."),
    limit: int = typer.Option(50, "--limit", min=1, max=500, help="How many rows."),
    project: str | None = common.PROJECT_OPTION,
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Jobs of the project, newest first."""
    from stackwright.jobs import service

    with common.database(ctx).read() as session:
        rows = [service.job_payload(j) for j in service.list_jobs(session, project_for(ctx, session, project).id, status=status, kind=kind, limit=limit)]
    if as_json:
        common.print_json(rows)
    else:
        common.print_table([_row(r) for r in rows], COLUMNS, title="jobs")


def _show(job: dict[str, Any], logs: bool) -> None:
    typer.echo(f"{job['id']}  {job['kind']}  {job['status']}  progress {job['progress']:.0%}  attempts {job['attempts']}/{job['max_attempts']}")
    if job["error"]:
        typer.echo(f"error: {job['error']}")
    if job["result"] is not None:
        import orjson

        typer.echo("result: " + orjson.dumps(job["result"], default=str).decode())
    for line in job.get("logs") or [] if logs else []:
        typer.echo(f"  {line['at']}  [{line['level']}] #{line['attempt']}  {line['message']}")


@jobs_app.command("show")
def show(
    ctx: typer.Context,
    job_id: str = typer.Argument(..., help="Job id."),
    logs: bool = typer.Option(False, "--logs", help="Print the job's log lines too."),
    project: str | None = common.PROJECT_OPTION,
    as_json: bool = common.JSON_OPTION,
) -> None:
    """One job: status, progress, attempts, result or error (and its log)."""
    from stackwright.jobs import service

    with common.database(ctx).read() as session:
        job = service.get_job(session, project_for(ctx, session, project).id, job_id)
        data = service.job_payload(job, service.job_logs(session, job.id) if logs else None)
    if as_json:
        common.print_json(data)
    else:
        _show(data, logs)


@jobs_app.command("run")
def run(
    ctx: typer.Context,
    kind: str = typer.Option(..., "--kind", help="Job kind: noop, sleep, fail, retrieval.ingest, evals.run, datasets.from_traces or a plugin's."),
    params: str = PARAMS_OPTION,
    max_attempts: int = typer.Option(1, "--max-attempts", min=1, max=20, help="Attempts before the job fails."),
    wait: bool = typer.Option(False, "--wait", help="Run it here and now (retries included) and print the outcome."),
    project: str | None = common.PROJECT_OPTION,
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Enqueue a job (a running server picks it up), or run it here with --wait."""
    from stackwright.auth import audit
    from stackwright.auth.actors import cli_actor
    from stackwright.jobs import service

    db = common.database(ctx)
    with db.write() as session:
        project_id = project_for(ctx, session, project).id
        job = service.enqueue(session, project_id, kind, _params(params), max_attempts=max_attempts, settings=common.settings(ctx))
        audit.record(session, cli_actor(), "job.enqueue", "job", job.id, project_id=project_id, after={"kind": job.kind})
        job_id = job.id
    if wait:
        _wait(db, project_id, job_id)
    with db.read() as session:
        data = service.job_payload(service.get_job(session, project_id, job_id), service.job_logs(session, job_id) if wait else None)
    if as_json:
        common.print_json(data)
    else:
        _show(data, False) if wait else typer.echo(f"queued {job_id} ({data['kind']}); follow it with `stackwright jobs show {job_id} --logs`")
    if wait and data["status"] != "succeeded":
        raise typer.Exit(1)


def _wait(db: Any, project_id: str, job_id: str) -> None:
    """Run the job's attempts here (a server that claimed it first runs it instead: then poll)."""
    import time

    from stackwright.jobs import service
    from stackwright.jobs.models import FINISHED
    from stackwright.jobs.runner import JobWorker

    worker = JobWorker(db, retry_backoff_s=1.0)
    while True:
        worker.run_until_idle(job_id=job_id)
        with db.read() as session:
            job = service.get_job(session, project_id, job_id)
            status, run_after = job.status, job.run_after
        if status in FINISHED:
            return
        from stackwright.core.clock import utcnow

        time.sleep(min(5.0, max(0.2, (run_after - utcnow()).total_seconds())) if status == "queued" else 1.0)


@jobs_app.command("cancel")
def cancel(ctx: typer.Context, job_id: str = typer.Argument(..., help="Job id."), project: str | None = common.PROJECT_OPTION) -> None:
    """Cancel a job: a queued one now, a running one at its next progress report."""
    from stackwright.auth.actors import cli_actor
    from stackwright.jobs import service

    with common.database(ctx).write() as session:
        job = service.cancel_by(session, cli_actor(), project_for(ctx, session, project).id, job_id)
        status = job.status
    typer.echo(f"{job_id}: cancelled" if status == "cancelled" else f"{job_id}: cancel requested; it stops at its next progress report")


@jobs_app.command("schedule")
def schedule(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Schedule name (an existing one is replaced)."),
    cron: str = typer.Option(..., "--cron", help='Five cron fields in UTC, e.g. "*/5 * * * *".'),
    kind: str = typer.Option(..., "--kind", help="Job kind to enqueue."),
    params: str = PARAMS_OPTION,
    max_attempts: int = typer.Option(1, "--max-attempts", min=1, max=20, help="Attempts of each job."),
    disabled: bool = typer.Option(False, "--disabled", help="Store it without firing."),
    project: str | None = common.PROJECT_OPTION,
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Create or replace a cron schedule; the server enqueues a job at each time."""
    from stackwright.auth import audit
    from stackwright.auth.actors import cli_actor
    from stackwright.jobs import service

    with common.database(ctx).write() as session:
        project_id = project_for(ctx, session, project).id
        row, created = service.set_schedule(session, project_id, name, cron, kind, _params(params), max_attempts=max_attempts, enabled=not disabled,
                                            settings=common.settings(ctx))  # fmt: skip
        data = service.schedule_payload(row)
        audit.record(session, cli_actor(), "job_schedule.set", "job_schedule", name, project_id=project_id, after={"cron": data["cron"], "kind": data["kind"]})
    if as_json:
        common.print_json(data)
    else:
        typer.echo(f"{'created' if created else 'replaced'} schedule {name}: {data['kind']} at '{data['cron']}', next run {data['next_run_at']}")


@jobs_app.command("unschedule")
def unschedule(ctx: typer.Context, name: str = typer.Argument(..., help="Schedule name."), project: str | None = common.PROJECT_OPTION) -> None:
    """Delete a schedule (jobs it already enqueued stay)."""
    from stackwright.auth import audit
    from stackwright.auth.actors import cli_actor
    from stackwright.jobs import service

    with common.database(ctx).write() as session:
        project_id = project_for(ctx, session, project).id
        service.delete_schedule(session, project_id, name)
        audit.record(session, cli_actor(), "job_schedule.delete", "job_schedule", name, project_id=project_id)
    typer.echo(f"deleted schedule {name}")


@jobs_app.command("schedules")
def schedules(ctx: typer.Context, project: str | None = common.PROJECT_OPTION, as_json: bool = common.JSON_OPTION) -> None:
    """The project's cron schedules with their next run."""
    from stackwright.jobs import service

    with common.database(ctx).read() as session:
        rows = [service.schedule_payload(r) for r in service.list_schedules(session, project_for(ctx, session, project).id)]
    common.emit(rows, ["name", "cron", "kind", "enabled", "next_run_at", "last_run_at"], as_json, title="job schedules")
