"""Jobs REST API in process: enqueue, list, show with logs, cancel, schedules; bad input with the right
status and nothing stored; another project's jobs answer 404; read keys cannot write."""

from __future__ import annotations

import asyncio

import pytest

from stackwright.jobs.models import Job, JobSchedule
from tests.conftest import assert_error


def run_jobs(app) -> None:
    app.state.jobs.worker.retry_backoff_s = 0.0
    app.state.jobs.worker.run_until_idle()


def count(db, model) -> int:
    from sqlalchemy import func, select

    with db.read() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_enqueue_run_show_and_list(api, app):
    created = api.post("/api/v1/jobs", json={"kind": "noop", "params": {"result": {"x": 1}}})
    assert created.status_code == 202, created.text
    job = created.json()
    assert (job["status"], job["kind"], job["attempts"], job["max_attempts"]) == ("queued", "noop", 0, 1)
    run_jobs(app)
    shown = api.get(f"/api/v1/jobs/{job['id']}").json()
    assert (shown["status"], shown["result"], shown["progress"]) == ("succeeded", {"result": {"x": 1}}, 1.0)
    assert [line["message"] for line in shown["logs"]][-1] == "succeeded"
    assert "logs" not in api.get(f"/api/v1/jobs/{job['id']}", params={"logs": "false"}).json()
    api.post("/api/v1/jobs", json={"kind": "fail", "params": {"message": "nope"}, "max_attempts": 2})
    run_jobs(app)
    listed = api.get("/api/v1/jobs").json()["data"]
    assert [(j["kind"], j["status"]) for j in listed] == [("fail", "failed"), ("noop", "succeeded")]
    failed = api.get("/api/v1/jobs", params={"status": "failed"}).json()["data"]
    assert len(failed) == 1 and failed[0]["attempts"] == 2 and "nope" in failed[0]["error"]
    assert api.get("/api/v1/jobs", params={"kind": "noop"}).json()["data"][0]["kind"] == "noop"


def test_the_server_task_runs_jobs_on_its_executor(api, app):
    job_id = api.post("/api/v1/jobs", json={"kind": "sleep", "params": {"seconds": 0, "ticks": 2}}).json()["id"]
    started = asyncio.run(app.state.jobs.run_once())
    assert started["started"] == [job_id]
    app.state.jobs.worker.wait_running(60)
    assert api.get(f"/api/v1/jobs/{job_id}").json()["status"] == "succeeded"
    app.state.jobs.worker.close(wait=True)


def test_cancel(api, app):
    job_id = api.post("/api/v1/jobs", json={"kind": "noop"}).json()["id"]
    cancelled = api.post(f"/api/v1/jobs/{job_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert_error(api.post(f"/api/v1/jobs/{job_id}/cancel"), 409, "conflict")
    assert_error(api.post("/api/v1/jobs/job_missing/cancel"), 404, "not_found")
    run_jobs(app)
    assert api.get(f"/api/v1/jobs/{job_id}").json()["status"] == "cancelled"


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"kind": "nope"}, 400, "Unknown job kind 'nope'"),
        ({"kind": "sleep", "params": {"seconds": -1}}, 400, "seconds"),
        ({"kind": "sleep", "params": {"bogus": 1}}, 400, "bogus"),
        ({"kind": "noop", "max_attempts": 0}, 422, "max_attempts"),
        ({"kind": "noop", "surprise": True}, 422, "surprise"),
        ({"params": {}}, 422, "kind"),
        ({"kind": "evals.run", "params": {"spec": "not: [valid"}}, 400, None),
    ],
)
def test_bad_jobs_are_refused_and_nothing_is_stored(api, prepared, body, status, needle):
    error = assert_error(api.post("/api/v1/jobs", json=body), status)
    if needle:
        assert needle in error["message"] or needle in str(error["details"]), error
    assert count(prepared, Job) == 0


def test_bad_status_filter(api):
    error = assert_error(api.get("/api/v1/jobs", params={"status": "done"}), 400, "invalid_input")
    assert "queued, running, succeeded, failed, cancelled" in error["message"]


