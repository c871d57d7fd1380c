"""Code execution is the operator's alone: through the server (API, jobs, online rules) python targets and
scorers run only if STACKWRIGHT_EVAL_PYTHON_ALLOW names them, for every key; a refused spec is a 403 naming
the setting, nothing is imported or run, and the server keeps answering. Specs run from a file by the CLI
are the operator's (tests/evals/test_cli.py runs python targets and scorers with the allow-list empty)."""

from __future__ import annotations

import sys
import time

import pytest

from stackwright.core.errors import ConfigError, Forbidden
from stackwright.evals.trust import CodePolicy
from tests.auth.conftest import client_for, other  # noqa: F401  (fixtures)
from tests.cli.conftest import cli, cli_ready  # noqa: F401  (fixtures)
from tests.conftest import TEST_API_KEY, assert_error
from tests.e2e.serverproc import ServerProcess, clean_env, free_ports

ALLOWED = "tests.evals.pyfuncs"
SPEC = {"name": "trust", "dataset": "d", "target": {"model": "fake-model"}, "scorers": ["contains"]}
ABORT = {"type": "python", "function": "os:abort"}


@pytest.fixture
def settings(settings):
    """As an operator would set it: the test functions' module is allowed, nothing else."""
    return settings.model_copy(update={"eval_python_allow": (ALLOWED,)})


def ok(response, status=200):
    assert response.status_code == status, response.text
    return response.json()


def add_item(client, dataset: str, item: dict) -> None:
    created = client.post("/api/v1/datasets", json={"name": dataset})
    assert created.status_code in (201, 409), created.text
    ok(client.post(f"/api/v1/datasets/{dataset}/items", json=item), 201)


