"""The eight answers read back from stored data: one request through the real SDK exporter and the real
gateway (release route with a canary, a stored prompt, a guardrail that redacts, price overrides), a
release whose history has a rollback, two eval runs of the stable and candidate prompts; then every key
of ``explain`` (service, API, CLI) is checked against what was stored. Unknown and other projects'
traces are not found."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from stackwright.sdk.observe import configure_tracing, flush, observe
from stackwright.sdk.observe.state import STATE
from tests.auth.conftest import client_for, default, make_key, other  # noqa: F401  (fixtures)
from tests.conftest import TEST_API_KEY, assert_error
from tests.gateway.conftest import fake_upstream, fake_upstream_server  # noqa: F401  (fixtures)
from tests.gateway.helpers import apply, fake_model, openai_client, wait_trace
from tests.releases.conftest import push_versions

ROUTE, ENV = "support.answer", "production"
QUESTION = "How do I reset my password? My email is jane@example.com"
KEYS = {"answer", "trace_id", "prompt_version", "model", "context", "failure", "eval_delta", "cost_usd", "slowest_step", "rollback"}


@pytest.fixture(autouse=True)
def _tracing_off_afterwards() -> Iterator[None]:
    yield
    configure_tracing(enabled=False)
    STATE.config = None
    STATE.active = True


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _release(api: httpx.Client, model: str) -> None:
    """Stable @1, then @2, rolled back to @1, then a canary of @3 taking every request."""
    for prompt in ("support-answer@1", "support-answer@2"):
        ok(api.post(f"/api/v1/releases/{ROUTE}/set", json={"env": ENV, "prompt": prompt, "model": model, "params": {"temperature": 0.2}}))
    ok(api.post(f"/api/v1/releases/{ROUTE}/rollback", json={"env": ENV, "reason": "v2 answers worse"}))
    ok(api.post(f"/api/v1/releases/{ROUTE}/canary", json={"env": ENV, "prompt": "support-answer@3", "share": 100}))


def _request(app: Any, api: httpx.Client, model: str) -> str:
    """One support request: SDK spans (classify, retrieval, tool) around a gateway call on the release route."""
    from stackwright.sdk.observe.otlp import OTLPHttpExporter
    from stackwright.sdk.transport import InProcessTransport

    exporter = OTLPHttpExporter("http://stackwright.test/v1/traces", TEST_API_KEY)
    exporter._client = httpx.Client(transport=InProcessTransport(app), timeout=30)
    assert configure_tracing(exporter=exporter, schedule_delay=0.05, service_name="support-test") is True
    client = openai_client(app)
    with observe("support request") as root:
        with observe("classify", kind="llm") as span:
            span.set_usage(input_tokens=20, output_tokens=2, model="intent-classifier", cost=0.00002)
            span.set_output("account")
        with observe("retrieve", kind="retrieval") as span:
            span.set_input("reset password")
            span.set_documents([
                {"id": "chunk-pw-1", "content": "Open Settings, then Reset password.", "score": 0.91,
                 "metadata": {"source": "help/password-reset.md", "title": "Reset your password", "document_id": "doc-7"}},
                {"id": "chunk-pw-2", "content": "Links expire after 24 hours.", "score": 0.52,
                 "metadata": {"source": "help/links.md", "title": "Reset links"}},
            ])  # fmt: skip
        with observe("lookup_account", kind="tool") as span:
            span.set_input({"user_id": "u-42"})
            span.set_output({"plan": "pro", "locked": False})
        with observe("answer", kind="chain") as step:
            traceparent = f"00-{step.trace_id_hex}-{step.span_id_hex}-01"
            raw = client.chat.completions.with_raw_response.create(
                model=f"route:{ROUTE}@{ENV}", messages=[], user="u-42",
                extra_body={"variables": {"question": QUESTION}}, extra_headers={"traceparent": traceparent},
            )  # fmt: skip
            text = raw.parse().choices[0].message.content
            step.set_usage(cost=float(raw.headers["x-stackwright-cost-usd"]))  # as flows' add_usage(response) does
        root.set_output(text)
        trace_id = root.trace_id_hex
    assert raw.headers["x-stackwright-trace-id"] == trace_id
    assert flush(10) is True
    wait_trace(api, trace_id, spans=8)  # the gateway stores its spans from the client's event loop: close it after
    client.close()
    return trace_id


def _run_specs(app: Any, api: httpx.Client, fake: Any, tmp_path: Any, targets: dict[str, dict[str, Any]], cases: int = 8) -> dict[str, str]:
    """Eval runs through the real runner and gateway, one per target; the expected text is the candidate's."""
    from tests.evals.conftest import Evals

    rows = [{"input": {"question": f"question {i}"}, "expected": "Version 3"} for i in range(cases)]
    (tmp_path / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in rows))
    runner = Evals(app, api, fake, tmp_path)
    try:
        ids = {}
        for key, target in targets.items():
            spec = {"name": f"support-{key}", "dataset": "cases.jsonl", "target": target, "scorers": ["contains"],
                    "concurrency": 4, "timeout_s": 5, "retries": 0}  # fmt: skip
            result = runner.run(spec)
            assert result["status"] == "completed", result
            ids[key] = result["id"] if "id" in result else result["run_id"]
        return ids
    finally:
        runner.close()


