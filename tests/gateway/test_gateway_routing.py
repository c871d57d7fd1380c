"""Retries, fallbacks, cooldown, weighted and tag routing, rules and the cache, against the fake
upstream's scripted faults; every attempt shows up in the trace."""

from __future__ import annotations

import collections

import openai
import pytest

from tests.e2e.serverproc import closed_port
from tests.gateway.helpers import apply, chat, fake_model, openai_client, unique, wait_trace


@pytest.fixture
def client(app):
    sdk = openai_client(app)
    yield sdk
    sdk.close()


def _attempts(api, raw) -> list[dict]:
    trace = wait_trace(api, raw.headers["x-stackwright-trace-id"], spans=1 + int(raw.headers["x-stackwright-attempts"]))
    return trace["spans"][1:]


@pytest.mark.parametrize(
    "fault",
    [{"status": 500}, {"status": 503}, {"malformed": True}, {"close": True}, {"status": 429, "retry_after": 0}],
    ids=["500", "503", "malformed-json", "dropped-connection", "429"],
)
def test_a_retryable_fault_is_retried_on_the_same_model(api, client, fake_upstream, fault):
    model = unique()
    apply(api, fake_model(fake_upstream.base_url, model, retries=2))
    fake_upstream.script(model, [fault, "ok"])
    raw = chat(client, model, "retry me")
    assert raw.parse().choices[0].message.content == "echo: retry me"
    assert raw.headers["x-stackwright-attempts"] == "2"
    first, second = _attempts(api, raw)
    assert first["status"] == "error" and second["status"] == "ok"


def test_retry_after_is_honoured_and_long_waits_fall_back(api, client, fake_upstream):
    model, backup = unique(), unique("backup")
    apply(api, fake_model(fake_upstream.base_url, model, retries=2, fallbacks=[backup]), fake_model(fake_upstream.base_url, backup))
    fake_upstream.script(model, [{"status": 429, "retry_after": 1}, "ok"])
    raw = chat(client, model, "wait for me")
    assert raw.headers["x-stackwright-model"] == model
    first, second = _attempts(api, raw)
    assert second["start_ns"] - first["end_ns"] >= 0.9e9  # waited the Retry-After second (ordering, not speed)
    # Retry-After beyond max_backoff_s: falling back beats waiting.
    fake_upstream.script(model, [{"status": 429, "retry_after": 120}])
    raw = chat(client, model, "do not wait")
    assert raw.headers["x-stackwright-model"] == backup and raw.headers["x-stackwright-attempts"] == "2"


@pytest.mark.parametrize(
    "steps",
    [[{"status": 500}] * 3, [{"delay_s": 3}] * 3, [{"status": 400, "context_length": True}], [{"status": 401}]],
    ids=["500s", "timeouts", "context-length", "auth"],
)
def test_faults_fall_back_in_order(api, client, fake_upstream, steps):
    model, second, third = unique(), unique("second"), unique("third")
    apply(
        api,
        fake_model(fake_upstream.base_url, model, retries=2, fallbacks=[second, third], timeout_s=0.5),
        fake_model(fake_upstream.base_url, second, retries=0),
        fake_model(fake_upstream.base_url, third),
    )
    fake_upstream.script(second, [{"status": 502}])
    fake_upstream.script(model, steps)
    raw = chat(client, model, "fall back")
    assert raw.headers["x-stackwright-model"] == third
    attempts = _attempts(api, raw)
    tried = [a["name"].split(" ", 2)[2].rsplit("/", 1)[0] for a in attempts]
    assert tried == [model] * len(steps) + [second, third]
    assert all(a["status"] == "error" for a in attempts[:-1]) and attempts[-1]["status"] == "ok"
    root = api.get(f"/api/v1/traces/{raw.headers['x-stackwright-trace-id']}/spans/{wait_trace(api, raw.headers['x-stackwright-trace-id'])['spans'][0]['span_id']}").json()
    assert root["attributes"]["stackwright.gateway.fallbacks"] == f'["{second}","{third}"]'


def test_connection_refused_falls_back_to_the_local_model(api, client):
    model = unique()
    dead = {"name": model, "deployments": [{"provider": "openai", "base_url": f"http://127.0.0.1:{closed_port()}/v1", "model": "x"}],
            "retries": 1, "fallbacks": ["local/extractive"]}  # fmt: skip
    apply(api, dead)
    context = "Context:\n[1] Refunds are possible within 30 days of purchase.\n\nQuestion: How long do I have for a refund?"
    raw = chat(client, model, context)
    assert raw.headers["x-stackwright-model"] == "local/extractive" and raw.headers["x-stackwright-attempts"] == "3"
    assert "30 days" in raw.parse().choices[0].message.content
    assert raw.headers["x-stackwright-cost-usd"] == "0.00000000"


def test_client_errors_are_not_retried_and_exhaustion_is_reported(api, client, fake_upstream):
    model = unique()
    apply(api, fake_model(fake_upstream.base_url, model, retries=2, failures_to_cooldown=10))  # no cooldown in between
    fake_upstream.script(model, [{"status": 400, "message": "temperature is out of range"}])
    with pytest.raises(openai.BadRequestError) as bad:
        chat(client, model)
    assert "temperature is out of range" in bad.value.message
    assert len(fake_upstream.requests()) == 1
    fake_upstream.script(model, [{"status": 500}] * 3)
    with pytest.raises(openai.APIStatusError) as failed:
        chat(client, model)
    assert failed.value.status_code == 502 and "3 attempt(s) failed" in failed.value.message
    fake_upstream.script(model, [{"status": 429, "retry_after": 300}])
    with pytest.raises(openai.RateLimitError) as limited:
        chat(client, model)
    assert limited.value.response.headers["retry-after"] == "300"