def wait_run(client, run_id: str, timeout_s: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while (run := ok(client.get(f"/api/v1/evals/runs/{run_id}")))["status"] == "running":
        assert time.monotonic() < deadline, run
        time.sleep(0.05)
    return run


def refused(response, ref: str) -> dict:
    error = assert_error(response, 403, "python_not_allowed")
    assert "STACKWRIGHT_EVAL_PYTHON_ALLOW" in error["message"] and error["details"]["callable"] == ref
    return error


@pytest.mark.e2e
def test_a_scorer_naming_os_abort_is_refused_and_the_server_keeps_answering(tmp_path, database_url):
    env = clean_env(home=tmp_path / "home", database_url=database_url, init_api_key=TEST_API_KEY)
    server = ServerProcess(tmp_path / "run", env, free_ports()[0])
    with server:
        server.wait_ready()
        with server.client(TEST_API_KEY) as api:  # the instance admin's key: bound by the allow-list too
            add_item(api, "d", {"input": "hello", "expected": "hello"})
            refused(api.post("/api/v1/evals/runs", json={"spec": {**SPEC, "scorers": [ABORT]}}), "os:abort")
            yaml_text = "name: t\ndataset: d\ntarget: {model: m}\nscorers: [{type: python, function: 'os:abort'}]\n"
            refused(api.post("/api/v1/evals/runs", json={"spec": yaml_text}), "os:abort")
            assert api.get("/readyz").status_code == 200
            assert ok(api.get("/api/v1/evals/runs"))["data"] == []
        assert server.proc.poll() is None
    assert "Traceback" not in server.stderr


def test_a_python_target_naming_os_system_runs_nothing(api, other, client_for, tmp_path):  # noqa: F811
    marker = tmp_path / "x"
    theirs = client_for(other.key)  # a project admin (owner) of another project, not an instance admin
    body = {"spec": {**SPEC, "target": {"python": "os:system"}}}
    for client in (theirs, api):
        add_item(client, "d", {"input": f"id > {marker}"})
        refused(client.post("/api/v1/evals/runs", json=body), "os:system")
        assert ok(client.get("/api/v1/evals/runs"))["data"] == []
    assert not marker.exists()
    assert ok(api.get("/api/v1/me"))["project"]["name"] == "default"  # still answering


def test_allowed_code_runs_and_allowed_modules_do_not_open_others(api):
    add_item(api, "d", {"input": {"question": "refund policy"}, "expected": "refund"})
    spec = {**SPEC, "target": {"python": f"{ALLOWED}:echo"},
            "scorers": ["contains", {"type": "python", "name": "length", "function": f"{ALLOWED}:length_scorer"}]}  # fmt: skip
    run = wait_run(api, ok(api.post("/api/v1/evals/runs", json={"spec": spec}), 202)["id"])
    assert run["status"] == "completed", run
    assert run["cases"]["data"][0]["output"] == "echo: refund policy"
    assert run["summary"]["scorers"]["contains"]["mean"] == 1.0 and run["summary"]["scorers"]["length"]["mean"] == pytest.approx(0.19)
    for ref in (f"{ALLOWED}:asyncio.sleep", f"{ALLOWED}:Any", f"{ALLOWED}:_calls", "tests.evals:pyfuncs", "tests.evals.pyfuncsx:echo"):
        refused(api.post("/api/v1/evals/runs", json={"spec": {**SPEC, "target": {"python": ref}}}), ref)
        refused(api.post("/api/v1/evals/runs", json={"spec": {**SPEC, "scorers": [{"type": "python", "function": ref}]}}), ref)
    assert len(ok(api.get("/api/v1/evals/runs"))["data"]) == 1


def test_resuming_a_run_whose_code_is_not_allowed_is_refused(api, app):
    from stackwright.evals.runner import prepare_run
    from stackwright.evals.spec import from_payload

    add_item(api, "d", {"input": "x"})
    project_id = ok(api.get("/api/v1/me"))["project"]["id"]
    spec = from_payload({**SPEC, "target": {"python": "json:dumps"}}, CodePolicy.operator())  # started by the operator, then stopped
    prepared = prepare_run(app.state.db, project_id, spec)
    refused(api.post(f"/api/v1/evals/runs/{prepared.run_id}/resume"), "json:dumps")
    assert ok(api.get(f"/api/v1/evals/runs/{prepared.run_id}"))["completed_cases"] == 0


def test_online_rules_jobs_and_schedules_with_python_scorers_are_refused(api, app):
    from sqlalchemy import func, select

    from stackwright.jobs.models import Job, JobSchedule

    refused(api.put("/api/v1/evals/online/rules/r", json={"sample_rate": 1, "scorers": [ABORT]}), "os:abort")
    assert ok(api.get("/api/v1/evals/online/rules"))["data"] == []
    allowed = {"type": "python", "function": f"{ALLOWED}:length_scorer"}
    assert ok(api.put("/api/v1/evals/online/rules/r", json={"sample_rate": 1, "scorers": [allowed]}))["scorers"][0]["type"] == "python"

    job = {"kind": "evals.run", "params": {"spec": {**SPEC, "scorers": [ABORT]}}}
    refused(api.post("/api/v1/jobs", json=job), "os:abort")
    refused(api.post("/api/v1/jobs/schedules", json={"name": "nightly", "cron": "0 3 * * *", **job}), "os:abort")
    with app.state.db.read() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 0
        assert session.scalar(select(func.count()).select_from(JobSchedule)) == 0


def test_an_evals_run_job_runs_allowed_python_code(api, app):
    add_item(api, "d", {"input": {"question": "refund policy"}, "expected": "refund"})
    spec = {**SPEC, "target": {"python": f"{ALLOWED}:echo"}}
    job_id = ok(api.post("/api/v1/jobs", json={"kind": "evals.run", "params": {"spec": spec}}), 202)["id"]
    app.state.jobs.worker.run_until_idle()
    done = ok(api.get(f"/api/v1/jobs/{job_id}"))
    assert done["status"] == "succeeded", done
    assert ok(api.get(f"/api/v1/evals/runs/{done['result']['run_id']}"))["summary"]["scorers"]["contains"]["mean"] == 1.0


def test_the_cli_cannot_store_an_online_rule_the_server_would_not_run(cli_ready):  # noqa: F811
    message = cli_ready.fails("evals", "online", "set", "r", "--rate", "1", "--scorer", "{type: python, function: 'os:abort'}")
    assert "STACKWRIGHT_EVAL_PYTHON_ALLOW" in message


def test_the_policy_refuses_before_importing(tmp_path, monkeypatch):
    (tmp_path / "loud_module.py").write_text("import pathlib\npathlib.Path(__file__).with_name('imported').touch()\ndef f():\n    return 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    server = CodePolicy(False, ("other_module", "json:dumps"))
    with pytest.raises(Forbidden):
        server.load("loud_module:f", "target.python")
    assert "loud_module" not in sys.modules and not (tmp_path / "imported").exists()
    assert server.load("json:dumps", "target.python")({"a": 1}) == '{"a": 1}'  # an exact entry
    with pytest.raises(Forbidden):
        server.load("json:loads", "target.python")
    assert CodePolicy.operator().load("loud_module:f", "target.python")() == 1
    sys.modules.pop("loud_module", None)  # the next test imports it afresh


def test_the_setting_takes_a_list_or_comma_separated_entries(monkeypatch):
    from stackwright.core.config import load_settings

    monkeypatch.setenv("STACKWRIGHT_EVAL_PYTHON_ALLOW", " my_evals.scorers , other:score ")
    assert load_settings().eval_python_allow == ("my_evals.scorers", "other:score")
    monkeypatch.setenv("STACKWRIGHT_EVAL_PYTHON_ALLOW", '["my_evals", "other.mod:score"]')
    assert load_settings().eval_python_allow == ("my_evals", "other.mod:score")
    monkeypatch.setenv("STACKWRIGHT_EVAL_PYTHON_ALLOW", "os system")
    with pytest.raises(ConfigError, match="STACKWRIGHT_EVAL_PYTHON_ALLOW"):
        load_settings()
    monkeypatch.delenv("STACKWRIGHT_EVAL_PYTHON_ALLOW")
    assert load_settings().eval_python_allow == ()


def test_an_online_rule_whose_code_is_no_longer_allowed_waits_and_the_others_run(api, app, evals, monkeypatch):
    from stackwright.auth.actors import cli_actor
    from stackwright.evals import online
    from tests.gateway.helpers import wait_trace

    monkeypatch.setattr(online, "SETTLE_S", 0.0)
    with app.state.db.write() as session:  # stored while the allow-list still named it (as if the operator narrowed it since)
        online.save_rule(session, cli_actor(), evals.project_id, "stale", {}, 1.0, [{"type": "python", "function": "json:dumps"}],
                         policy=CodePolicy.operator())  # fmt: skip
    ok(api.put("/api/v1/evals/online/rules/fine", json={"sample_rate": 1, "scorers": [{"type": "contains", "value": "echo"}]}))
    response = api.post("/v1/chat/completions", json={"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 200, response.text
    wait_trace(api, response.headers["x-stackwright-trace-id"])
    totals = ok(api.post("/api/v1/evals/online/run"))["rules"]
    assert totals["stale"] == {"examined": 0, "scored": 0, "unmeasured": 0} and totals["fine"]["scored"] == 1