def _evals(app: Any, api: httpx.Client, fake: Any, tmp_path: Any, model: str) -> dict[str, str]:
    """Runs of the stable prompt (@1) and the candidate (@3): the candidate's answers contain the expected text."""
    targets = {arm: {"prompt": f"support-answer@{v}", "model": model} for arm, v in (("stable", 1), ("candidate", 3))}
    return _run_specs(app, api, fake, tmp_path, targets)


def build(app: Any, api: httpx.Client, project_id: str, fake: Any, tmp_path: Any) -> dict[str, Any]:
    model = f"m-{uuid.uuid4().hex[:8]}"
    apply(api, fake_model(fake.base_url, model))
    ok(api.put("/api/v1/traces/settings", json={"prices": {model: {"input_per_mtok": 1000.0, "output_per_mtok": 2000.0}}}))
    push_versions(app.state.db, project_id, "support-answer", 3)
    _policy(api)
    _release(api, model)
    trace_id = _request(app, api, model)
    return {"model": model, "trace_id": trace_id, "project_id": project_id}


@pytest.fixture
def story(app, api, default, fake_upstream, tmp_path) -> dict[str, Any]:  # noqa: F811
    built = build(app, api, default.project_id, fake_upstream, tmp_path)
    built["runs"] = _evals(app, api, fake_upstream, tmp_path, built["model"])
    return built


def _policy(api: httpx.Client) -> None:
    response = api.put("/api/v1/guardrails/policies/support", json={"route": ROUTE, "input": [{"check": "pii", "action": "redact"}]})
    assert response.status_code in (200, 201), response.text


