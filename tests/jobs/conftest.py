"""Jobs fixtures: the default project's id, a worker on the test database, and helpers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import update

from stackwright.core.db import Database
from tests.auth.conftest import client_for, default, make_key, other  # noqa: F401  (fixtures)


@pytest.fixture
def project_id(prepared: Database) -> str:
    from stackwright.auth import service as auth_service

    with prepared.read() as session:
        return auth_service.find_project(session, "default").id


@pytest.fixture
def worker(prepared: Database):
    from stackwright.jobs.runner import JobWorker

    w = JobWorker(prepared, retry_backoff_s=0.0, worker_id="test-worker")
    yield w
    w.close(wait=True)


def enqueue(db: Database, project_id: str, kind: str, params: dict[str, Any] | None = None, **options: Any) -> str:
    from stackwright.jobs import service

    with db.write() as session:
        return service.enqueue(session, project_id, kind, params or {}, **options).id


def job(db: Database, project_id: str, job_id: str, logs: bool = True) -> dict[str, Any]:
    from stackwright.jobs import service

    with db.read() as session:
        row = service.get_job(session, project_id, job_id)
        return service.job_payload(row, service.job_logs(session, job_id) if logs else None)


def set_due(db: Database, schedule_id: str, when: datetime) -> None:
    from stackwright.jobs.models import JobSchedule

    with db.write() as session:
        session.execute(update(JobSchedule).where(JobSchedule.id == schedule_id).values(next_run_at=when))
