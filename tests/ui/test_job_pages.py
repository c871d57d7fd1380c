"""The jobs pages: the list with status, progress and attempts; one job with its log; cancel after a confirmation
step, through the jobs service (members and above; audited); cron schedules. Per role, CSRF, escaping, bad
filters and another project's job."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import update

from stackwright.auth import keys, service
from stackwright.auth.actors import SYSTEM
from stackwright.auth.models import AuditEntry
from stackwright.jobs import service as jobs
from stackwright.jobs.models import Job
from tests.ui.conftest import csrf_of
from tests.ui.test_settings_pages import SCRIPT, add_user, count, signed_in_as
from tests.ui.test_sign_in import assert_page


def _enqueue(api: httpx.Client, **body) -> str:
    created = api.post("/api/v1/jobs", json={"kind": "sleep", "params": {"seconds": 60}, **body})
    assert created.status_code == 202, created.text
    return created.json()["id"]


def test_the_list_shows_status_progress_attempts_and_the_schedules(admin: httpx.Client, api: httpx.Client, prepared) -> None:
    queued = _enqueue(api)
    running = _enqueue(api, max_attempts=3)
    with prepared.write() as session:
        session.execute(update(Job).where(Job.id == running).values(status="running", progress=0.4, attempts=2))
        jobs.add_log(session, running, 2, f"working on {SCRIPT}")
    assert api.post("/api/v1/jobs/schedules", json={"name": "nightly", "cron": "0 3 * * *", "kind": "noop"}).status_code == 201
    page = assert_page(admin.get("/ui/jobs"), 200)
    assert re.search(r'<a href="/ui/jobs"[^>]*>Jobs</a>', page)
    assert re.findall(r'data-job-id="([^"]+)" data-status="([^"]+)"', page) == [(running, "running"), (queued, "queued")]
    row = re.search(rf'data-job-id="{running}".*?</tr>', page, re.S).group(0)
    assert 'value="0.400"' in row and "2 / 3" in row
    assert 'data-schedule="nightly"' in page and "0 3 * * *" in page
    only = assert_page(admin.get("/ui/jobs", params={"status": "queued"}), 200)
    assert re.findall(r'data-job-id="([^"]+)"', only) == [queued]
    one = assert_page(admin.get(f"/ui/jobs/{running}"), 200)
    assert "working on &lt;script&gt;" in one and "<script>alert" not in one and '"seconds": 60' in one
    assert f'href="/ui/jobs/{running}/cancel"' in one


def test_bad_filters_are_shown_beside_their_field(admin: httpx.Client) -> None:
    page = assert_page(admin.get("/ui/jobs", params={"status": SCRIPT, "offset": "x"}), 200)
    assert 'data-error-for="status"' in page and 'data-error-for="offset"' in page and "<script>alert" not in page
    assert "data-job-id" not in page


def test_a_member_cancels_a_queued_job_after_confirming_and_it_is_audited(browser: httpx.Client, api: httpx.Client, prepared, app) -> None:
    job_id = _enqueue(api)
    add_user(prepared, "member@example.com", "member")
    client = signed_in_as(app, "member@example.com")
    confirm = client.get(f"/ui/jobs/{job_id}/cancel")
    assert "Cancel job" in assert_page(confirm, 200) and "data-confirm-form" in confirm.text
    assert api.get(f"/api/v1/jobs/{job_id}").json()["status"] == "queued"  # the confirmation page changes nothing
    done = client.post(f"/ui/jobs/{job_id}/cancel", data={"csrf_token": csrf_of(confirm)})
    assert done.status_code == 303 and done.headers["location"] == f"/ui/jobs/{job_id}?done=cancelled"
    shown = assert_page(client.get(done.headers["location"]), 200)
    assert 'data-status="cancelled"' in shown and "Job cancelled." in shown and "/cancel" not in shown
    assert count(prepared, AuditEntry, AuditEntry.action == "job.cancel", AuditEntry.actor == "web:member@example.com") == 1
    again = client.post(f"/ui/jobs/{job_id}/cancel", data={"csrf_token": csrf_of(confirm)})
    assert "already finished" in assert_page(again, 409)


def test_a_running_job_is_asked_to_stop(admin: httpx.Client, api: httpx.Client, prepared) -> None:
    job_id = _enqueue(api)
    with prepared.write() as session:
        session.execute(update(Job).where(Job.id == job_id).values(status="running"))
    page = admin.get(f"/ui/jobs/{job_id}/cancel")
    assert "asked to stop" in assert_page(page, 200)
    done = admin.post(f"/ui/jobs/{job_id}/cancel", data={"csrf_token": csrf_of(page)})
    assert done.headers["location"].endswith("done=requested")
    assert "(cancel requested)" in admin.get(done.headers["location"]).text


def test_a_viewer_reads_but_has_no_cancel_and_a_forged_post_is_refused(api: httpx.Client, prepared, app) -> None:
    job_id = _enqueue(api)
    add_user(prepared, "viewer@example.com", "viewer")
    client = signed_in_as(app, "viewer@example.com")
    page = client.get(f"/ui/jobs/{job_id}")
    assert "/cancel" not in assert_page(page, 200)
    confirm = assert_page(client.get(f"/ui/jobs/{job_id}/cancel"), 200)
    assert "data-confirm-form" not in confirm and "member role" in confirm
    forged = client.post(f"/ui/jobs/{job_id}/cancel", data={"csrf_token": csrf_of(page)})
    assert "write" in assert_page(forged, 403)
    assert api.get(f"/api/v1/jobs/{job_id}").json()["status"] == "queued"


def test_cancel_checks_csrf(admin: httpx.Client, api: httpx.Client) -> None:
    job_id = _enqueue(api)
    for data in ({}, {"csrf_token": "forged"}):
        assert "CSRF" in assert_page(admin.post(f"/ui/jobs/{job_id}/cancel", data=data), 403)
    assert api.get(f"/api/v1/jobs/{job_id}").json()["status"] == "queued"


def test_another_projects_job_is_a_404_page(admin: httpx.Client, api: httpx.Client, prepared) -> None:
    with prepared.write() as session:
        other = service.create_project(session, SYSTEM, "other")
        keys.create_key(session, SYSTEM, other.id, "other key", ["write"])
        theirs = jobs.enqueue(session, other.id, "noop", {}).id
    page = admin.get("/ui/jobs")
    assert theirs not in assert_page(page, 200)
    assert "No job" in assert_page(admin.get(f"/ui/jobs/{theirs}"), 404)
    assert_page(admin.get(f"/ui/jobs/{theirs}/cancel"), 404)
    assert_page(admin.post(f"/ui/jobs/{theirs}/cancel", data={"csrf_token": csrf_of(page)}), 404)
    with prepared.read() as session:
        assert session.get(Job, theirs).status == "queued"
