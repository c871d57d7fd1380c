"""Executors for jobs: the Ray executor without ray installed fails with the fix; a server set to an
executor that cannot run stops at start; a worker never claims a job it has nowhere to run."""

from __future__ import annotations

import importlib.util
import threading

import pytest

from stackwright.core.errors import ConfigError, NotFound
from stackwright.core.plugins import executors
from stackwright.jobs.runner import JobWorker
from tests.jobs.conftest import enqueue, job

needs_no_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is not None, reason="ray is installed here")


@needs_no_ray
def test_the_ray_executor_names_the_missing_extra() -> None:
    with pytest.raises(ConfigError) as caught:
        executors.get("ray")(max_workers=1)
    assert "pip install 'stackwright[ray]'" in caught.value.message


@needs_no_ray
def test_a_worker_without_its_executor_claims_nothing(prepared, project_id) -> None:
    job_id = enqueue(prepared, project_id, "noop")
    with pytest.raises(ConfigError, match="ray"):
        JobWorker(prepared, executor="ray").tick()
    with pytest.raises(NotFound, match="executors plugin named 'nope'"):
        JobWorker(prepared, executor="nope").tick()
    assert job(prepared, project_id, job_id)["status"] == "queued"


@needs_no_ray
def test_the_server_refuses_to_start_jobs_on_a_missing_executor(settings, prepared) -> None:
    from stackwright.jobs.scheduler import JobsTask

    task = JobsTask(prepared, settings.model_copy(update={"jobs_executor": "ray"}))
    with pytest.raises(ConfigError, match=r"stackwright\[ray\]"):
        task.start()
    assert JobsTask(prepared, settings.model_copy(update={"jobs_enabled": False, "jobs_executor": "ray"})).start() is None


@pytest.fixture
def blocking_kind():
    from stackwright.jobs.kinds import JobKind, kinds

    release = threading.Event()

    def run(ctx, params):
        assert release.wait(60)
        return {"n": params["n"]}

    kinds.register("test.block", JobKind("test.block", run))
    yield release
    release.set()
    kinds.unregister("test.block")


def test_the_local_executor_runs_at_most_concurrency_jobs(prepared, project_id, blocking_kind) -> None:
    worker = JobWorker(prepared, executor="local", concurrency=2, worker_id="pool")
    ids = [enqueue(prepared, project_id, "test.block", {"n": i}) for i in range(3)]
    try:
        first = worker.tick()["started"]
        assert first == ids[:2]  # oldest first, two at a time
        assert worker.tick()["started"] == []  # both slots busy
        assert job(prepared, project_id, ids[2])["status"] == "queued"
        blocking_kind.set()
        worker.wait_running(60)
        assert worker.tick()["started"] == ids[2:]
        worker.wait_running(60)
    finally:
        worker.close(wait=True)
    assert [job(prepared, project_id, i)["result"] for i in ids] == [{"n": i} for i in range(3)]


def test_a_job_run_inline_keeps_heartbeating(prepared, project_id) -> None:
    """`jobs run --wait` runs the job in the CLI: a long job without progress reports must not look dead."""
    from sqlalchemy import select

    from stackwright.jobs.kinds import JobKind, kinds
    from stackwright.jobs.models import Job

    def watch(ctx, params):
        with ctx.db.read() as session:
            first = session.scalar(select(Job.heartbeat_at).where(Job.id == ctx.job_id))
        for _ in range(600):
            with ctx.db.read() as session:
                if session.scalar(select(Job.heartbeat_at).where(Job.id == ctx.job_id)) > first:
                    return {"heartbeat_advanced": True}
            threading.Event().wait(0.05)
        return {"heartbeat_advanced": False}

    kinds.register("test.watch", JobKind("test.watch", watch))
    try:
        job_id = enqueue(prepared, project_id, "test.watch")
        JobWorker(prepared, stale_after_s=1.0, worker_id="cli").run_until_idle(job_id=job_id)
    finally:
        kinds.unregister("test.watch")
    assert job(prepared, project_id, job_id)["result"] == {"heartbeat_advanced": True}
