"""Running jobs: claim a queued job (compare-and-set on its status), run its kind with a ``JobContext``,
record the result, or retry it later with back-off until ``max_attempts``; re-queue jobs whose worker
stopped heartbeating (a crash or restart), and fire due schedules.

Every state change is a conditional UPDATE, so any number of workers (threads, server processes, hosts
on one Postgres) can run side by side: a job runs once per attempt, a schedule fires once per time.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import secrets
import socket
from concurrent.futures import Future
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from stackwright.core.clock import utcnow
from stackwright.core.db import Database, rowcount
from stackwright.core.errors import InvalidInput
from stackwright.jobs import service
from stackwright.jobs.models import Job, JobSchedule

log = logging.getLogger("stackwright.jobs")
MAX_BACKOFF_S = 600.0
EXTRA_ATTEMPTS_AFTER_CRASH = 2  # attempts beyond max_attempts granted to jobs whose worker died


class JobCancelled(Exception):
    """Raised inside a job by ``progress()``/``check_cancelled()`` once a cancel was requested."""


class JobContext:
    """What a job's code gets: who it runs for, which attempt, the database, and ways to report."""

    def __init__(self, db: Database, job_id: str, project_id: str, attempt: int, worker: str):
        self.db = db
        self.job_id = job_id
        self.project_id = project_id
        self.attempt = attempt
        self.worker = worker

    def _mine(self) -> Any:
        return (Job.id == self.job_id, Job.status == "running", Job.worker == self.worker, Job.attempts == self.attempt)

    def log(self, message: str, level: str = "info") -> None:
        """Append a line to the job's log (kept with the job, shown by `jobs show --logs`)."""
        with self.db.write() as session:
            service.add_log(session, self.job_id, self.attempt, message, level)
            session.execute(update(Job).where(*self._mine()).values(heartbeat_at=utcnow()))

    def progress(self, fraction: float) -> None:
        """Report progress (0..1); raises JobCancelled if the job was cancelled meanwhile."""
        fraction = min(1.0, max(0.0, float(fraction)))
        with self.db.write() as session:
            session.execute(update(Job).where(*self._mine()).values(progress=fraction, heartbeat_at=utcnow()))
        self.check_cancelled()

    def check_cancelled(self) -> None:
        with self.db.read() as session:
            row = session.execute(select(Job.cancel_requested, Job.status, Job.worker, Job.attempts).where(Job.id == self.job_id)).first()
        if row is None or row.cancel_requested:
            raise JobCancelled("cancelled")
        if row.status != "running" or row.worker != self.worker or row.attempts != self.attempt:
            raise JobCancelled("this attempt was taken over by another worker")


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def backoff_s(base_s: float, attempt: int) -> float:
    return min(MAX_BACKOFF_S, base_s * 2 ** max(0, attempt - 1))


# -- claiming ---------------------------------------------------------------------------------------------


def claim_job(db: Database, worker: str, *, job_id: str | None = None, now: datetime | None = None) -> Job | None:
    """Take one due queued job (the oldest, or ``job_id``) for ``worker``: status running, attempts + 1."""
    now = now or utcnow()
    with db.write() as session:
        query = select(Job.id).where(Job.status == "queued", Job.run_after <= now)
        query = query.where(Job.id == job_id) if job_id else query.order_by(Job.run_after, Job.created_at).limit(8)
        for candidate in session.scalars(query).all():
            claimed = rowcount(session.execute(
                update(Job).where(Job.id == candidate, Job.status == "queued")
                .values(status="running", attempts=Job.attempts + 1, worker=worker, started_at=now, heartbeat_at=now)
            ))  # fmt: skip
            if claimed == 1:
                job = session.get_one(Job, candidate)
                session.refresh(job)
                service.add_log(session, job.id, job.attempts, f"attempt {job.attempts} of {job.max_attempts} started on {worker}")
                return job
    return None