def test_schedules_crud(api, prepared):
    body = {"name": "nightly-ingest", "cron": "0 3 * * *", "kind": "sleep", "params": {"seconds": 0}}
    created = api.post("/api/v1/jobs/schedules", json=body)
    assert created.status_code == 201, created.text
    assert (created.json()["cron"], created.json()["enabled"], created.json()["params"]["ticks"]) == ("0 3 * * *", True, 10)
    replaced = api.post("/api/v1/jobs/schedules", json={**body, "cron": "*/5 * * * *", "enabled": False})
    assert replaced.status_code == 200 and replaced.json()["id"] == created.json()["id"]
    listed = api.get("/api/v1/jobs/schedules").json()["data"]
    assert [(s["name"], s["cron"], s["enabled"]) for s in listed] == [("nightly-ingest", "*/5 * * * *", False)]
    assert api.delete("/api/v1/jobs/schedules/nightly-ingest").json() == {"deleted": "nightly-ingest"}
    assert_error(api.delete("/api/v1/jobs/schedules/nightly-ingest"), 404, "not_found")
    assert count(prepared, JobSchedule) == 0


@pytest.mark.parametrize(
    ("change", "status", "needle"),
    [
        ({"cron": "*/5 25 * * *"}, 400, "hour field"),
        ({"cron": "* * * * * *"}, 400, "6 fields"),
        ({"name": "has space"}, 400, "Schedule name"),
        ({"kind": "nope"}, 400, "Unknown job kind"),
        ({"params": {"seconds": "x"}}, 400, "seconds"),
    ],
)
def test_bad_schedules_are_refused(api, prepared, change, status, needle):
    body = {"name": "s", "cron": "0 3 * * *", "kind": "sleep", "params": {}, **change}
    error = assert_error(api.post("/api/v1/jobs/schedules", json=body), status)
    assert needle in error["message"]
    assert count(prepared, JobSchedule) == 0


def test_another_projects_jobs_and_schedules_answer_404(api, app, client_for, other):
    job_id = api.post("/api/v1/jobs", json={"kind": "noop"}).json()["id"]
    api.post("/api/v1/jobs/schedules", json={"name": "mine", "cron": "0 3 * * *", "kind": "noop"})
    theirs = client_for(other.key)
    assert_error(theirs.get(f"/api/v1/jobs/{job_id}"), 404, "not_found")
    assert_error(theirs.post(f"/api/v1/jobs/{job_id}/cancel"), 404, "not_found")
    assert_error(theirs.delete("/api/v1/jobs/schedules/mine"), 404, "not_found")
    assert theirs.get("/api/v1/jobs").json()["data"] == []
    assert theirs.get("/api/v1/jobs/schedules").json()["data"] == []
    assert api.get(f"/api/v1/jobs/{job_id}").json()["status"] == "queued"  # untouched


def test_read_keys_cannot_enqueue_cancel_or_schedule(api, client_for, make_key):
    job_id = api.post("/api/v1/jobs", json={"kind": "noop"}).json()["id"]
    _, raw = make_key(["read"])
    reader = client_for(raw)
    assert reader.get(f"/api/v1/jobs/{job_id}").status_code == 200
    assert_error(reader.post("/api/v1/jobs", json={"kind": "noop"}), 403)
    assert_error(reader.post(f"/api/v1/jobs/{job_id}/cancel"), 403)
    assert_error(reader.post("/api/v1/jobs/schedules", json={"name": "x", "cron": "0 3 * * *", "kind": "noop"}), 403)
    assert_error(reader.delete("/api/v1/jobs/schedules/x"), 403)


def test_an_evals_run_job_runs_the_spec_through_the_gateway(api, app):
    from tests.datasets.conftest import import_jsonl

    cases = [
        {"input": {"messages": [{"role": "user", "content": "Context: Refunds take 5 days.\nQuestion: How long do refunds take?"}]},
         "expected": "5 days"},
        {"input": {"messages": [{"role": "user", "content": "Context: The office opens at 9.\nQuestion: When does the office open?"}]},
         "expected": "9"},
    ]  # fmt: skip
    import_jsonl(api, "faq", cases)
    spec = {"name": "faq-check", "dataset": "faq", "target": {"model": "local/extractive"}, "scorers": ["contains"]}
    job_id = api.post("/api/v1/jobs", json={"kind": "evals.run", "params": {"spec": spec, "name": "nightly-faq"}}).json()["id"]
    run_jobs(app)
    done = api.get(f"/api/v1/jobs/{job_id}").json()
    assert done["status"] == "succeeded", done
    assert done["result"]["name"] == "nightly-faq" and done["progress"] == 1.0
    run = api.get(f"/api/v1/evals/runs/{done['result']['run_id']}").json()
    assert run["status"] == "completed", run
    assert any("2 cases" in line["message"] for line in done["logs"])
