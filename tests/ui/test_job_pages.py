"""The jobs pages: the list with status, progress and attempts; one job with its log; cancel after a confirmation
step, through the jobs service (members and above; audited); cron schedules. Per role, CSRF, escaping, bad
filters and another project's job."""

from __future__ import annotations

import html
import json
import re

import httpx
from markupsafe import escape
from sqlalchemy import select, update

from stackwright.auth import keys, service
from stackwright.auth.actors import SYSTEM
from stackwright.auth.models import AuditEntry
from stackwright.jobs import service as jobs
from stackwright.jobs.models import Job, JobSchedule
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


# -- the forms: enqueue a job, create/replace/delete a schedule ------------------------------------------------


def _schedules(db) -> dict[str, JobSchedule]:
    with db.read() as session:
        return {row.name: row for row in session.scalars(select(JobSchedule))}


def _job_count(db) -> int:
    return count(db, Job, Job.id.is_not(None))


def _post_form(client: httpx.Client, url: str, data: dict[str, str]) -> httpx.Response:
    return client.post(url, data={"csrf_token": csrf_of(client.get("/ui/jobs")), **data})


SCHEDULE = {"name": "nightly", "cron": "0 3 * * *", "kind": "noop", "params": '{"result": 1}', "enabled": "1", "max_attempts": "2"}


def test_a_member_enqueues_a_job_and_lands_on_its_page(browser: httpx.Client, prepared, app) -> None:
    add_user(prepared, "member@example.com", "member")
    client = signed_in_as(app, "member@example.com")
    page = assert_page(client.get("/ui/jobs"), 200)
    assert 'action="/ui/jobs/enqueue"' in page and 'action="/ui/jobs/schedules"' in page
    assert '<option value="datasets.from_traces"' in page and '<option value="evals.run"' in page
    done = _post_form(client, "/ui/jobs/enqueue", {"kind": "noop", "params": json.dumps({"result": SCRIPT}), "max_attempts": "3"})
    assert done.status_code == 303, done.text
    location = done.headers["location"]
    assert re.fullmatch(r"/ui/jobs/job_\w+\?done=enqueued", location)
    shown = assert_page(client.get(location), 200)
    assert "Job enqueued" in shown and "<script>alert" not in shown and "of at most 3" in shown
    job_id = location.split("/")[-1].split("?")[0]
    assert count(prepared, AuditEntry, AuditEntry.action == "job.enqueue", AuditEntry.object_id == job_id,
                 AuditEntry.actor == "web:member@example.com") == 1  # fmt: skip


def test_bad_enqueue_fields_get_the_services_message_beside_them_and_nothing_is_enqueued(admin: httpx.Client, prepared) -> None:
    cases = [
        ({"kind": "no-such-kind", "params": "{}", "max_attempts": "1"}, "kind", "Unknown job kind"),
        ({"kind": "sleep", "params": "{not json", "max_attempts": "1"}, "params", "not valid JSON"),
        ({"kind": "sleep", "params": "[1, 2]", "max_attempts": "1"}, "params", "must be a JSON object"),
        ({"kind": "sleep", "params": '{"seconds": -1}', "max_attempts": "1"}, "params", "seconds"),
        ({"kind": "noop", "params": "{}", "max_attempts": "99"}, "max_attempts", "from 1 to 20"),
        ({"kind": "noop", "params": "{}", "max_attempts": SCRIPT}, "max_attempts", "whole number"),
    ]
    for data, field, message in cases:
        page = assert_page(_post_form(admin, "/ui/jobs/enqueue", data), 400)
        error = re.search(rf'data-error-for="enqueue-{field}">([^<]*)<', page)
        assert error and message in error.group(1), (data, page)
        assert "no job was enqueued" in page and "<script>alert" not in page
        assert f">{escape(data['params'])}</textarea>" in page  # the entered values are kept
    assert _job_count(prepared) == 0