def requeue_stale(db: Database, stale_after_s: float, *, now: datetime | None = None) -> list[str]:
    """Put running jobs whose heartbeat is older than ``stale_after_s`` back in the queue (their worker is
    gone). A job whose cancel was requested is cancelled instead; one that took its worker down
    ``EXTRA_ATTEMPTS_AFTER_CRASH`` times beyond its ``max_attempts`` fails (a job that kills every
    process that runs it must not loop forever). Returns the re-queued ids."""
    now = now or utcnow()
    cutoff = now - timedelta(seconds=stale_after_s)
    requeued = []
    with db.write() as session:
        rows = session.execute(
            select(Job.id, Job.worker, Job.heartbeat_at, Job.attempts, Job.max_attempts, Job.cancel_requested)
            .where(Job.status == "running", Job.heartbeat_at < cutoff)
        ).all()  # fmt: skip
        for job_id, worker, heartbeat, attempts, max_attempts, cancel_requested in rows:
            assert heartbeat is not None  # the query keeps only jobs with an old heartbeat
            why = f"worker {worker} stopped heartbeating (last at {heartbeat.isoformat()})"
            if cancel_requested:
                values, message = {"status": "cancelled", "finished_at": now, "error": f"cancelled; {why}"}, f"cancelled: {why}"
            elif attempts >= max_attempts + EXTRA_ATTEMPTS_AFTER_CRASH:
                error = f"{why}, after {attempts} attempts: the job may be crashing its worker"
                values, message = {"status": "failed", "finished_at": now, "error": error}, f"failed: {error}"
            else:
                values, message = {"status": "queued", "worker": None, "run_after": now, "progress": 0.0}, f"re-queued: {why}"
            done = rowcount(session.execute(
                update(Job).where(Job.id == job_id, Job.status == "running", Job.heartbeat_at == heartbeat).values(**values)
            ))  # fmt: skip
            if done:
                service.add_log(session, job_id, attempts, message, "warning")
                if values["status"] == "queued":
                    requeued.append(job_id)
    if requeued:
        log.warning("re-queued %d job(s) left running by a stopped worker: %s", len(requeued), ", ".join(requeued))
    return requeued


def claim_due_schedules(db: Database, *, now: datetime | None = None) -> list[str]:
    """Fire every due schedule once: advance its ``next_run_at`` with a compare-and-set and enqueue a job
    whose ``run_key`` is ``schedule_id@scheduled time`` (unique), in one transaction. Missed times (the
    server was down) fire once, then the schedule moves on past ``now``. Returns the new job ids."""
    now = now or utcnow()
    with db.read() as session:
        due = session.execute(
            select(JobSchedule.id, JobSchedule.next_run_at, JobSchedule.cron)
            .where(JobSchedule.enabled.is_(True), JobSchedule.next_run_at <= now).order_by(JobSchedule.next_run_at).limit(200)
        ).all()  # fmt: skip
    jobs = []
    for schedule_id, scheduled, cron in due:
        try:
            new_job = _fire(db, schedule_id, scheduled, service.next_fire(cron, max(now, scheduled)))
        except Exception:  # one broken schedule must not stop the others (logged with its stack)
            log.exception("could not fire job schedule %s", schedule_id)
            continue
        if new_job:
            jobs.append(new_job)
    return jobs


def _fire(db: Database, schedule_id: str, scheduled: datetime, following: datetime) -> str | None:
    with db.write() as session:
        won = rowcount(session.execute(
            update(JobSchedule).where(JobSchedule.id == schedule_id, JobSchedule.next_run_at == scheduled, JobSchedule.enabled.is_(True))
            .values(next_run_at=following, last_run_at=scheduled)
        ))  # fmt: skip
        if won != 1:
            return None  # another scheduler fired it
        row = session.get_one(JobSchedule, schedule_id)
        try:
            with session.begin_nested():
                job = service.enqueue(session, row.project_id, row.kind, row.params, max_attempts=row.max_attempts,
                                      run_key=f"{row.id}@{scheduled.isoformat()}", schedule_id=row.id, checked=True)  # fmt: skip
                service.add_log(session, job.id, 0, f"enqueued by schedule {row.name!r} ({row.cron}) for {scheduled.isoformat()}")
        except IntegrityError:
            return None  # this time already has its job
        return job.id


