"""Jobs on SQLite and Postgres: lifecycle, progress and logs, retries with back-off, cancel, stale jobs
re-queued after a restart, bad kinds and params."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from stackwright.core.clock import utcnow
from stackwright.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from stackwright.jobs import service
from stackwright.jobs.models import Job
from stackwright.jobs.runner import claim_job, execute_job, requeue_stale
from tests.jobs.conftest import enqueue, job


def test_a_job_runs_to_success_with_progress_result_and_logs(prepared, project_id, worker):
    job_id = enqueue(prepared, project_id, "sleep", {"seconds": 0, "ticks": 4})
    queued = job(prepared, project_id, job_id)
    assert (queued["status"], queued["attempts"], queued["progress"]) == ("queued", 0, 0.0)
    assert worker.run_until_idle() == 1
    done = job(prepared, project_id, job_id)
    assert (done["status"], done["attempts"], done["progress"], done["result"]) == ("succeeded", 1, 1.0, {"slept_s": 0.0})
    assert done["started_at"] and done["finished_at"] and done["worker"] == "test-worker"
    messages = [line["message"] for line in done["logs"]]
    assert messages[0].startswith("attempt 1 of 1 started on test-worker") and messages[-1] == "succeeded"
    assert worker.run_until_idle() == 0  # nothing left


def test_a_failing_job_is_retried_until_it_succeeds(prepared, project_id, worker):
    job_id = enqueue(prepared, project_id, "fail", {"attempts": 2, "message": "flaky upstream"}, max_attempts=3)
    assert worker.run_until_idle() == 3
    done = job(prepared, project_id, job_id)
    assert (done["status"], done["attempts"], done["result"]) == ("succeeded", 3, {"attempt": 3})
    retries = [line["message"] for line in done["logs"] if "retrying" in line["message"]]
    assert len(retries) == 2 and "flaky upstream" in retries[0]


def test_a_job_that_keeps_failing_fails_after_max_attempts(prepared, project_id, worker):
    job_id = enqueue(prepared, project_id, "fail", {"message": "always broken"}, max_attempts=2)
    worker.run_until_idle()
    done = job(prepared, project_id, job_id)
    assert (done["status"], done["attempts"]) == ("failed", 2)
    assert "RuntimeError: always broken" in done["error"]
    assert done["logs"][-1]["level"] == "error"


def test_retries_back_off_before_the_next_attempt(prepared, project_id):
    from stackwright.jobs.runner import JobWorker

    slow = JobWorker(prepared, retry_backoff_s=300.0, worker_id="slow")
    job_id = enqueue(prepared, project_id, "fail", {"attempts": 1}, max_attempts=2)
    assert slow.run_until_idle() == 1  # the retry is not due yet
    waiting = job(prepared, project_id, job_id)
    assert waiting["status"] == "queued" and waiting["attempts"] == 1
    with prepared.read() as session:
        assert session.get(Job, job_id).run_after > utcnow() + timedelta(seconds=200)


def test_cancel_a_queued_job_and_a_running_one(prepared, project_id, worker):
    queued = enqueue(prepared, project_id, "noop")
    with prepared.write() as session:
        assert service.cancel(session, project_id, queued).status == "cancelled"
    assert worker.run_until_idle() == 0
    with prepared.write() as session, pytest.raises(Conflict, match="already finished"):
        service.cancel(session, project_id, queued)

    running = enqueue(prepared, project_id, "sleep", {"seconds": 0, "ticks": 3})
    claimed = claim_job(prepared, "w1")
    assert claimed.id == running
    with prepared.write() as session:
        row = service.cancel(session, project_id, running)
        assert row.status == "running" and row.cancel_requested
    assert execute_job(prepared, running, "w1", 1) == "cancelled"
    done = job(prepared, project_id, running)
    assert done["status"] == "cancelled" and done["result"] is None and "cancel requested" in [line["message"] for line in done["logs"]]


def test_a_stale_running_job_is_requeued_and_the_old_worker_cannot_finish_it(prepared, project_id, worker):
    job_id = enqueue(prepared, project_id, "noop", {"result": 7})
    assert claim_job(prepared, "crashed-worker").id == job_id
    assert requeue_stale(prepared, 60) == []  # its heartbeat is fresh
    with prepared.write() as session:
        session.execute(update(Job).where(Job.id == job_id).values(heartbeat_at=utcnow() - timedelta(minutes=10)))
    assert requeue_stale(prepared, 60) == [job_id]  # after a restart, the new server finds it
    requeued = job(prepared, project_id, job_id)
    assert requeued["status"] == "queued" and requeued["worker"] is None
    assert any("crashed-worker stopped heartbeating" in line["message"] for line in requeued["logs"])
    assert worker.run_until_idle() == 1
    done = job(prepared, project_id, job_id)
    assert (done["status"], done["attempts"], done["result"]) == ("succeeded", 2, {"result": 7})
    assert execute_job(prepared, job_id, "crashed-worker", 1) == "lost"  # the zombie attempt changes nothing
    assert job(prepared, project_id, job_id)["status"] == "succeeded"


def test_a_job_is_claimed_by_one_worker_only(prepared, project_id):
    job_id = enqueue(prepared, project_id, "noop")
    first, second = claim_job(prepared, "a"), claim_job(prepared, "b")
    assert first.id == job_id and second is None


def test_unknown_kind_and_bad_params_are_refused_naming_the_problem(prepared, project_id):
    with prepared.write() as session:
        with pytest.raises(InvalidInput, match="Unknown job kind 'nope'") as caught:
            service.enqueue(session, project_id, "nope", {})
        assert "noop" in caught.value.message and "retrieval.ingest" in caught.value.message
        with pytest.raises(InvalidInput, match="seconds") as caught:
            service.enqueue(session, project_id, "sleep", {"seconds": "soon"})
        assert "'sleep' job" in caught.value.message
        with pytest.raises(InvalidInput, match="unexpected: Extra inputs"):
            service.enqueue(session, project_id, "noop", {"unexpected": 1})
        with pytest.raises(InvalidInput, match="JSON object"):
            service.enqueue(session, project_id, "noop", [1, 2])  # type: ignore[arg-type]
        with pytest.raises(InvalidInput, match="max_attempts"):
            service.enqueue(session, project_id, "noop", {}, max_attempts=0)
        with pytest.raises(Forbidden, match="STACKWRIGHT_EVAL_PYTHON_ALLOW"):  # no settings given: no python code is allowed
            service.enqueue(session, project_id, "evals.run", {"spec": {"name": "x", "dataset": "d", "target": {"python": "m:f"}, "scorers": ["exact"]}})
        with pytest.raises(InvalidInput, match="collection"):
            service.enqueue(session, project_id, "retrieval.ingest", {"documents": [{"source": "a", "text": "b"}]})
    with prepared.read() as session:
        assert session.scalars(select(Job)).all() == []


def test_another_projects_job_is_not_found(prepared, project_id, other):
    job_id = enqueue(prepared, project_id, "noop")
    with prepared.write() as session:
        with pytest.raises(NotFound):
            service.get_job(session, other.project_id, job_id)
        with pytest.raises(NotFound):
            service.cancel(session, other.project_id, job_id)
        assert service.list_jobs(session, other.project_id) == []


def test_datasets_from_traces_job(prepared, project_id, worker):
    job_id = enqueue(prepared, project_id, "datasets.from_traces", {"name": "from-prod", "filters": {}, "limit": 10})
    worker.run_until_idle()
    done = job(prepared, project_id, job_id)
    assert done["status"] == "succeeded", done
    assert done["result"]["name"] == "from-prod" and done["result"]["matched"] == 0


def test_retrieval_ingest_job(prepared, project_id, worker):
    from stackwright.auth.actors import cli_actor
    from stackwright.retrieval.collections import service as collections
    from stackwright.retrieval.embedders import EmbedContext

    collections.create(EmbedContext(prepared, project_id), cli_actor(), {"name": "help"})
    docs = [{"source": f"doc-{i}.txt", "text": f"Reset your password from the account page, step {i}."} for i in range(3)]
    job_id = enqueue(prepared, project_id, "retrieval.ingest", {"collection": "help", "documents": docs})
    worker.run_until_idle()
    done = job(prepared, project_id, job_id)
    assert done["status"] == "succeeded", done
    assert done["result"]["documents_added"] == 3 and done["progress"] == 1.0

    missing = enqueue(prepared, project_id, "retrieval.ingest", {"collection": "nope", "documents": docs}, max_attempts=3)
    worker.run_until_idle()
    failed = job(prepared, project_id, missing)
    assert failed["status"] == "failed" and "nope" in failed["error"]


def _go_stale(db, job_id):
    with db.write() as session:
        session.execute(update(Job).where(Job.id == job_id).values(heartbeat_at=utcnow() - timedelta(minutes=10)))


def test_a_stale_job_with_a_cancel_request_is_cancelled_not_requeued(prepared, project_id):
    job_id = enqueue(prepared, project_id, "noop")
    claim_job(prepared, "gone")
    with prepared.write() as session:
        service.cancel(session, project_id, job_id)
    _go_stale(prepared, job_id)
    assert requeue_stale(prepared, 60) == []
    done = job(prepared, project_id, job_id)
    assert done["status"] == "cancelled" and "stopped heartbeating" in done["error"]


def test_a_job_that_keeps_killing_its_worker_fails_at_last(prepared, project_id):
    job_id = enqueue(prepared, project_id, "noop", max_attempts=1)
    for _ in range(2):  # attempt 1 and 2 die with their worker: re-queued
        claim_job(prepared, "doomed")
        _go_stale(prepared, job_id)
        assert requeue_stale(prepared, 60) == [job_id]
    claim_job(prepared, "doomed")  # attempt 3 (max_attempts + 2) dies too: failed
    _go_stale(prepared, job_id)
    assert requeue_stale(prepared, 60) == []
    done = job(prepared, project_id, job_id)
    assert (done["status"], done["attempts"]) == ("failed", 3) and "crashing its worker" in done["error"]
