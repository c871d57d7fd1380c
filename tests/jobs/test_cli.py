"""`stackwright jobs ...`: run (queued and --wait), list, show --logs, cancel, schedule, schedules,
unschedule; bad input prints `error: ...` and exits 1."""

from __future__ import annotations

from stackwright.jobs.models import Job, JobSchedule
from tests.cli.conftest import cli, cli_ready  # noqa: F401  (fixtures)


def test_run_wait_list_show(cli_ready):  # noqa: F811
    done = cli_ready.json("jobs", "run", "--kind", "sleep", "--params", '{"seconds": 0, "ticks": 2}', "--wait")
    assert (done["status"], done["progress"], done["result"]) == ("succeeded", 1.0, {"slept_s": 0.0})
    assert done["logs"][-1]["message"] == "succeeded"
    text = cli_ready.ok("jobs", "run", "--kind", "noop", "--wait").stdout
    assert "succeeded" in text and "result: " in text
    queued = cli_ready.ok("jobs", "run", "--kind", "noop").stdout
    assert queued.startswith("queued job_") and "stackwright jobs show" in queued
    listed = cli_ready.json("jobs", "list")
    assert [j["status"] for j in listed] == ["queued", "succeeded", "succeeded"]
    assert [j["kind"] for j in cli_ready.json("jobs", "list", "--status", "succeeded")] == ["noop", "sleep"]
    assert "sleep" in cli_ready.ok("jobs", "list").stdout
    shown = cli_ready.ok("jobs", "show", done["id"], "--logs").stdout
    assert "succeeded" in shown and "attempt 1 of 1 started" in shown
    assert cli_ready.json("jobs", "show", done["id"])["id"] == done["id"]


def test_run_wait_retries_and_exits_1_on_failure(cli_ready):  # noqa: F811
    result = cli_ready("jobs", "run", "--kind", "fail", "--params", '{"message": "broken on purpose"}', "--max-attempts", "2", "--wait")
    assert result.exit_code == 1 and "failed" in result.stdout and "broken on purpose" in result.stdout
    (job,) = cli_ready.json("jobs", "list")
    assert (job["status"], job["attempts"]) == ("failed", 2)


def test_cancel(cli_ready):  # noqa: F811
    job_id = cli_ready.json("jobs", "run", "--kind", "noop")["id"]
    assert f"{job_id}: cancelled" in cli_ready.ok("jobs", "cancel", job_id).stdout
    cli_ready.fails("jobs", "cancel", job_id, needle="already finished")
    cli_ready.fails("jobs", "cancel", "job_nope", needle="No job 'job_nope'")


def test_schedule_list_unschedule(cli_ready):  # noqa: F811
    out = cli_ready.ok("jobs", "schedule", "nightly", "--cron", "0 3 * * *", "--kind", "noop").stdout
    assert out.startswith("created schedule nightly: noop at '0 3 * * *'")
    replaced = cli_ready.json("jobs", "schedule", "nightly", "--cron", "*/5 * * * *", "--kind", "sleep", "--params", '{"seconds": 0}')
    assert (replaced["cron"], replaced["kind"]) == ("*/5 * * * *", "sleep")
    assert [s["name"] for s in cli_ready.json("jobs", "schedules")] == ["nightly"]
    assert "deleted schedule nightly" in cli_ready.ok("jobs", "unschedule", "nightly").stdout
    cli_ready.fails("jobs", "unschedule", "nightly", needle="No job schedule named 'nightly'")


def test_bad_input(cli_ready):  # noqa: F811
    cli_ready.fails("jobs", "run", "--kind", "nope", needle="Unknown job kind 'nope'")
    cli_ready.fails("jobs", "run", "--kind", "noop", "--params", "{not json", needle="--params is not valid JSON")
    cli_ready.fails("jobs", "run", "--kind", "noop", "--params", "[1]", needle="must be a JSON object")
    cli_ready.fails("jobs", "run", "--kind", "sleep", "--params", '{"seconds": "x"}', needle="seconds")
    cli_ready.fails("jobs", "schedule", "s", "--cron", "* * * 13 *", "--kind", "noop", needle="month field '13'")
    cli_ready.fails("jobs", "list", "--status", "done", needle="Unknown job status")
    cli_ready.fails("jobs", "show", "job_nope", needle="No job")
    assert cli_ready.count(Job) == 0 and cli_ready.count(JobSchedule) == 0
