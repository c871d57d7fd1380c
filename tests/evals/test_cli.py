"""`stackwright evals ...`: gate exit codes (0 pass, 1 gate failed, 2 usage or spec error), Markdown and
JUnit XML reports, show/list/compare, and resume after the run's process is killed with SIGKILL."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from stackwright.evals.models import EvalCaseResult, EvalRun
from tests.cli.conftest import cli, cli_ready  # noqa: F401  (fixtures)
from tests.evals.conftest import base_spec, write_cases, write_spec
from tests.gateway.conftest import fake_upstream, fake_upstream_server  # noqa: F401  (fixtures)
from tests.gateway.fake_upstream import FakeUpstream
from tests.gateway.helpers import FAST_RETRY, fake_model


def configure(cli, tmp_path: Path, base_url: str) -> None:
    config = {"models": [fake_model(base_url, "fake-model")], "retry": FAST_RETRY}
    (tmp_path / "gateway.yaml").write_text(yaml.safe_dump(config))
    cli.ok("gateway", "apply", str(tmp_path / "gateway.yaml"))


@pytest.fixture
def ready(cli_ready, fake_upstream, tmp_path):  # noqa: F811
    configure(cli_ready, tmp_path, fake_upstream.base_url)
    return cli_ready


def test_gate_exit_codes_and_reports(ready, tmp_path):
    passing = write_spec(tmp_path, base_spec(gate={"contains": {"min_mean": 0.5}}), "pass.yaml")
    result = ready("evals", "run", str(passing), "--gate", "--name", "baseline", "--junit", str(tmp_path / "pass.xml"),
                   "--report-md", str(tmp_path / "pass.md"))  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "gate contains.min_mean: pass (contains: mean 0.75 >= 0.5)" in result.stdout
    suite = ET.parse(tmp_path / "pass.xml").getroot()
    assert suite.tag == "testsuite" and suite.get("tests") == "2" and suite.get("failures") == "0"
    assert [c.get("name") for c in suite.iter("testcase")] == ["contains.min_mean", "contains"]
    markdown = (tmp_path / "pass.md").read_text()
    assert "## Eval baseline: passed" in markdown and "| contains | 0.75 |" in markdown

    failing = write_spec(tmp_path, base_spec(gate={"contains": {"min_mean": 0.9, "min_pass_rate": 0.5}}), "fail.yaml")
    result = ready("evals", "run", str(failing), "--gate", "--junit", str(tmp_path / "fail.xml"))
    assert result.exit_code == 1, result.stdout + result.stderr
    assert "gate failed: contains: mean 0.75 < 0.9" in result.stderr
    suite = ET.parse(tmp_path / "fail.xml").getroot()
    assert suite.get("failures") == "2"  # the failing gate and its scorer
    failures = {c.get("name"): c.find("failure") for c in suite.iter("testcase")}
    assert failures["contains.min_mean"].get("message") == "contains: mean 0.75 < 0.9"
    assert failures["contains.min_pass_rate"] is None and failures["contains"] is not None
    assert ready("evals", "run", str(failing)).exit_code == 0  # without --gate a finished run exits 0

    regression = write_spec(tmp_path, base_spec(target={"python": "tests.evals.pyfuncs:boom"}, gate={"no_regression_vs": "baseline"}), "reg.yaml")
    result = ready("evals", "run", str(regression), "--gate")
    assert result.exit_code == 0, result.stdout  # the failing case errors (unmeasured); the three measured pass: 1.0 >= 0.75
    assert "gate no_regression_vs.baseline.contains: pass (contains: mean 1 vs 0.75 in baseline" in result.stdout


def test_a_regression_against_a_named_baseline_fails_the_gate(ready, tmp_path):
    write_cases(tmp_path / "cases.jsonl")
    good = write_spec(tmp_path, base_spec(), "good.yaml")
    ready.ok("evals", "run", str(good), "--name", "baseline")
    worse = base_spec(scorers=[{"type": "exact", "name": "contains"}], gate={"no_regression_vs": "baseline"})
    result = ready("evals", "run", str(write_spec(tmp_path, worse, "worse.yaml")), "--gate", "--json")
    assert result.exit_code == 1
    gates = json.loads(result.stdout)["summary"]["gates"]
    assert gates[0]["name"] == "no_regression_vs.baseline.contains" and not gates[0]["passed"]
    assert "mean 0 vs 0.75 in baseline" in gates[0]["message"]
    missing = write_spec(tmp_path, base_spec(gate={"no_regression_vs": "nobody"}), "missing.yaml")
    assert ready("evals", "run", str(missing), "--gate").exit_code == 1


def test_usage_and_spec_errors_exit_2(ready, tmp_path):
    bad = write_spec(tmp_path, "name: x\ndataset: cases.jsonl\ntarget: {model: fake-model}\nscorers:\n  - contans\n", "bad.yaml")
    message = ready.fails("evals", "run", str(bad), "--gate", code=2)
    assert f"{bad}:5: scorers[0].type: unknown scorer 'contans'" in message
    assert "does not exist" in ready.fails("evals", "run", str(tmp_path / "nope.yaml"), code=2)
    missing = write_spec(tmp_path, base_spec(dataset="support-cases@4"), "missing.yaml")
    assert f"{missing}:2: dataset:" in ready.fails("evals", "run", str(missing), code=2)
    if importlib.util.find_spec("ray") is None:
        assert "install the ray extra" in ready.fails("evals", "run", str(missing), "--executor", "ray", code=2).lower()
    else:  # ray is there: the spec is checked as for a local run
        assert f"{missing}:2: dataset:" in ready.fails("evals", "run", str(missing), "--executor", "ray", code=2)
    assert "no executors plugin named 'local-pool'" in ready.fails("evals", "run", str(missing), "--executor", "local-pool", code=2).lower()
    assert "no eval run 'nope'" in ready.fails("evals", "show", "nope", code=2).lower()
    assert "no eval run" in ready.fails("evals", "resume", "nope", code=2).lower()
    assert ready("evals", "run", str(missing), "--repeat", "0").exit_code == 2  # typer's own usage error
    assert ready.count(EvalRun) == 0


def test_show_list_compare(ready, tmp_path):
    spec = write_spec(tmp_path, base_spec(scorers=["contains", "similarity"]), "spec.yaml")
    a = ready.json("evals", "run", str(spec), "--name", "a")
    ready.json("evals", "run", str(spec), "--name", "b", "--repeat", "2")
    shown = ready.json("evals", "show", "a")
    assert shown["id"] == a["id"] and len(shown["cases"]) == 4 and shown["spec"]["name"] == "support-regression"
    assert "contains" in ready.ok("evals", "show", a["id"], "--cases").stdout
    listed = ready.json("evals", "list")
    assert [r["name"] for r in listed] == ["b", "a"] and listed[0]["total_cases"] == 8
    compared = ready.json("evals", "compare", "a", "b")
    contains = compared["scorers"]["contains"]
    assert contains["paired"] == 4 and contains["unpaired"] == 4 and contains["mean_diff"] == 0 and contains["mcnemar_p"] == 1.0
    assert contains["judge_variance_b"] == 0.0 and contains["judge_variance_a"] is None
    assert "McNemar p" in ready.ok("evals", "compare", "a", "b").stdout


def _count(cli, run_id: str) -> int:
    return cli.count(EvalCaseResult, EvalCaseResult.run_id == run_id)


def test_resume_after_sigkill_equals_an_uninterrupted_run(cli_ready, tmp_path):  # noqa: F811
    cases = [{"input": {"question": f"question {i}"}, "expected": f"question {i % 4}"} for i in range(30)]
    write_cases(tmp_path / "cases.jsonl", cases)
    spec = write_spec(tmp_path, base_spec(concurrency=2, scorers=["contains", "similarity"], seed=3), "spec.yaml")
    with FakeUpstream(latency_ms=100) as fake:
        configure(cli_ready, tmp_path, fake.base_url)
        full = cli_ready.json("evals", "run", str(spec), "--name", "full")
        env = {**os.environ, **cli_ready.env}
        command = [str(Path(sys.executable).parent / "stackwright"), "evals", "run", str(spec), "--name", "killed"]
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while True:
                with cli_ready.db.read() as session:
                    run = session.query(EvalRun).filter_by(name="killed").one_or_none()
                if run is not None and _count(cli_ready, run.id) >= 6:
                    break
                assert process.poll() is None and time.monotonic() < deadline, process.stderr.read() if process.poll() is not None else "slow"
                time.sleep(0.02)
            process.send_signal(signal.SIGKILL)
            process.wait(10)
        finally:
            if process.poll() is None:
                process.kill()
        finished = {c.item_id: c.trace_id for c in _cases(cli_ready, run.id)}
        assert 6 <= len(finished) < 30
        with cli_ready.db.read() as session:
            assert session.get(EvalRun, run.id).status == "running"  # killed: nobody marked it
        questions = {c.input["question"] for c in _cases(cli_ready, run.id)}
        fake.reset()
        resumed = cli_ready.json("evals", "resume", "killed")
        asked = [r["body"]["messages"][-1]["content"] for r in fake.requests() if r["path"].endswith("/chat/completions")]
        assert not set(asked) & questions  # no finished case ran again
        assert {c["input"]["question"] for c in cases} - questions <= set(asked)
    after = {c.item_id: c.trace_id for c in _cases(cli_ready, run.id)}
    assert len(after) == 30 and all(after[k] == v for k, v in finished.items())
    assert resumed["status"] == "completed" and resumed["dataset"] == full["dataset"]
    strip = lambda s: {k: v for k, v in s.items() if k != "latency_ms"}  # noqa: E731
    assert strip(resumed["summary"]) == strip(full["summary"])


def _cases(cli, run_id: str) -> list:
    with cli.db.read() as session:
        return list(session.query(EvalCaseResult).filter_by(run_id=run_id))



def test_online_rule_commands(ready, tmp_path, monkeypatch):
    from stackwright.evals import online

    monkeypatch.setattr(online, "SETTLE_S", 0.0)
    created = ready.json("evals", "online", "set", "echo-check", "--scorer", "{type: contains, value: echo, name: says_echo}",
                         "--scorer", "json_valid", "--filter", "model=fake-model", "--rate", "1")  # fmt: skip
    assert created["filter"] == {"model": "fake-model"} and [s.get("name") or s["type"] for s in created["scorers"]] == ["says_echo", "json_valid"]
    assert "echo-check" in ready.ok("evals", "online", "list").stdout
    assert ready.json("evals", "online", "run") == {"echo-check": {"examined": 0, "scored": 0, "unmeasured": 0}}  # no traffic yet
    assert "unknown filter field colour" in ready.fails("evals", "online", "set", "r", "--scorer", "contains", "--filter", "colour=red",
                                                         "--rate", "1").lower()  # fmt: skip
    assert "not of the form field=value" in ready.fails("evals", "online", "set", "r", "--scorer", "contains", "--filter", "model", "--rate", "1")
    assert "sample_rate" in ready.fails("evals", "online", "set", "r", "--scorer", "contains", "--rate", "2")
    assert "removed" in ready.ok("evals", "online", "remove", "echo-check").stdout
    assert "no online evaluation rule" in ready.fails("evals", "online", "remove", "echo-check").lower()
    assert ready.json("evals", "online", "list") == []


def test_python_targets_and_scorers_next_to_the_spec(ready, tmp_path):
    (tmp_path / "my_app_under_test.py").write_text("def answer(case):\n    return 'echo: ' + case['question']\n\n"
                                                  "def shouts(output):\n    return output.isupper()\n")  # fmt: skip
    spec = base_spec(target={"python": "my_app_under_test:answer"}, scorers=["contains", {"type": "python", "function": "my_app_under_test:shouts"}])
    result = ready.json("evals", "run", str(write_spec(tmp_path, spec, "py.yaml")))
    assert result["summary"]["scorers"]["contains"]["passed"] == 3 and result["summary"]["scorers"]["python"]["mean"] == 0.0
