"""Eval runs whose process died are reaped to `interrupted` and resume to the same results; a run that a live
process (here or on another host) still runs is neither reaped nor resumed (409)."""

from __future__ import annotations

import signal
import subprocess
import time
from datetime import timedelta

import pytest
import yaml

from stackwright.auth.actors import cli_actor
from stackwright.core.clock import utcnow
from stackwright.evals.models import EvalCaseResult, EvalRun
from stackwright.evals.reaper import reap_stale
from tests.conftest import assert_error
from tests.e2e.serverproc import clean_env, executable
from tests.evals.test_api import SPEC, cases, wait_run  # noqa: F401  (fixture)
from tests.releases.conftest import ok

QUESTIONS = [f"question {i}" for i in range(12)]


@pytest.fixture
def many_cases(evals):
    from stackwright.datasets.editing import import_items

    items = [{"input": {"question": q}, "expected": f"question {i % 3}", "metadata": {}} for i, q in enumerate(QUESTIONS)]
    with evals.app.state.db.write() as session:
        import_items(session, cli_actor(), evals.project_id, "many-cases", items, [f"line {i}" for i in range(len(items))])
    return evals


def _stored(db, run_id: str) -> dict[str, str]:
    with db.read() as session:
        return {c.item_id: c.trace_id for c in session.query(EvalCaseResult).filter_by(run_id=run_id)}


def _run(db, run_id: str) -> EvalRun:
    with db.read() as session:
        return session.get(EvalRun, run_id)


