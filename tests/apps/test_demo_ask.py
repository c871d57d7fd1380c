"""`stackwright demo ask`: without the seeded support demo it refuses with what to run (exit 1); the
`demo` group carries the support app's own commands when that app registers them."""

from __future__ import annotations

import re
from typing import Any

import pytest
from typer.testing import CliRunner


@pytest.fixture
def env(settings: Any, prepared: Any) -> dict[str, str]:
    return {"STACKWRIGHT_HOME": str(settings.home), "STACKWRIGHT_DATABASE_URL": settings.database_url}


def run(env: dict[str, str], *args: str) -> Any:
    from stackwright.cli.main import app

    return CliRunner().invoke(app, list(args), env=env)


def test_ask_without_seed_says_to_seed_first(env) -> None:
    for extra in ([], ["--json"], ["--user", "u-1"]):
        result = run(env, "demo", "ask", "How do I reset my password?", *extra)
        assert result.exit_code == 1, result.output
        assert "not seeded" in result.stderr and "stackwright demo seed" in result.stderr
        assert result.stdout == ""


def test_ask_in_a_named_project_without_seed_says_so(env) -> None:
    result = run(env, "demo", "ask", "How do I reset my password?", "--project", "default")
    assert result.exit_code == 1 and "project 'default'" in result.stderr and "stackwright demo seed" in result.stderr
    missing = run(env, "demo", "ask", "hi", "--project", "nope")
    assert missing.exit_code == 1 and "No project 'nope'" in missing.stderr


def test_explain_of_an_unknown_trace_is_a_clear_error(env) -> None:
    result = run(env, "demo", "explain", "0" * 31 + "1")
    assert result.exit_code == 1 and "No trace" in result.stderr and "stackwright traces list" in result.stderr


def test_demo_group_lists_its_commands(env) -> None:
    result = run(env, "demo", "--help")
    assert result.exit_code == 0 and "ask" in result.stdout and "explain" in result.stdout


KEYS = {"answer", "trace_id", "prompt_version", "model", "context", "failure", "eval_delta", "cost_usd", "slowest_step", "rollback"}


def test_ask_after_seed_prints_the_eight_answers_from_storage(env, settings) -> None:
    """`demo seed` (few requests), then one question through the whole stack: the JSON's ten keys are
    checked against the store."""
    import json

    from sqlalchemy import select

    from stackwright.apps.support.seed import EVAL_CANARY, EVAL_STABLE
    from stackwright.core.runtime import open_database
    from stackwright.evals.models import EvalRun
    from stackwright.releases.models import Release
    from stackwright.tracing.models import Span, Trace

    seeded = run(env, "demo", "seed", "--requests", "2", "--json")
    assert seeded.exit_code == 0, seeded.output
    result = run(env, "demo", "ask", "How do I reset my password?", "--user", "acct-1001", "--json")
    assert result.exit_code == 0, result.output
    answers = json.loads(result.stdout)
    assert set(answers) == KEYS and all(answers[k] is not None for k in KEYS)
    db = open_database(settings)
    try:
        with db.read() as session:
            trace = session.scalar(select(Trace).where(Trace.trace_id == answers["trace_id"]))
            spans = list(session.scalars(select(Span).where(Span.trace_id == answers["trace_id"])))
            release = session.scalar(select(Release).where(Release.route == "support.answer", Release.environment == "production"))
            runs = {r.name: r.id for r in session.scalars(select(EvalRun).where(EvalRun.status == "completed"))}
    finally:
        db.dispose()
    assert trace is not None and answers["answer"] and isinstance(answers["answer"], str)
    call = next(s for s in spans if s.route == "support.answer" and s.kind == "llm" and s.prompt_name)
    p = answers["prompt_version"]
    assert p["prompt"] == f"{call.prompt_name}@{call.prompt_version}" and p["arm"] == call.release_arm
    configs = {"stable": release.stable, "candidate": release.candidate}
    assert p["prompt"] == configs[call.release_arm]["prompt"] and p["live"]["stable"] == release.stable["prompt"]
    assert answers["model"]["asked"] == call.attributes["gen_ai.request.model"] and answers["model"]["provider"] == call.provider
    assert answers["model"]["deployment"] == call.attributes["stackwright.gateway.deployment"]
    context = answers["context"]
    assert [m["role"] for m in context["rendered_messages"]] == ["system", "user"]
    assert any(c["in_prompt"] for c in context["retrieved_chunks"]) and all(c["chunk_id"] for c in context["retrieved_chunks"])
    assert any(t["output"] and t["output"].get("id") == "acct-1001" for t in context["tool_results"])
    assert answers["failure"]["summary"] and answers["failure"]["guardrail_decisions"]
    delta = answers["eval_delta"]
    assert delta["compared"] is True and delta["scorers"]
    assert {delta["runs"]["stable"]["id"], delta["runs"]["candidate"]["id"]} == {runs[EVAL_STABLE], runs[EVAL_CANARY]}
    assert answers["cost_usd"]["stored_trace_cost"] == pytest.approx(trace.cost) and answers["cost_usd"]["per_step"]
    assert answers["slowest_step"]["span_id"] in {s.span_id for s in spans}
    assert answers["rollback"]["can_roll_back"] is True and answers["rollback"]["to_prompt"] == release.stable["prompt"]
    readable = run(env, "demo", "ask", "How do I reset my password?", "--user", "acct-1002")
    assert readable.exit_code == 0, readable.output
    assert all(f"\n{n}. " in readable.stdout for n in range(1, 9))
    shown = re.search(r"^trace:  ([0-9a-f]{32})", readable.stdout, re.M).group(1)
    assert readable.stdout.rstrip().endswith(f"open in the web UI: {settings.base_url}/ui/traces/{shown}")


def test_ask_and_explain_against_a_running_server(support_demo, tmp_path) -> None:
    """`demo ask --base-url`: the question goes to `stackwright serve` on a loopback port with the demo key,
    and the answers come from GET /api/v1/traces/{id}/explain; an unknown trace is a clear not-found."""
    import json

    from tests.e2e.serverproc import ServerProcess, clean_env, free_ports
    from tests.e2e.serverproc import run as run_cli

    settings, report = support_demo
    (port,) = free_ports(1)
    env = clean_env(home=settings.home, database_url=settings.database_url, log_format="text")
    with ServerProcess(tmp_path / "server", env, port).start() as server:
        server.wait_ready()
        result = run_cli(["demo", "ask", "How do I connect Slack?", "--user", "acct-1002", "--base-url", server.base_url, "--json"], env)
        assert result.returncode == 0, result.stderr[-2000:]
        answers = json.loads(result.stdout)
        assert set(answers) == KEYS and all(answers[k] is not None for k in KEYS)
        assert answers["prompt_version"]["route"] == "support.answer" and answers["eval_delta"]["compared"] is True
        assert any(c["source"] == "integrations-slack.md" for c in answers["context"]["retrieved_chunks"])
        again = run_cli(["demo", "explain", answers["trace_id"], "--base-url", server.base_url, "--json"], env)
        assert again.returncode == 0 and json.loads(again.stdout)["trace_id"] == answers["trace_id"]
        missing = run_cli(["demo", "explain", "ab" * 16, "--base-url", server.base_url], env)
        assert missing.returncode == 1 and "404" in missing.stderr and "No trace" in missing.stderr