# -- running ----------------------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    from pydantic_core import to_jsonable_python

    return to_jsonable_python(value, fallback=str)


def execute_job(db: Database, job_id: str, worker: str, attempt: int, *, retry_backoff_s: float = 5.0) -> str:
    """Run one claimed attempt to its end and record it; returns the status written."""
    from stackwright.jobs.kinds import get_kind

    with db.read() as session:
        job = session.get(Job, job_id)
        if job is None:
            return "lost"  # deleted meanwhile (its project was)
        project_id, kind_name, params, max_attempts = job.project_id, job.kind, job.params, job.max_attempts
    ctx = JobContext(db, job_id, project_id, attempt, worker)
    permanent = False
    try:
        kind = get_kind(kind_name)
        result = kind.run(ctx, kind.parse(params))
        if inspect.isawaitable(result):
            result = asyncio.run(_await(result))
        return _finish(db, ctx, "succeeded", result=_jsonable(result))
    except JobCancelled as exc:
        return _finish(db, ctx, "cancelled", error=str(exc))
    except Exception as exc:  # noqa: BLE001 - the job failed: record why, retry if attempts are left
        permanent = isinstance(exc, InvalidInput)  # bad params or spec: another attempt fails the same way
        error = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        log.info("job %s attempt %d failed: %s", job_id, attempt, error)
        if not permanent and attempt < max_attempts:
            return _retry(db, ctx, error, retry_backoff_s)
        return _finish(db, ctx, "failed", error=error)


async def _await(value: Any) -> Any:
    return await value


def _finish(db: Database, ctx: JobContext, status: str, *, result: Any = None, error: str | None = None) -> str:
    now = utcnow()
    with db.write() as session:
        values: dict[str, Any] = {"status": status, "finished_at": now, "heartbeat_at": now, "error": error}
        if status == "succeeded":
            values.update(result=result, progress=1.0)
        done = rowcount(session.execute(update(Job).where(*ctx._mine()).values(**values)))
        if not done:
            return "lost"  # re-queued (stale) or taken over meanwhile: the other attempt records the outcome
        message = {"succeeded": "succeeded", "cancelled": "cancelled", "failed": f"failed: {error}"}[status]
        service.add_log(session, ctx.job_id, ctx.attempt, message, "error" if status == "failed" else "info")
    return status


def _retry(db: Database, ctx: JobContext, error: str, base_s: float) -> str:
    now = utcnow()
    wait = backoff_s(base_s, ctx.attempt)
    with db.write() as session:
        cancelled = session.scalar(select(Job.cancel_requested).where(Job.id == ctx.job_id))
        if cancelled:
            done = rowcount(session.execute(update(Job).where(*ctx._mine()).values(status="cancelled", finished_at=now, error=error)))
            return "cancelled" if done else "lost"
        done = rowcount(session.execute(
            update(Job).where(*ctx._mine()).values(status="queued", worker=None, error=error, run_after=now + timedelta(seconds=wait))
        ))  # fmt: skip
        if not done:
            return "lost"
        service.add_log(session, ctx.job_id, ctx.attempt, f"attempt {ctx.attempt} failed: {error}; retrying in {wait:g} s", "warning")
    return "queued"


def run_job_in_process(settings_json: str, job_id: str, worker: str, attempt: int, retry_backoff_s: float) -> str:
    """Entry point for executors that run jobs in another process (Ray): opens the database from settings."""
    from stackwright.core.config import Settings

    db = Database(Settings.model_validate_json(settings_json))
    try:
        return execute_job(db, job_id, worker, attempt, retry_backoff_s=retry_backoff_s)
    finally:
        db.dispose()