def _check(answers: dict[str, Any], story: dict[str, Any], api: httpx.Client) -> None:
    model, trace_id = story["model"], story["trace_id"]
    assert set(answers) == KEYS
    assert answers["trace_id"] == trace_id
    stored = api.get(f"/api/v1/traces/{trace_id}").json()
    # the answer: the root span's output, the fake upstream's echo of the redacted rendered prompt
    assert answers["answer"] == "echo: Version 3: answer How do I reset my password? My email is <EMAIL>."
    # 1. prompt version used, and what is live on the route
    p = answers["prompt_version"]
    assert p["prompt"] == "support-answer@3" and (p["route"], p["environment"], p["arm"]) == (ROUTE, ENV, "candidate")
    assert p["live"]["stable"] == "support-answer@1" and p["live"]["candidate"] == "support-answer@3"
    assert p["live"]["candidate_share"] == 100
    # 2. model asked for vs served, deployment, parameters of the release config at that revision
    m = answers["model"]
    assert m["asked"] == model and m["served"] == model and m["provider"] == "openai"
    assert m["deployment"] and m["parameters"]["temperature"] == 0.2 and m["attempts"] == 1
    # 3. context: the rendered (redacted) prompt, the retrieved chunks, the tool result
    c = answers["context"]
    assert c["rendered_messages"][0]["role"] == "user" and "<EMAIL>" in c["rendered_messages"][0]["content"]
    assert [(x["chunk_id"], x["source"], x["score"]) for x in c["retrieved_chunks"]] == [
        ("chunk-pw-1", "help/password-reset.md", 0.91), ("chunk-pw-2", "help/links.md", 0.52)]  # fmt: skip
    assert c["tool_results"][0]["name"] == "lookup_account" and c["tool_results"][0]["output"] == {"plan": "pro", "locked": False}
    # 4. failure: nothing failed, but the input guardrail redacted PII
    f = answers["failure"]
    assert f["failed"] is False and f["changed_by_guardrails"] is True
    decision = next(d for d in f["guardrail_decisions"] if d["check"] == "pii")
    assert decision["action"] == "redact" and decision["triggered"] is True and decision["direction"] == "input"
    assert "guardrail input pii -> redact" in f["summary"]
    # 5. eval delta: the runs of @1 and @3, per scorer, with significance
    e = answers["eval_delta"]
    assert e["compared"] is True and e["stable"] == "support-answer@1" and e["candidate"] == "support-answer@3"
    assert {e["runs"]["stable"]["id"], e["runs"]["candidate"]["id"]} == set(story["runs"].values())
    s = e["scorers"]["contains"]
    assert s["stable_mean"] == 0.0 and s["candidate_mean"] == 1.0 and s["mean_delta"] == 1.0
    assert s["paired_cases"] == 8 and s["significant"] is True and s["mcnemar_p"] < 0.05
    # 6. cost: the stored total, per step and per model
    cost = answers["cost_usd"]
    call = cost["per_model"][model]  # the gateway call's cost, stored on its span and repeated on the "answer" step
    assert call > 0 and cost["per_model"]["intent-classifier"] == pytest.approx(0.00002)
    assert cost["stored_trace_cost"] == pytest.approx(stored["trace"]["cost"]) == pytest.approx(0.00002 + 2 * call)
    assert cost["total"] == pytest.approx(0.00002 + call) and "count them twice" in cost["note"]
    steps = {x["name"]: x["cost_usd"] for x in cost["per_step"]}
    assert steps["classify"] == pytest.approx(0.00002) and steps["answer"] == pytest.approx(cost["per_model"][model])
    # 7. slowest step: the span with the largest self time in the stored tree
    slow = answers["slowest_step"]
    top = max(stored["spans"], key=lambda x: x["self_time_ms"])
    assert slow["span_id"] == top["span_id"] and slow["self_time_ms"] == pytest.approx(top["self_time_ms"], abs=1e-3)
    assert 0 <= slow["share_of_trace"] <= 1
    # 8. rollback: dropping the canary returns to @1; the last rollback (v2 -> v1) took effect
    r = answers["rollback"]
    assert r["can_roll_back"] is True and r["kind"] == "candidate" and r["to_prompt"] == "support-answer@1"
    last = r["last_rollback"]
    assert (last["from"], last["to"], last["reason"]) == ("support-answer@2", "support-answer@1", "v2 answers worse")
    assert last["took_effect_s"] == 0.0 and last["effect"]["old_config_requests_since"] == 0


def test_every_answer_is_read_back_from_storage(app, api, story) -> None:
    from stackwright.insights.service import explain

    with app.state.db.read() as session:
        answers = explain(session, story["project_id"], story["trace_id"])
    _check(answers, story, api)
    # the API answers the same, scoped to the key's project
    _check(ok(api.get(f"/api/v1/traces/{story['trace_id']}/explain")), story, api)


def test_explain_of_another_projects_trace_is_not_found(app, api, story, other, client_for) -> None:  # noqa: F811
    their = client_for(other.key)
    assert_error(their.get(f"/api/v1/traces/{story['trace_id']}/explain"), 404, "not_found")
    assert_error(api.get(f"/api/v1/traces/{uuid.uuid4().hex}/explain"), 404, "not_found")
    assert_error(api.get("/api/v1/traces/not-a-trace/explain"), 404, "not_found")


@pytest.mark.parametrize("command", [["traces", "explain"], ["demo", "explain"]], ids=["traces", "demo-alias"])
def test_cli_explain_prints_the_eight_answers(app, api, story, settings, command) -> None:
    from typer.testing import CliRunner

    from stackwright.cli.main import app as cli

    env = {"STACKWRIGHT_HOME": str(settings.home), "STACKWRIGHT_DATABASE_URL": settings.database_url}
    result = CliRunner().invoke(cli, [*command, story["trace_id"], "--json"], env=env)
    assert result.exit_code == 0, result.output
    _check(json.loads(result.stdout), story, api)
    result = CliRunner().invoke(cli, [*command, story["trace_id"]], env=env)
    assert result.exit_code == 0, result.output
    for number in range(1, 9):
        assert f"\n{number}. " in result.stdout
    assert "support-answer@3" in result.stdout and "chunk-pw-1" in result.stdout
    missing = CliRunner().invoke(cli, [*command, uuid.uuid4().hex], env=env)
    assert missing.exit_code == 1 and "No trace" in missing.stderr