def test_python_code_in_an_evals_run_spec_keeps_the_apis_policy(admin: httpx.Client, api: httpx.Client, prepared) -> None:
    spec = {"name": "code", "dataset": "cases", "target": {"python": "os:system"}, "scorers": ["contains"]}
    from_api = api.post("/api/v1/jobs", json={"kind": "evals.run", "params": {"spec": spec}})
    page = assert_page(_post_form(admin, "/ui/jobs/enqueue", {"kind": "evals.run", "params": json.dumps({"spec": spec}), "max_attempts": "1"}),
                       from_api.status_code)  # fmt: skip
    assert from_api.status_code == 403 and 'data-error-for="enqueue-params"' in page and "STACKWRIGHT_EVAL_PYTHON_ALLOW" in page
    assert _job_count(prepared) == 0


def test_a_member_creates_replaces_and_deletes_a_schedule(browser: httpx.Client, prepared, app) -> None:
    add_user(prepared, "member@example.com", "member")
    client = signed_in_as(app, "member@example.com")
    created = _post_form(client, "/ui/jobs/schedules", SCHEDULE)
    assert created.status_code == 303 and created.headers["location"] == "/ui/jobs?done=schedule-created"
    assert "Schedule created." in assert_page(client.get(created.headers["location"]), 200)
    row = _schedules(prepared)["nightly"]
    assert (row.cron, row.kind, row.params, row.enabled, row.max_attempts) == ("0 3 * * *", "noop", {"result": 1}, True, 2)
    edit = assert_page(client.get("/ui/jobs", params={"edit": "nightly"}), 200)  # the Replace… link fills the form
    assert 'id="schedule-name" name="name" value="nightly"' in edit and 'value="0 3 * * *"' in edit
    replaced = _post_form(client, "/ui/jobs/schedules", {**SCHEDULE, "cron": "*/5 * * * *", "kind": "sleep", "params": "", "enabled": ""})
    assert replaced.headers["location"] == "/ui/jobs?done=schedule-replaced"
    row = _schedules(prepared)["nightly"]
    assert (row.cron, row.kind, row.params["seconds"], row.enabled) == ("*/5 * * * *", "sleep", 1.0, False)

    listed = client.get("/ui/jobs")
    assert 'href="/ui/jobs/schedules/nightly/delete"' in listed.text
    confirm = client.get("/ui/jobs/schedules/nightly/delete")
    assert "Delete schedule nightly?" in assert_page(confirm, 200) and "data-confirm-form" in confirm.text
    assert "nightly" in _schedules(prepared)  # the confirmation page changes nothing
    deleted = client.post("/ui/jobs/schedules/nightly/delete", data={"csrf_token": csrf_of(confirm)})
    assert deleted.status_code == 303 and deleted.headers["location"] == "/ui/jobs?done=schedule-deleted"
    assert _schedules(prepared) == {}
    actions = [a for (a,) in _audit(prepared, "web:member@example.com")]
    assert actions == ["job_schedule.set", "job_schedule.set", "job_schedule.delete"]
    assert_page(client.post("/ui/jobs/schedules/nightly/delete", data={"csrf_token": csrf_of(confirm)}), 404)


def _audit(db, actor: str) -> list[tuple[str]]:
    with db.read() as session:
        return [tuple(r) for r in session.execute(select(AuditEntry.action).where(AuditEntry.actor == actor).order_by(AuditEntry.id))]


def test_bad_schedule_fields_are_shown_beside_them_with_the_values_kept(admin: httpx.Client, prepared) -> None:
    cases = [
        ({**SCHEDULE, "name": SCRIPT}, "name", "not valid"),
        ({**SCHEDULE, "name": ""}, "name", "Use letters, digits"),
        ({**SCHEDULE, "cron": "0 3 * *"}, "cron", "has 4 fields, not 5"),
        ({**SCHEDULE, "cron": "0 25 * * *"}, "cron", "the hour field '25' is not valid"),
        ({**SCHEDULE, "kind": SCRIPT}, "kind", "Unknown job kind"),
        ({**SCHEDULE, "params": '{"result": '}, "params", "not valid JSON"),
        ({**SCHEDULE, "kind": "sleep", "params": '{"nap": 1}'}, "params", "Its params are: seconds, ticks"),
        ({**SCHEDULE, "max_attempts": "0"}, "max_attempts", "from 1 to 20"),
    ]
    for data, field, message in cases:
        page = assert_page(_post_form(admin, "/ui/jobs/schedules", data), 400)
        error = re.search(rf'data-error-for="schedule-{field}">([^<]*)<', page)
        assert error and message in html.unescape(error.group(1)), (data, page)
        assert "the schedule was not saved" in page and "<script>alert" not in page
        assert f'id="schedule-cron" name="cron" value="{escape(data["cron"])}"' in page
    several = assert_page(_post_form(admin, "/ui/jobs/schedules", {**SCHEDULE, "name": "bad name", "cron": "x"}), 400)
    assert 'data-error-for="schedule-name"' in several and 'data-error-for="schedule-cron"' in several
    assert _schedules(prepared) == {}