class JobWorker:
    """Claims and runs jobs on an executor (``local`` thread pool, ``ray``), fires schedules, re-queues stale jobs.

    ``tick()`` does one round without waiting for the jobs it starts; ``run_until_idle()`` runs due work
    here, inline, until none is left (the CLI's ``--wait`` and tests).
    """

    def __init__(self, db: Database, *, executor: str = "local", concurrency: int = 2, stale_after_s: float = 60.0,
                 retry_backoff_s: float = 5.0, worker_id: str | None = None):  # fmt: skip
        self.db = db
        self.executor_name = executor
        self.concurrency = concurrency
        self.stale_after_s = stale_after_s
        self.retry_backoff_s = retry_backoff_s
        self.worker_id = worker_id or new_worker_id()
        self._executor: Any = None
        self._running: dict[str, Future] = {}

    def _get_executor(self) -> Any:
        if self._executor is None:
            from stackwright.core.plugins import executors
            from stackwright.jobs.kinds import kinds

            kinds.names()  # load the kinds' entry points here, once, before jobs run in several threads at a time

            self._executor = executors.get(self.executor_name)(max_workers=self.concurrency)
        return self._executor

    def check_executor(self) -> None:
        """Load the executor now: ConfigError/NotFound with a fix-it message if it cannot run here."""
        self._get_executor()

    def tick(self) -> dict[str, Any]:
        self._get_executor()  # before claiming anything: a job is never claimed without somewhere to run it
        requeued = requeue_stale(self.db, self.stale_after_s)
        fired = claim_due_schedules(self.db)
        self._heartbeat()
        started = []
        while len(self._running) < self.concurrency:
            job = claim_job(self.db, self.worker_id)
            if job is None:
                break
            started.append(job.id)
            self._submit(job)
        return {"requeued": requeued, "fired": fired, "started": started}

    def _submit(self, job: Job) -> Future:
        executor = self._get_executor()
        if getattr(executor, "name", "local") == "local":
            future = executor.submit(execute_job, self.db, job.id, self.worker_id, job.attempts, retry_backoff_s=self.retry_backoff_s)
        else:
            future = executor.submit(run_job_in_process, self.db.settings.model_dump_json(), job.id, self.worker_id, job.attempts, self.retry_backoff_s)
        self._running[job.id] = future  # before the callback: a job that already finished removes itself
        future.add_done_callback(lambda f, job_id=job.id: self._done(job_id, f))
        return future

    def _done(self, job_id: str, future: Future) -> None:
        self._running.pop(job_id, None)
        if future.exception() is not None:
            log.error("job %s crashed its executor: %s", job_id, future.exception())

    def _heartbeat(self) -> None:
        ids = list(self._running)
        if ids:
            with self.db.write() as session:
                session.execute(update(Job).where(Job.id.in_(ids), Job.worker == self.worker_id, Job.status == "running").values(heartbeat_at=utcnow()))

    def run_until_idle(self, *, job_id: str | None = None, max_jobs: int = 10_000) -> int:
        """Run due jobs (or only ``job_id``) here until none is due; returns how many attempts ran."""
        ran = 0
        while ran < max_jobs:
            if job_id is None:
                requeue_stale(self.db, self.stale_after_s)
                claim_due_schedules(self.db)
            job = claim_job(self.db, self.worker_id, job_id=job_id)
            if job is None:
                return ran
            self._run_inline(job)
            ran += 1
        return ran

    def _run_inline(self, job: Job) -> str:
        """Run one attempt in this thread, heartbeating from another so no scheduler takes it for dead."""
        import threading

        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(max(0.2, self.stale_after_s / 4)):
                try:
                    with self.db.write() as session:
                        session.execute(update(Job).where(Job.id == job.id, Job.worker == self.worker_id, Job.status == "running")
                                        .values(heartbeat_at=utcnow()))  # fmt: skip
                except Exception:  # the next beat tries again
                    log.exception("heartbeat of job %s failed", job.id)

        thread = threading.Thread(target=beat, name=f"stackwright-heartbeat-{job.id}", daemon=True)
        thread.start()
        try:
            return execute_job(self.db, job.id, self.worker_id, job.attempts, retry_backoff_s=self.retry_backoff_s)
        finally:
            stop.set()
            thread.join()

    def wait_running(self, timeout_s: float | None = None) -> None:
        from concurrent.futures import wait

        wait(list(self._running.values()), timeout=timeout_s)

    def close(self, wait: bool = False) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=wait)
            self._executor = None