def test_a_killed_run_is_reaped_and_resumes_over_the_api_to_the_same_results(api, many_cases, settings, tmp_path):
    db = many_cases.app.state.db
    spec = {**SPEC, "dataset": "many-cases", "concurrency": 1, "seed": 5}
    full = wait_run(api, ok(api.post("/api/v1/evals/runs", json={"spec": spec, "name": "full"}), 202)["id"])
    assert full["status"] == "completed" and full["summary"]["cases"] == len(QUESTIONS)

    many_cases.fake.script("fake-model", [{"delay_s": 0.3}] * len(QUESTIONS))  # slow enough to be killed half way
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    env = clean_env(home=settings.home, database_url=settings.database_url, egress_allow="127.0.0.1", log_format="json")
    process = subprocess.Popen([executable(), "evals", "run", str(tmp_path / "spec.yaml"), "--name", "killed"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 60  # generous: how long we wait, not a speed
        while True:
            with db.read() as session:
                run = session.query(EvalRun).filter_by(name="killed").one_or_none()
            if run is not None and len(_stored(db, run.id)) >= 3:
                break
            assert process.poll() is None, process.stderr.read()
            assert time.monotonic() < deadline, "the run stored no cases"
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    finished = _stored(db, run.id)
    assert 3 <= len(finished) < len(QUESTIONS)
    killed = _run(db, run.id)
    assert killed.status == "running" and killed.owner.endswith(f":{process.pid}")  # killed: nobody marked it

    assert reap_stale(db, settings.eval_stale_after_s) == [run.id]  # its process on this host is gone: at once
    reaped = ok(api.get(f"/api/v1/evals/runs/{run.id}"))
    assert reaped["status"] == "interrupted"
    assert f"its process {killed.owner} is gone" in reaped["error"] and f"stackwright evals resume {run.id}" in reaped["error"]
    assert reap_stale(db, settings.eval_stale_after_s) == []  # once

    many_cases.fake.reset()
    ok(api.post(f"/api/v1/evals/runs/{run.id}/resume"), 202)
    resumed = wait_run(api, run.id)
    asked = {r["body"]["messages"][-1]["content"] for r in many_cases.fake.requests() if r["path"].endswith("/chat/completions")}
    assert len(asked) == len(QUESTIONS) - len(finished)  # only the missing cases ran
    after = _stored(db, run.id)
    assert len(after) == len(QUESTIONS) and all(after[k] == v for k, v in finished.items())
    assert resumed["status"] == "completed" and resumed["error"] is None
    strip = lambda s: {k: v for k, v in s.items() if k != "latency_ms"}  # noqa: E731
    assert strip(resumed["summary"]) == strip(full["summary"])


def test_a_run_of_a_live_process_elsewhere_is_kept_until_its_heartbeat_is_stale(api, cases, settings):  # noqa: F811
    from stackwright.evals.runner import prepare_run
    from stackwright.evals.spec import from_payload
    from stackwright.evals.trust import CodePolicy

    db = cases.app.state.db
    prepared = prepare_run(db, cases.project_id, from_payload(SPEC, CodePolicy.server(settings)))
    beat = utcnow()
    with db.write() as session:  # as if a server on another machine were running it
        session.get(EvalRun, prepared.run_id).owner, session.get(EvalRun, prepared.run_id).heartbeat_at = "other-host:4242", beat

    error = assert_error(api.post(f"/api/v1/evals/runs/{prepared.run_id}/resume"), 409)
    assert "running in process other-host:4242" in error["message"]
    assert reap_stale(db, settings.eval_stale_after_s) == []
    assert _run(db, prepared.run_id).status == "running"

    later = beat + timedelta(seconds=settings.eval_stale_after_s + 1)
    assert reap_stale(db, settings.eval_stale_after_s, now=later) == [prepared.run_id]
    reaped = _run(db, prepared.run_id)
    assert reaped.status == "interrupted" and "sent no heartbeat since" in reaped.error and reaped.owner is None

    ok(api.post(f"/api/v1/evals/runs/{prepared.run_id}/resume"), 202)
    resumed = wait_run(api, prepared.run_id)
    assert resumed["status"] == "completed" and resumed["summary"]["cases"] == 4


def test_the_server_reaper_leaves_a_run_this_process_runs(api, cases, settings):  # noqa: F811
    import anyio

    db = cases.app.state.db
    cases.fake.script("fake-model", [{"delay_s": 1.0}] * 4)
    started = ok(api.post("/api/v1/evals/runs", json={"spec": {**SPEC, "concurrency": 1}}), 202)
    deadline = time.monotonic() + 30
    while _run(db, started["id"]).owner is None:
        assert time.monotonic() < deadline, "the run was never claimed"
        time.sleep(0.02)
    assert cases.app.state.eval_reaper.stale_after_s == settings.eval_stale_after_s
    assert anyio.run(cases.app.state.eval_reaper.run_once) == []  # its owner (this process) is alive and beating
    assert _run(db, started["id"]).status == "running"
    assert wait_run(api, started["id"])["status"] == "completed"


def test_a_claimed_run_is_heartbeaten_and_a_second_claim_is_refused(cases, settings):  # noqa: F811
    import anyio

    from stackwright.core.errors import Conflict
    from stackwright.evals import reaper
    from stackwright.evals.runner import prepare_run
    from stackwright.evals.spec import from_payload
    from stackwright.evals.trust import CodePolicy

    db = cases.app.state.db
    prepared = prepare_run(db, cases.project_id, from_payload(SPEC, CodePolicy.server(settings)))
    with db.write() as session:
        owner = reaper.claim(session, session.get(EvalRun, prepared.run_id), settings.eval_stale_after_s)
    claimed = _run(db, prepared.run_id)
    assert owner == reaper.owner_id() and claimed.owner == owner and claimed.status == "running"
    with db.write() as session, pytest.raises(Conflict, match=f"running in process {owner}"):
        reaper.claim(session, session.get(EvalRun, prepared.run_id), settings.eval_stale_after_s)

    async def beat_until_renewed() -> None:
        with anyio.fail_after(30):  # generous: how long we wait, not a speed
            async with anyio.create_task_group() as group:
                group.start_soon(reaper.heartbeat, db, prepared.run_id, owner, 0.05)
                while _run(db, prepared.run_id).heartbeat_at == claimed.heartbeat_at:
                    await anyio.sleep(0.05)
                group.cancel_scope.cancel()

    anyio.run(beat_until_renewed)
    assert _run(db, prepared.run_id).heartbeat_at > claimed.heartbeat_at