def test_schedule_params_are_escaped(admin: httpx.Client) -> None:
    assert _post_form(admin, "/ui/jobs/schedules", {**SCHEDULE, "params": json.dumps({"result": SCRIPT})}).status_code == 303
    for page in (admin.get("/ui/jobs"), admin.get("/ui/jobs/schedules/nightly/delete"), admin.get("/ui/jobs", params={"edit": "nightly"})):
        text = assert_page(page, 200)
        assert "<script>alert" not in text and ("script" in text)


def test_a_viewer_sees_no_forms_and_forged_posts_are_refused(api: httpx.Client, prepared, app) -> None:
    assert api.post("/api/v1/jobs/schedules", json={"name": "nightly", "cron": "0 3 * * *", "kind": "noop"}).status_code == 201
    add_user(prepared, "viewer@example.com", "viewer")
    client = signed_in_as(app, "viewer@example.com")
    page = assert_page(client.get("/ui/jobs"), 200)
    assert "/ui/jobs/enqueue" not in page and 'action="/ui/jobs/schedules"' not in page and "/delete" not in page and "Replace" not in page
    confirm = assert_page(client.get("/ui/jobs/schedules/nightly/delete"), 200)
    assert "data-confirm-form" not in confirm and "member role" in confirm
    token = csrf_of(client.get("/ui/settings/password"))
    forged = [
        client.post("/ui/jobs/enqueue", data={"csrf_token": token, "kind": "noop", "params": "{}", "max_attempts": "1"}),
        client.post("/ui/jobs/enqueue", data={"csrf_token": token, "kind": "nope", "params": "{", "max_attempts": "x"}),
        client.post("/ui/jobs/schedules", data={"csrf_token": token, **SCHEDULE, "name": "viewer-made"}),
        client.post("/ui/jobs/schedules/nightly/delete", data={"csrf_token": token}),
    ]
    for response in forged:
        assert "write" in assert_page(response, 403)
    assert _job_count(prepared) == 0 and list(_schedules(prepared)) == ["nightly"]


def test_the_forms_check_csrf(admin: httpx.Client, api: httpx.Client, prepared) -> None:
    assert api.post("/api/v1/jobs/schedules", json={"name": "nightly", "cron": "0 3 * * *", "kind": "noop"}).status_code == 201
    for url, data in (("/ui/jobs/enqueue", {"kind": "noop"}), ("/ui/jobs/schedules", {**SCHEDULE, "name": "other"}),
                      ("/ui/jobs/schedules/nightly/delete", {})):  # fmt: skip
        for token in ({}, {"csrf_token": "forged"}):
            assert "CSRF" in assert_page(admin.post(url, data={**data, **token}), 403)
    assert _job_count(prepared) == 0 and list(_schedules(prepared)) == ["nightly"]


def test_another_projects_schedule_is_a_404_page(admin: httpx.Client, prepared) -> None:
    with prepared.write() as session:
        other = service.create_project(session, SYSTEM, "other")
        jobs.set_schedule(session, other.id, "theirs", "0 3 * * *", "noop", {})
    page = admin.get("/ui/jobs")
    assert "theirs" not in assert_page(page, 200)
    assert "No job schedule" in assert_page(admin.get("/ui/jobs/schedules/theirs/delete"), 404)
    assert_page(admin.post("/ui/jobs/schedules/theirs/delete", data={"csrf_token": csrf_of(page)}), 404)
    edit = assert_page(admin.get("/ui/jobs", params={"edit": "theirs"}), 200)
    assert 'id="schedule-name" name="name" value=""' in edit  # another project's schedule does not fill the form
    assert "theirs" in _schedules(prepared)
