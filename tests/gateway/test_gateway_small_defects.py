"""Issue 13's smaller gateway defects: a lone deployment cools down, unknown routing tags are the client's
mistake (400), and YAML's boolean ``off`` means cache mode off. Against the fake upstream over HTTP."""

from __future__ import annotations

import openai
import pytest
import yaml

from stackwright.gateway.config import GatewaySpec
from tests.conftest import assert_error
from tests.gateway.helpers import apply, chat, fake_model, openai_client, unique


@pytest.fixture
def client(app):
    sdk = openai_client(app)
    yield sdk
    sdk.close()


def test_a_lone_deployment_without_fallbacks_cools_down(api, client, fake_upstream):
    model = unique()
    apply(api, fake_model(fake_upstream.base_url, model, retries=1, failures_to_cooldown=3, cooldown_s=600))
    fake_upstream.script(model, [{"status": 500}] * 20)
    statuses = []
    for _ in range(5):
        with pytest.raises(openai.APIStatusError) as failed:
            chat(client, model)
        statuses.append(failed.value.status_code)
    calls = [r for r in fake_upstream.requests() if r["body"]["model"] == model]
    assert len(calls) == 3, statuses  # 2 attempts, then the third failure starts the cooldown
    assert statuses == [502, 502, 503, 503, 503]
    cooling = failed.value.response
    assert cooling.json()["error"]["code"] == "no_deployment_available"
    assert 1 <= int(cooling.headers["retry-after"]) <= 600
    assert "cooling down" in cooling.json()["error"]["message"]


def test_unknown_tags_answer_400_naming_them_and_the_known_ones(api, client, fake_upstream):
    model = unique()
    tagged = {"name": model, "deployments": [
        {"provider": "openai", "base_url": fake_upstream.base_url, "model": "eu-model", "tags": ["eu"]},
        {"provider": "openai", "base_url": fake_upstream.base_url, "model": "us-model", "tags": ["us", "fast"]},
    ]}  # fmt: skip
    apply(api, tagged)
    with pytest.raises(openai.BadRequestError) as bad:
        chat(client, model, extra_headers={"x-stackwright-tags": "eu,mars"})
    error = bad.value.response.json()["error"]
    assert error["code"] == "unknown_tags" and "retry-after" not in bad.value.response.headers
    assert error["details"]["unknown"] == ["mars"] and error["details"]["known"] == ["eu", "fast", "us"]
    assert "mars" in error["message"] and "eu, fast, us" in error["message"]
    with pytest.raises(openai.BadRequestError):  # known tags no single deployment carries together
        chat(client, model, extra_headers={"x-stackwright-tags": "eu,us"})
    assert fake_upstream.requests() == []
    assert chat(client, model, extra_headers={"x-stackwright-tags": "fast"}).parse().model  # served by us-model
    tagged["deployments"][0]["tags"] = ["eu", "default"]
    apply(api, tagged)  # a `default` deployment serves requests whose tags match nothing
    chat(client, model, extra_headers={"x-stackwright-tags": "mars"})
    assert [r["body"]["model"] for r in fake_upstream.requests()] == ["us-model", "eu-model"]


def test_yaml_off_means_cache_mode_off(api, fake_upstream):
    text = f"""
cache: {{mode: off}}
models:
  - name: m
    cache: {{mode: off, ttl_s: 60}}
    deployments: [{{provider: openai, model: m, base_url: "{fake_upstream.base_url}"}}]
"""
    raw = yaml.safe_load(text)
    assert raw["cache"]["mode"] is False  # what YAML does with a bare off
    spec = GatewaySpec.model_validate(raw)
    assert spec.cache.mode == "off" and spec.models[0].cache.mode == "off"
    response = api.put("/api/v1/gateway/config", json={"config": raw})
    assert response.status_code == 200, response.text
    error = assert_error(api.put("/api/v1/gateway/config", json={"config": yaml.safe_load("cache: {mode: on}")}), 400)
    assert "boolean true" in error["message"] and "auto" in error["message"], error


@pytest.mark.parametrize(("field", "value"), [("n", 129), ("max_tokens", 10**12), ("max_completion_tokens", 10**8)])
def test_counts_that_size_work_have_a_maximum(api, fake_upstream, field, value):
    model = unique()
    apply(api, fake_model(fake_upstream.base_url, model))
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], field: value}
    response = api.post("/v1/chat/completions", json=body)  # /v1 answers in OpenAI's error shape
    error = response.json()["error"]
    assert response.status_code == 400 and error["code"] == "invalid_request" and error["param"] == field, response.text
    assert f"`{field}` must be an integer from 1 to" in error["message"]
    assert fake_upstream.requests() == []