def test_a_stream_cut_midway_reaches_the_client_as_an_error(api, client, fake_upstream):
    model = unique()
    apply(api, fake_model(fake_upstream.base_url, model))
    fake_upstream.script(model, [{"cut_after_chunks": 2}])
    stream = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "a long answer here"}], stream=True)
    with pytest.raises(openai.APIError) as cut:
        list(stream)
    assert "stream" in cut.value.message.lower()
    fake_upstream.script(model, [{"status": 500}, "ok"])  # before the first chunk a stream is still retried
    chunks = list(client.chat.completions.create(model=model, messages=[{"role": "user", "content": "retried"}], stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: retried"


def test_a_failing_deployment_cools_down(api, client, fake_upstream):
    model, healthy = unique(), unique("healthy")
    spec = fake_model(fake_upstream.base_url, model, retries=0, failures_to_cooldown=2, cooldown_s=600, fallbacks=[healthy])
    apply(api, spec, fake_model(fake_upstream.base_url, healthy))
    fake_upstream.script(model, [{"status": 500}] * 2)
    for _ in range(2):
        assert chat(client, model).headers["x-stackwright-model"] == healthy
    before = len([r for r in fake_upstream.requests() if r["body"]["model"] == model])
    raw = chat(client, model)  # the broken deployment is skipped without being called
    assert raw.headers["x-stackwright-model"] == healthy and raw.headers["x-stackwright-attempts"] == "1"
    assert len([r for r in fake_upstream.requests() if r["body"]["model"] == model]) == before


def test_weighted_tag_and_rule_routing(api, client, fake_upstream):
    model, cheap = unique(), unique("cheap")
    weighted = {
        "name": model,
        "deployments": [
            {"provider": "openai", "base_url": fake_upstream.base_url, "model": "heavy", "weight": 3},
            {"provider": "openai", "base_url": fake_upstream.base_url, "model": "light", "weight": 1, "tags": ["eu"]},
        ],
        "rules": [{"when": {"tier": "free"}, "use": cheap}],
    }
    apply(api, weighted, fake_model(fake_upstream.base_url, cheap))
    for _ in range(200):
        chat(client, model)
    counts = collections.Counter(r["body"]["model"] for r in fake_upstream.requests())
    assert 110 <= counts["heavy"] <= 190 and counts["heavy"] + counts["light"] == 200  # 150 expected
    fake_upstream.reset()
    for _ in range(5):
        chat(client, model, extra_headers={"x-stackwright-tags": "eu"})
    assert {r["body"]["model"] for r in fake_upstream.requests()} == {"light"}
    raw = chat(client, model, metadata={"tier": "free"})
    assert raw.headers["x-stackwright-model"] == cheap and "metadata" not in fake_upstream.requests()[-1]["body"]


def test_deterministic_requests_are_cached(api, client, fake_upstream):
    model = unique()
    apply(api, fake_model(fake_upstream.base_url, model))
    first = chat(client, model, "cache me", temperature=0)
    second = chat(client, model, "cache me", temperature=0)
    assert first.headers["x-stackwright-cache"] == "miss" and second.headers["x-stackwright-cache"] == "hit"
    assert second.parse().choices[0].message.content == "echo: cache me"
    assert second.headers["x-stackwright-cost-usd"] == "0.00000000"
    assert len(fake_upstream.requests()) == 1
    stream = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "cache me"}], temperature=0, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "echo: cache me"
    assert len(fake_upstream.requests()) == 1
    opted_out = chat(client, model, "cache me", temperature=0, extra_headers={"x-stackwright-cache": "off"})
    assert opted_out.headers["x-stackwright-cache"] == "skip" and len(fake_upstream.requests()) == 2
    assert chat(client, model, "not deterministic").headers["x-stackwright-cache"] == "skip"
    hit = wait_trace(api, second.headers["x-stackwright-trace-id"])
    span = api.get(f"/api/v1/traces/{hit['trace']['trace_id']}/spans/{hit['spans'][0]['span_id']}").json()
    assert span["attributes"]["stackwright.gateway.cache"] == "hit"
    metrics = api.get("/metrics").text
    assert 'stackwright_gateway_cache_total{result="hit"} 2.0' in metrics


def test_streamed_answers_fill_the_cache(api, client, fake_upstream):
    model = unique()
    apply(api, fake_model(fake_upstream.base_url, model), cache={"mode": "always", "ttl_s": 60})
    list(client.chat.completions.create(model=model, messages=[{"role": "user", "content": "streamed"}], stream=True))
    assert chat(client, model, "streamed").headers["x-stackwright-cache"] == "hit"
    assert len(fake_upstream.requests()) == 1


def test_the_local_model_is_free_unless_the_project_prices_it(api, client):
    """A project may price its local compute with a price override; without one a local call costs 0."""
    context = "Context:\n[1] Refunds are possible within 30 days of purchase.\n\nQuestion: How long do I have for a refund?"
    before = api.get("/api/v1/traces/settings").json()["prices"]
    priced = {**before, "local/extractive": {"input_per_mtok": 1000.0, "output_per_mtok": 2000.0}}
    assert api.put("/api/v1/traces/settings", json={"prices": priced}).status_code == 200
    try:
        raw = chat(client, "local/extractive", context)
        usage = raw.parse().usage
        expected = usage.prompt_tokens * 1000.0 / 1e6 + usage.completion_tokens * 2000.0 / 1e6
        assert expected > 0 and float(raw.headers["x-stackwright-cost-usd"]) == pytest.approx(expected, abs=1e-8)
    finally:
        assert api.put("/api/v1/traces/settings", json={"prices": before}).status_code == 200
    again = chat(client, "local/extractive", context + " ")
    assert again.headers["x-stackwright-cost-usd"] == "0.00000000"
