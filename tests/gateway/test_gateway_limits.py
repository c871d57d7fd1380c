"""Budgets and rate limits as a client of the gateway sees them: 429 with a message naming the limit."""

from __future__ import annotations

import openai
import pytest

from tests.gateway.helpers import apply, chat, fake_model, openai_client, unique, within_one_minute


@pytest.fixture
def client(app):
    sdk = openai_client(app)
    yield sdk
    sdk.close()


def _admin_key_id(api) -> str:
    return api.get("/api/v1/me").json()["key"]["id"]


def test_key_rate_limit_refuses_with_429_naming_the_limit(api, client, fake_upstream):
    model = unique()
    apply(api, fake_model(fake_upstream.base_url, model))
    key_id = _admin_key_id(api)
    assert api.put(f"/api/v1/keys/{key_id}/limits", json={"rpm": 2}).status_code == 200
    within_one_minute(10)
    chat(client, model)
    chat(client, model)
    with pytest.raises(openai.RateLimitError) as refused:
        chat(client, model)
    message = refused.value.message
    assert "Rate limit" in message and "2" in message and "resets" in message
    assert 1 <= int(refused.value.response.headers["retry-after"]) <= 60
    assert len(fake_upstream.requests()) == 2  # the refused call never reached the upstream
    usage = api.get(f"/api/v1/keys/{key_id}/usage").json()
    assert "2" in str(usage)


def test_model_limits_come_from_the_gateway_config(api, client, fake_upstream):
    model = unique()
    apply(api, fake_model(fake_upstream.base_url, model, limits={"rpm": 1}))
    within_one_minute(10)
    chat(client, model)
    with pytest.raises(openai.RateLimitError) as refused:
        chat(client, model)
    assert model in refused.value.message
    other = unique()
    apply(api, fake_model(fake_upstream.base_url, model, limits={"rpm": 1}), fake_model(fake_upstream.base_url, other))
    assert chat(client, other).parse().choices[0].message.content.startswith("echo:")  # other models are not limited


def test_a_budget_stops_spending(api, client, fake_upstream):
    model = unique()
    apply(api, fake_model(fake_upstream.base_url, "gpt-4o-mini", name=model))
    api.put("/api/v1/traces/settings", json={"prices": {"gpt-4o-mini": {"input_per_mtok": 1000, "output_per_mtok": 1000}}})
    key_id = _admin_key_id(api)
    assert api.put(f"/api/v1/keys/{key_id}/limits", json={"daily_usd": 0.02}).status_code == 200
    spent, cost = 0.0, 0.0
    with pytest.raises(openai.RateLimitError) as refused:
        for _ in range(100):
            raw = chat(client, model, "spend some money")
            cost = float(raw.headers["x-stackwright-cost-usd"])
            spent += cost
    assert 0.02 - cost <= spent <= 0.02 + cost
    assert "budget" in refused.value.message and refused.value.code == "budget_exceeded"