def test_a_flow_without_release_or_model_call(app, api, default) -> None:  # noqa: F811
    """Workflow steps only (no model call, no route): retries, a fallback and per-step costs are read back; the
    answers about prompts, models, evals and rollback say what the store does not hold."""
    import asyncio

    from stackwright.flows import current_step, sequence, step
    from stackwright.insights.service import explain
    from stackwright.sdk.observe.otlp import OTLPHttpExporter
    from stackwright.sdk.transport import InProcessTransport

    exporter = OTLPHttpExporter("http://stackwright.test/v1/traces", TEST_API_KEY)
    exporter._client = httpx.Client(transport=InProcessTransport(app), timeout=30)
    configure_tracing(exporter=exporter, schedule_delay=0.05)

    @step(name="fetch", retries=1, backoff_s=0.001)
    async def fetch(question: str) -> str:
        current_step().add_cost(0.002, tokens=10)
        if current_step().attempt == 1:
            raise ConnectionError("index warming up")
        return question

    @step(name="enrich", fallback="(no enrichment)")
    def enrich(text: str) -> str:
        current_step().add_cost(0.001, tokens=5)
        raise ValueError("enricher down")

    async def main() -> tuple[str, str]:
        with observe("job") as root:
            result = await sequence(fetch, enrich, name="flow")("q")
            root.set_output(result)
            return result, root.trace_id_hex

    result, trace_id = asyncio.run(main())
    assert result == "(no enrichment)"
    assert flush(10) is True
    wait_trace(api, trace_id, spans=4)
    with app.state.db.read() as session:
        answers = explain(session, default.project_id, trace_id)
    assert set(answers) == KEYS and answers["answer"] == "(no enrichment)"
    assert answers["prompt_version"]["prompt"] is None and "no model call" in answers["prompt_version"]["explanation"]
    assert "no model call" in answers["model"]["explanation"]
    f = answers["failure"]
    assert [(r["name"], r["attempts"]) for r in f["retries"]] == [("fetch", 2)] and "index warming up" in f["retries"][0]["last_error"]
    assert [x["name"] for x in f["fallbacks"]] == ["enrich"] and "enricher down" in f["fallbacks"][0]["reason"]
    assert "fetch took 2 attempts" in f["summary"] and "enrich fell back" in f["summary"]
    steps = {x["name"]: x["cost_usd"] for x in answers["cost_usd"]["per_step"]}
    assert steps == {"fetch": pytest.approx(0.004), "enrich": pytest.approx(0.001)}  # both attempts of fetch cost
    assert answers["cost_usd"]["total"] == pytest.approx(0.005) and answers["cost_usd"]["per_model"] == {}
    assert answers["eval_delta"]["compared"] is False and "no release route" in answers["eval_delta"]["explanation"]
    assert answers["rollback"]["can_roll_back"] is False and "no release route" in answers["rollback"]["explanation"]
    assert answers["slowest_step"]["name"] in ("job", "flow", "fetch", "enrich")


def test_eval_delta_from_one_run_over_the_route_splits_its_cases_by_arm(app, api, default, fake_upstream, tmp_path) -> None:  # noqa: F811
    """No run per prompt version, but a run over the release route with a 50 % canary: its cases are split by
    the prompt version that answered each (read from their traces), compared unpaired."""
    from stackwright.insights.service import explain

    built = build(app, api, default.project_id, fake_upstream, tmp_path)
    ok(api.post(f"/api/v1/releases/{ROUTE}/canary", json={"env": ENV, "prompt": "support-answer@3", "share": 50}))
    run_id = _run_specs(app, api, fake_upstream, tmp_path, {"route": {"route": f"{ROUTE}@{ENV}"}}, cases=24)["route"]
    with app.state.db.read() as session:
        delta = explain(session, default.project_id, built["trace_id"])["eval_delta"]
    assert delta["compared"] is True and delta["paired"] is False and delta["run"]["id"] == run_id
    s = delta["scorers"]["contains"]
    assert s["stable_cases"] + s["candidate_cases"] == 24 and s["stable_cases"] > 0 and s["candidate_cases"] > 0
    assert (s["stable_mean"], s["candidate_mean"], s["mean_delta"]) == (0.0, 1.0, 1.0)
    assert s["significant"] is True and s["mannwhitney_p"] < 0.05
    assert delta["verdict"] == "improved: contains"
