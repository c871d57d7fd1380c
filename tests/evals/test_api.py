"""The REST API: start a run (in the background, through the server's gateway), poll it, list, page
cases, compare; project isolation; bad input; release promotion refused while the required eval fails."""

from __future__ import annotations

import time

import pytest

from stackwright.auth.actors import cli_actor
from tests.auth.conftest import client_for, default, make_key, other  # noqa: F401  (fixtures)
from tests.conftest import assert_error
from tests.releases.conftest import ROUTE, ok, prompts, set_stable, start_canary  # noqa: F401  (fixtures)

SPEC = {"name": "support-regression", "dataset": "support-cases", "target": {"model": "fake-model"}, "scorers": ["contains"], "concurrency": 4}


@pytest.fixture
def cases(evals):
    from stackwright.datasets.editing import import_items

    items = [{"input": {"question": q}, "expected": e, "metadata": {}} for q, e in
             [("refund policy", "refund"), ("reset password", "password"), ("delete account", "nope"), ("shipping", "ship")]]  # fmt: skip
    with evals.app.state.db.write() as session:
        import_items(session, cli_actor(), evals.project_id, "support-cases", items, [f"line {i}" for i in range(4)])
    return evals


def wait_run(api, run_id: str, timeout_s: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        run = ok(api.get(f"/api/v1/evals/runs/{run_id}"))
        if run["status"] != "running":
            return run
        assert time.monotonic() < deadline, run
        time.sleep(0.05)


def test_start_poll_list_page_compare(api, cases):
    started = ok(api.post("/api/v1/evals/runs", json={"spec": SPEC, "name": "a"}), 202)
    assert started["status"] == "running" and started["dataset"] == "support-cases@1" and started["total_cases"] == 4
    run = wait_run(api, started["id"])
    assert run["status"] == "completed" and run["completed_cases"] == 4 and run["summary"]["scorers"]["contains"]["mean"] == 0.75
    assert len(run["cases"]["data"]) == 4 and run["spec"]["name"] == "support-regression"
    page = ok(api.get(f"/api/v1/evals/runs/{run['id']}", params={"limit": 3}))
    assert len(page["cases"]["data"]) == 3 and page["cases"]["next_offset"] == 3
    yaml_text = "name: support-regression\ndataset: support-cases@1\ntarget: {model: fake-model}\nscorers: [contains, similarity]\n"
    second = wait_run(api, ok(api.post("/api/v1/evals/runs", json={"spec": yaml_text, "name": "b", "repeat": 2}), 202)["id"])
    assert second["summary"]["cases"] == 8
    listed = ok(api.get("/api/v1/evals/runs"))["data"]
    assert [r["name"] for r in listed] == ["b", "a"]
    compared = ok(api.get("/api/v1/evals/compare", params={"a": "a", "b": "b"}))
    assert compared["same_dataset"] and compared["scorers"]["contains"]["paired"] == 4 and list(compared["scorers"]) == ["contains"]
    assert ok(api.get("/api/v1/evals/runs/a"))["id"] == run["id"]  # by name: the newest run of that name


def test_another_projects_runs_answer_404(api, cases, other, client_for):  # noqa: F811
    run = wait_run(api, ok(api.post("/api/v1/evals/runs", json={"spec": SPEC}), 202)["id"])
    theirs = client_for(other.key)
    assert_error(theirs.get(f"/api/v1/evals/runs/{run['id']}"), 404)
    assert ok(theirs.get("/api/v1/evals/runs"))["data"] == []
    assert_error(theirs.get("/api/v1/evals/compare", params={"a": run["id"], "b": run["id"]}), 404)
    assert_error(theirs.post(f"/api/v1/evals/runs/{run['id']}/resume"), 404)
    error = assert_error(theirs.post("/api/v1/evals/runs", json={"spec": SPEC}), 400, "invalid_spec")  # their project has no such dataset
    assert error["details"]["field"] == "dataset"


def test_bad_input(api, cases, make_key, client_for):  # noqa: F811
    error = assert_error(api.post("/api/v1/evals/runs", json={"spec": "name: x\ndataset: d\ntarget: {model: m}\nscorers: [contans]\n"}), 400)
    assert error["message"].startswith("<request>:4: scorers[0].type: unknown scorer 'contans'") and error["details"]["line"] == 4
    error = assert_error(api.post("/api/v1/evals/runs", json={"spec": "name: [unclosed"}), 400, "invalid_spec")
    assert "not valid YAML" in error["message"]
    error = assert_error(api.post("/api/v1/evals/runs", json={"spec": {**SPEC, "dataset": "/etc/cases.jsonl"}}), 400)
    assert "read by the CLI only" in error["message"]
    error = assert_error(api.post("/api/v1/evals/runs", json={"spec": {**SPEC, "dataset": "support-cases@9"}}), 400)
    assert error["details"]["field"] == "dataset" and "9" in error["message"]
    assert_error(api.post("/api/v1/evals/runs", json={"spec": SPEC, "name": "bad name!"}), 400)
    assert_error(api.post("/api/v1/evals/runs", json={"spec": SPEC, "colour": 1}), 422)
    _, write_key = make_key(["write"])
    writer = client_for(write_key)
    python = {**SPEC, "target": {"python": "tests.evals.pyfuncs:echo"}}  # not on STACKWRIGHT_EVAL_PYTHON_ALLOW (tests/evals/test_trust.py)
    assert "STACKWRIGHT_EVAL_PYTHON_ALLOW" in assert_error(writer.post("/api/v1/evals/runs", json={"spec": python}), 403, "python_not_allowed")["message"]
    _, read_key = make_key(["read"])
    assert_error(client_for(read_key).post("/api/v1/evals/runs", json={"spec": SPEC}), 403)
    assert_error(api.get("/api/v1/evals/runs/nope"), 404)
    assert_error(api.get("/api/v1/evals/compare", params={"a": "nope", "b": "nope"}), 404)
    assert ok(api.get("/api/v1/evals/runs"))["data"] == []  # nothing was stored by the refused requests


def test_resume_over_the_api_finishes_an_interrupted_run(api, cases):
    from stackwright.evals.runner import prepare_run
    from stackwright.evals.spec import from_payload
    from stackwright.evals.trust import CodePolicy

    prepared = prepare_run(cases.app.state.db, cases.project_id, from_payload(SPEC, CodePolicy.operator()))  # stored, never run: as if killed
    resumed = ok(api.post(f"/api/v1/evals/runs/{prepared.run_id}/resume"), 202)
    assert resumed["id"] == prepared.run_id
    assert wait_run(api, prepared.run_id)["summary"]["cases"] == 4


def test_promotion_is_refused_while_the_required_evaluation_fails(api, cases, prompts):  # noqa: F811
    base = f"/api/v1/releases/{ROUTE}"
    set_stable(api)
    start_canary(api, require_eval="support-regression")
    error = assert_error(api.post(f"{base}/promote", json={"env": "production"}), 409)
    assert "no passing result exists" in error["message"]

    failing = {**SPEC, "gate": {"contains": {"min_mean": 0.9}}}
    run = wait_run(api, ok(api.post("/api/v1/evals/runs", json={"spec": failing}), 202)["id"])
    assert run["summary"]["passed"] is False
    error = assert_error(api.post(f"{base}/promote", json={"env": "production"}), 409)
    assert "failed its gate: contains: mean 0.75 < 0.9" in error["message"]
    assert error["details"]["gate"]["evidence"]["run_id"] == run["id"]

    passing = {**SPEC, "gate": {"contains": {"min_mean": 0.7}}}
    run = wait_run(api, ok(api.post("/api/v1/evals/runs", json={"spec": passing}), 202)["id"])
    promoted = ok(api.post(f"{base}/promote", json={"env": "production"}))
    assert promoted["stable"]["prompt"] == "support-answer@2"
    change = ok(api.get(f"{base}/history", params={"env": "production"}))["data"][0]
    assert change["details"]["gate"]["evidence"]["run_id"] == run["id"]


def test_resuming_a_run_that_is_running_here_is_a_conflict(api, cases):
    cases.fake.script("fake-model", [{"delay_s": 1.0}] * 4)
    started = ok(api.post("/api/v1/evals/runs", json={"spec": {**SPEC, "concurrency": 1}}), 202)
    error = assert_error(api.post(f"/api/v1/evals/runs/{started['id']}/resume"), 409)
    assert "is running in this server" in error["message"]
    assert wait_run(api, started["id"])["summary"]["cases"] == 4
