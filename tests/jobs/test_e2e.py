"""A real `stackwright serve` runs jobs and schedules in the background; after a restart it re-queues the
job a dead server left running and fires no schedule time twice."""

from __future__ import annotations

import time
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update

from stackwright.core.clock import utcnow
from stackwright.core.config import Settings
from stackwright.core.db import Database
from stackwright.jobs.models import Job, JobSchedule
from tests.sdk.server import running_server

KEY = "sw-e2e-admin-key-0123456789abcdef"
ENV = {"STACKWRIGHT_JOBS_POLL_INTERVAL_S": "0.2", "STACKWRIGHT_JOBS_STALE_AFTER_S": "5"}


def wait_for(check, timeout_s: float = 60.0):
    """Poll until ``check()`` returns something truthy (no timing is asserted: only the outcome)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("the server did not get there in time")


@pytest.mark.e2e
def test_the_server_runs_jobs_and_schedules_and_recovers_after_a_restart(tmp_path):
    home = tmp_path / "home"
    with running_server(home, KEY, env=ENV) as server:
        api = httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {KEY}"}, timeout=10)
        job_id = api.post("/api/v1/jobs", json={"kind": "sleep", "params": {"seconds": 0, "ticks": 2}}).json()["id"]
        done = wait_for(lambda: (j := api.get(f"/api/v1/jobs/{job_id}").json())["status"] == "succeeded" and j)
        assert done["progress"] == 1.0 and done["worker"]
        created = api.post("/api/v1/jobs/schedules", json={"name": "yearly", "cron": "0 0 1 1 *", "kind": "noop"})
        assert created.status_code == 201, created.text
        api.close()
    assert server.returncode == 0, server.log()[-2000:]

    db = Database(Settings(home=home))
    # (a yearly cron: only the time forced due below can fire while the test runs, whatever minute it is)
    scheduled = (utcnow() - timedelta(minutes=2)).replace(microsecond=0)
    with db.write() as session:  # while no server runs: one schedule time is due, one job was left running by a dead worker
        session.execute(update(JobSchedule).values(next_run_at=scheduled))
        session.execute(update(Job).where(Job.id == job_id).values(status="running", worker="dead-host:1:abc",
                                                                   heartbeat_at=utcnow() - timedelta(hours=1)))  # fmt: skip
    try:
        for _ in range(2):  # two restarts: the due time fires once, the stale job is re-run
            with running_server(home, KEY, env=ENV) as again, httpx.Client(
                base_url=again.base_url, headers={"Authorization": f"Bearer {KEY}"}, timeout=10
            ) as api:
                wait_for(lambda api=api: api.get(f"/api/v1/jobs/{job_id}").json()["status"] == "succeeded")
                fired = wait_for(lambda api=api: api.get("/api/v1/jobs", params={"kind": "noop"}).json()["data"])
                wait_for(lambda api=api: all(j["status"] == "succeeded" for j in api.get("/api/v1/jobs", params={"kind": "noop"}).json()["data"]))
            assert again.returncode == 0, again.log()[-2000:]
        with db.read() as session:
            runs = session.scalars(select(Job).where(Job.schedule_id.isnot(None))).all()
            rerun = session.get(Job, job_id)
        assert [j.run_key.endswith(scheduled.isoformat()) for j in runs] == [True] and len(fired) == 1
        assert rerun.attempts == 2 and rerun.status == "succeeded" and rerun.worker != "dead-host:1:abc"
    finally:
        db.dispose()
