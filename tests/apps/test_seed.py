"""`stackwright demo seed` on a real SQLite data dir: everything the demo needs, secrets stored hashed,
and a second seed changes nothing."""

from __future__ import annotations

import os
import stat

from typer.testing import CliRunner

from tests.apps.conftest import SEED_REQUESTS


def _counts(settings) -> dict[str, int]:
    from sqlalchemy import func, select

    from stackwright.auth.models import ApiKey
    from stackwright.core.db import Database
    from stackwright.datasets.models import DatasetVersion
    from stackwright.evals.models import EvalRun
    from stackwright.prompts.models import PromptVersion
    from stackwright.retrieval.models import RetrievalChunk as Chunk
    from stackwright.tracing.models import Span

    db = Database(settings)
    try:
        with db.read() as session:
            return {name: session.scalar(select(func.count()).select_from(model)) for name, model in
                    (("keys", ApiKey), ("datasets", DatasetVersion), ("runs", EvalRun), ("prompts", PromptVersion),
                     ("chunks", Chunk), ("spans", Span))}  # fmt: skip
    finally:
        db.dispose()


def test_seed_sets_up_the_whole_demo(support_demo, support_app) -> None:
    settings, report = support_demo
    steps = report.steps
    assert not report.skipped
    assert steps["corpus"]["documents"] == 61 and not steps["corpus"]["failures"]
    assert steps["prompts"] == ["support-answer@1", "support-answer@2"]
    assert steps["dataset"]["items"] >= 50
    assert steps["traffic"]["requests"] == SEED_REQUESTS and steps["traffic"]["errors"] == 0
    status = support_app.api("GET", "/api/v1/releases/support.answer", params={"env": "production"}).json()
    assert status["stable"]["prompt"] == "support-answer@1"
    assert status["candidate"]["config"]["prompt"] == "support-answer@2" and status["candidate"]["share"] == 20.0
    labels = {v["version"]: v.get("labels") for v in support_app.api("GET", "/api/v1/prompts/support-answer/versions").json()["data"]}
    assert "production" in labels[1] and "canary" in labels[2]
    assert support_app.api("GET", "/api/v1/guardrails/policies/support-guard").json()["route"] == "support.answer"
    assert {m["name"] for m in support_app.api("GET", "/api/v1/gateway/models").json()} >= {"support-model", "support-fallback"}
    traces = support_app.api("GET", "/api/v1/traces", params={"name": "support.ask", "limit": 100}).json()["data"]
    assert len(traces) >= SEED_REQUESTS
    prices = support_app.api("GET", "/api/v1/traces/settings").json()["prices"]
    assert prices["support-model"]["output_per_mtok"] > 0  # the demo prices its local model...
    answered = [t for t in traces if (t.get("total_tokens") or 0) > 0]
    assert answered and any((t.get("cost") or 0) > 0 for t in answered)  # ...so answered requests cost something
    evals = steps["evals"]
    assert set(evals) == {"support-eval-stable", "support-eval-canary"}
    for run in evals.values():
        assert run["status"] == "completed" and run["cases"] >= 50
        assert set(run["scorers"]) == {"cites_expected_source", "escalation_correct", "blocked_correct", "pii_redacted"}
    assert evals["support-eval-stable"]["gate_passed"] is True


def test_the_gate_is_evaluated_and_the_comparison_exists(support_demo, support_app) -> None:
    from stackwright.evals.compare import compare_runs

    settings, report = support_demo
    runs = support_app.api("GET", "/api/v1/evals/runs").json()["data"]
    by_name = {r["name"]: r for r in runs}
    for name in ("support-eval-stable", "support-eval-canary"):
        gates = by_name[name]["summary"]["gates"]
        assert gates and all(isinstance(g["passed"], bool) for g in gates)
    db = support_app.asgi_app.state.db
    with db.read() as session:
        project_id = support_app.api("GET", "/api/v1/me").json()["project"]["id"]
        result = compare_runs(session, project_id, by_name["support-eval-stable"]["id"], by_name["support-eval-canary"]["id"])
    assert result["scorers"]["cites_expected_source"]["paired"] > 0


def test_the_demo_key_is_stored_0600_and_hashed(support_demo) -> None:
    from stackwright.apps.support.seed import credentials_path, read_demo_credentials

    settings, report = support_demo
    path = credentials_path(settings.home)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    raw = read_demo_credentials(settings.home)["STACKWRIGHT_API_KEY"]
    assert raw == report.api_key and raw.startswith("sw-")
    assert raw.encode() not in (settings.home / "stackwright.db").read_bytes()


def test_a_second_seed_changes_nothing(support_demo) -> None:
    from stackwright.apps.support.seed import seed

    settings, _ = support_demo
    before = _counts(settings)
    again = seed(settings)
    assert again.skipped is True
    assert _counts(settings) == before


def test_demo_seed_command_reports_and_is_idempotent(support_demo, monkeypatch) -> None:
    from stackwright.cli.main import app

    settings, report = support_demo
    monkeypatch.setenv("STACKWRIGHT_HOME", str(settings.home))
    monkeypatch.setenv("STACKWRIGHT_DATABASE_URL", settings.database_url)
    result = CliRunner().invoke(app, ["demo", "seed"])
    assert result.exit_code == 0, result.output
    assert "already seeded" in result.output and "http://127.0.0.1:8600" in result.output and report.api_key in result.output
    listed = CliRunner().invoke(app, ["demo", "accounts", "--json"])
    assert listed.exit_code == 0 and "acct-1006" in listed.output


def test_demo_eval_command_runs_the_spec_and_judges_the_gate(support_demo, monkeypatch) -> None:
    import json

    from stackwright.cli.main import app

    settings, _ = support_demo
    monkeypatch.setenv("STACKWRIGHT_HOME", str(settings.home))
    monkeypatch.setenv("STACKWRIGHT_DATABASE_URL", settings.database_url)
    result = CliRunner().invoke(app, ["demo", "eval", "--name", "cli-stable", "--gate", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["status"] == "completed" and summary["gate_passed"] is True and summary["cases"] >= 50
    canary = CliRunner().invoke(app, ["demo", "eval", "--canary", "--name", "cli-canary", "--gate"])
    assert canary.exit_code in (0, 1) and "gate" in canary.output  # the gate is judged either way; --gate sets the exit code
