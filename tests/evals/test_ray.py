"""`stackwright evals run --executor ray`: the same spec and seed give the same per-case results on Ray as
locally (a gateway target through the fake upstream, and a python target), stored as batches complete,
and `eval resume --executor ray` runs only the missing cases. Ray runs locally: 2 CPUs, no dashboard."""

from __future__ import annotations

import importlib.util
import json
import os

import pytest
from sqlalchemy import delete, update

from stackwright.evals.models import EvalCaseResult, EvalRun
from tests.cli.conftest import cli, cli_ready  # noqa: F401  (fixtures)
from tests.evals.conftest import base_spec, write_spec
from tests.evals.test_cli import ready  # noqa: F401  (fixture)
from tests.gateway.conftest import fake_upstream, fake_upstream_server  # noqa: F401  (fixtures)

pytestmark = pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="the ray extra is not installed")


@pytest.fixture(scope="module")
def ray_runtime():
    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)
    yield ray
    ray.shutdown()


def _cases(cli, run_id: str) -> dict[tuple[str, int], dict]:
    shown = cli.json("evals", "show", run_id)
    return {(c["item_id"], c["repeat_index"]): {k: c[k] for k in ("input", "expected", "output", "error", "scores", "cost")}
            for c in shown["cases"]}  # fmt: skip


def _model_calls(fake) -> list[tuple[str, int | None]]:
    return sorted((json.dumps(r["body"]["messages"], sort_keys=True), r["body"].get("seed")) for r in fake.requests())


def _run(cli, spec, executor: str) -> dict:
    result = cli("evals", "run", str(spec), "--executor", executor, "--seed", "7", "--repeat", "2", "--json")
    assert result.exit_code == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("target", [{"model": "fake-model"}, {"python": "tests.evals.pyfuncs:boom"}], ids=["gateway", "python"])
def test_ray_gives_the_same_results_as_local(ready, ray_runtime, fake_upstream, tmp_path, target):  # noqa: F811
    spec = write_spec(tmp_path, base_spec(target=target, scorers=["contains", "exact", {"type": "regex", "pattern": "echo"}]))
    fake_upstream.reset()
    local = _run(ready, spec, "local")
    sent_locally = _model_calls(fake_upstream)
    if "model" in target:  # 4 items x 2 repeats, repeat r sampled with seed 7 + r
        assert len(sent_locally) == 8 and sorted(seed for _, seed in sent_locally) == [7] * 4 + [8] * 4
    fake_upstream.reset()
    on_ray = _run(ready, spec, "ray")
    assert _model_calls(fake_upstream) == sent_locally  # the same requests, with the same seeds (seed + repeat)
    assert on_ray["status"] == local["status"] == "completed"
    assert on_ray["summary"]["cases"] == local["summary"]["cases"] == 8
    assert on_ray["summary"]["scorers"] == local["summary"]["scorers"]
    assert _cases(ready, on_ray["id"]) == _cases(ready, local["id"])
    if "python" in target:  # one case errors on purpose, the same one on both executors
        assert on_ray["summary"]["errors"] == local["summary"]["errors"] == 2


def test_resume_on_ray_runs_only_the_missing_cases(ready, ray_runtime, tmp_path):  # noqa: F811
    spec = write_spec(tmp_path, base_spec(target={"python": "tests.evals.pyfuncs:echo"}))
    first = _run(ready, spec, "ray")
    before = _cases(ready, first["id"])
    with ready.db.write() as session:  # as if the run had been killed after half its batches
        gone = session.execute(delete(EvalCaseResult).where(EvalCaseResult.run_id == first["id"], EvalCaseResult.repeat_index == 1))
        assert gone.rowcount == 4
        session.execute(update(EvalRun).where(EvalRun.id == first["id"]).values(status="interrupted"))
    resumed = ready("evals", "resume", first["id"], "--executor", "ray", "--json")
    assert resumed.exit_code == 0, resumed.stdout + resumed.stderr
    assert "4 case(s) left" not in resumed.stdout  # --json: the run only
    again = json.loads(resumed.stdout)
    assert again["status"] == "completed" and again["summary"]["scorers"] == first["summary"]["scorers"]
    assert _cases(ready, first["id"]) == before
