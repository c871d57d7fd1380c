"""Steps traced through the real SDK exporter (OTLP/HTTP) into the app in process: the stored trace has
the workflow's spans nested, with attempts and cost; the trace's total cost adds up the steps' costs."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from stackwright.flows import current_step, parallel, sequence, step
from stackwright.sdk.observe import configure_tracing, flush, observe
from tests.conftest import TEST_API_KEY


def test_step_spans_are_stored_nested_with_attributes(app, api) -> None:
    from stackwright.sdk.observe.otlp import OTLPHttpExporter
    from stackwright.sdk.transport import InProcessTransport

    exporter = OTLPHttpExporter("http://stackwright.test/v1/traces", TEST_API_KEY)
    exporter._client = httpx.Client(transport=InProcessTransport(app), timeout=30)
    assert configure_tracing(exporter=exporter, schedule_delay=0.05, service_name="flows-test") is True

    @step(name="retrieve", retries=1, backoff_s=0.001)
    async def retrieve(question: str) -> list[str]:
        if current_step().attempt == 1:
            raise ConnectionError("index warming up")
        return ["doc-1", "doc-2"]

    @step(name="draft")
    def draft(docs: list[str]) -> str:
        current_step().add_cost(0.003, tokens=120)
        return f"answer from {len(docs)} docs"

    @step(name="tone")
    def tone(docs: list[str]) -> str:
        current_step().add_cost(0.001, tokens=30)
        return "friendly"

    flow = sequence(retrieve, parallel(answer=draft, tone=tone), name="support-flow")

    async def main() -> tuple[dict, str]:
        with observe("request", kind="chain") as root:
            return await flow("How do I reset my password?"), root.trace_id_hex

    result, trace_id = asyncio.run(main())
    assert result == {"answer": "answer from 2 docs", "tone": "friendly"}
    assert flush(10) is True
    response = api.get(f"/api/v1/traces/{trace_id}")
    assert response.status_code == 200, response.text
    trace = response.json()
    spans = {s["name"]: s for s in _spans(trace)}
    assert {"request", "support-flow", "retrieve", "draft", "tone"} <= set(spans)
    ids = {name: s["span_id"] for name, s in spans.items()}
    assert spans["support-flow"]["parent_span_id"] == ids["request"]
    assert spans["retrieve"]["parent_span_id"] == ids["support-flow"]
    parallel_span = next(s for s in _spans(trace) if s["name"].startswith("parallel("))
    assert spans["draft"]["parent_span_id"] == parallel_span["span_id"] == spans["tone"]["parent_span_id"]
    assert spans["draft"]["cost"] == pytest.approx(0.003) and spans["tone"]["cost"] == pytest.approx(0.001)
    retrieve = api.get(f"/api/v1/traces/{trace_id}/spans/{ids['retrieve']}").json()
    assert _attr(retrieve, "stackwright.step.attempts") == 2
    assert "index warming up" in _attr(retrieve, "stackwright.step.last_error")
    whole = api.get(f"/api/v1/traces/{trace_id}/spans/{ids['support-flow']}").json()
    assert _attr(whole, "stackwright.step.total_cost") == pytest.approx(0.004)
    configure_tracing(enabled=False)


def _spans(trace: dict) -> list[dict]:
    if "spans" in trace:
        return trace["spans"]
    out, stack = [], list(trace.get("tree") or trace.get("roots") or [])
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(node.get("children") or [])
    return out


def _attr(span: dict, key: str):
    attrs = span.get("attributes") or span.get("span", {}).get("attributes") or {}
    return attrs.get(key)


def test_a_gateway_call_inside_a_step_adds_its_usage(app, api) -> None:
    @step(name="ask-local-model")
    def ask(question: str) -> str:
        response = api.post("/v1/chat/completions", json={
            "model": "local/extractive",
            "messages": [{"role": "user", "content": f"Context: Passwords are reset from the account page.\nQuestion: {question}"}],
        })  # fmt: skip
        assert response.status_code == 200, response.text
        current_step().add_usage(response)
        current_step().add_usage({"usage": {"total_tokens": 5}})  # a JSON body works too
        seen.append((response.json()["usage"]["total_tokens"], current_step().tokens, current_step().cost_usd))
        return response.json()["choices"][0]["message"]["content"]

    seen: list[tuple[int, int, float]] = []
    answer = ask.sync("How do I reset my password?")
    assert "account page" in answer
    ((reported, counted, cost),) = seen
    assert reported > 0 and counted == reported + 5 and cost == 0.0  # the local model is free


def test_a_gateway_call_with_the_steps_trace_headers_nests_under_the_step(app, api) -> None:
    from stackwright.sdk.observe.otlp import OTLPHttpExporter
    from stackwright.sdk.transport import InProcessTransport

    exporter = OTLPHttpExporter("http://stackwright.test/v1/traces", TEST_API_KEY)
    exporter._client = httpx.Client(transport=InProcessTransport(app), timeout=30)
    assert configure_tracing(exporter=exporter, schedule_delay=0.05) is True
    assert current_step().trace_headers() == {}  # outside any span

    @step(name="answer")
    def answer(question: str) -> str:
        headers = current_step().trace_headers()
        response = api.post("/v1/chat/completions", headers=headers, json={
            "model": "local/extractive",
            "messages": [{"role": "user", "content": f"Context: Refunds take 5 days.\nQuestion: {question}"}],
        })  # fmt: skip
        current_step().add_usage(response)
        ids.append(headers["traceparent"].split("-")[1:3])
        return response.json()["choices"][0]["message"]["content"]

    ids: list[list[str]] = []
    answer.sync("How long do refunds take?")
    assert flush(10) is True
    ((trace_id, step_span_id),) = ids
    spans = _spans(api.get(f"/api/v1/traces/{trace_id}").json())
    by_id = {s["span_id"]: s for s in spans}
    assert by_id[step_span_id]["name"] == "answer"
    children = [s for s in spans if s["parent_span_id"] == step_span_id]
    assert children, spans  # the gateway's span sits under the step
    called = sum(s["total_tokens"] or 0 for s in children)
    assert called > 0
    # The gateway's span carries the call's tokens; add_usage counts them in the step's totals only, so the
    # trace adds them up once.
    assert not by_id[step_span_id]["total_tokens"]
    step_body = api.get(f"/api/v1/traces/{trace_id}/spans/{step_span_id}").json()
    assert _attr(step_body, "stackwright.step.total_tokens") == called
    assert api.get(f"/api/v1/traces/{trace_id}").json()["trace"]["total_tokens"] == called
