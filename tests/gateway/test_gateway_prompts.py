"""`"model": "prompt:name@label"`: the gateway renders a stored prompt and calls the model it names."""

from __future__ import annotations

import openai
import pytest

from tests.gateway.helpers import apply, fake_model, openai_client, unique, wait_trace


@pytest.fixture
def client(app):
    sdk = openai_client(app)
    yield sdk
    sdk.close()


def _push(api, name: str, model: str, labels: list[str]) -> int:
    prompt = {
        "name": name,
        "type": "chat",
        "messages": [{"role": "system", "content": "You help with {{ product }}."},
                     {"role": "user", "content": "Question: {{ question }}"}],  # fmt: skip
        "model": {"name": model, "temperature": 0.3},
        "labels": labels,
    }
    response = api.post("/api/v1/prompts", json=prompt)
    assert response.status_code in (200, 201), response.text
    return response.json()["version"]


def test_a_stored_prompt_is_rendered_and_sent_to_its_model(api, client, fake_upstream):
    model, name = unique(), unique("support")
    apply(api, fake_model(fake_upstream.base_url, model))
    version = _push(api, name, model, ["production"])
    raw = client.chat.completions.with_raw_response.create(
        model=f"prompt:{name}@production", messages=[], extra_body={"variables": {"product": "Acme", "question": "refunds?"}}
    )
    assert raw.parse().choices[0].message.content == "echo: Question: refunds?"
    sent = fake_upstream.requests()[-1]["body"]
    assert sent["model"] == model and sent["temperature"] == 0.3 and "variables" not in sent
    assert sent["messages"][0] == {"role": "system", "content": "You help with Acme."}
    trace = wait_trace(api, raw.headers["x-stackwright-trace-id"])
    span = api.get(f"/api/v1/traces/{trace['trace']['trace_id']}/spans/{trace['spans'][0]['span_id']}").json()
    assert span["prompt_name"] == name and span["prompt_version"] == str(version)


def test_prompt_errors_are_clear(api, client, fake_upstream):
    model, name = unique(), unique("support")
    apply(api, fake_model(fake_upstream.base_url, model))
    _push(api, name, model, [])
    with pytest.raises(openai.BadRequestError) as missing:
        client.chat.completions.create(model=f"prompt:{name}", messages=[], extra_body={"variables": {"product": "Acme"}})
    assert "question" in missing.value.message
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="prompt:no-such-prompt@production", messages=[], extra_body={"variables": {}})
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=f"prompt:{name}", messages=[], extra_body={"variables": "nope"})
    assert fake_upstream.requests() == []


def _release(api, route: str, body: dict, action: str = "set") -> dict:
    response = api.post(f"/api/v1/releases/{route}/{action}", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def _traces_of_route(api, route: str, count: int, timeout_s: float = 15.0) -> list[dict]:
    import time

    deadline = time.monotonic() + timeout_s
    while True:
        items = api.get("/api/v1/traces", params={"route": route, "limit": 50}).json()["data"]
        if len(items) >= count or time.monotonic() > deadline:
            return items
        time.sleep(0.05)


def test_a_release_route_serves_its_config_and_a_shadow_is_traced_never_returned(api, client, fake_upstream):
    stable_model, shadow_model, name = unique("stable"), unique("shadow"), unique("answer")
    apply(api, fake_model(fake_upstream.base_url, stable_model), fake_model(fake_upstream.base_url, shadow_model))
    _push(api, name, stable_model, [])
    route = unique("support.route")
    _release(api, route, {"env": "production", "prompt": f"{name}@1", "model": stable_model})
    _release(api, route, {"env": "production", "prompt": f"{name}@1", "model": shadow_model, "share": 100, "mode": "shadow"}, "canary")
    variables = {"product": "Acme", "question": "where is my order?"}
    raw = client.chat.completions.with_raw_response.create(
        model=f"route:{route}@production", messages=[], user="user-1", extra_body={"variables": variables}
    )
    assert raw.headers["x-stackwright-model"] == stable_model  # the caller gets stable's answer
    assert raw.parse().choices[0].message.content == "echo: Question: where is my order?"
    traces = _traces_of_route(api, route, 2)
    arms = {}
    for item in traces:
        trace = wait_trace(api, item["trace_id"])
        span = api.get(f"/api/v1/traces/{item['trace_id']}/spans/{trace['spans'][0]['span_id']}").json()
        arms[span["release_arm"]] = span
    assert set(arms) == {"stable", "shadow"}
    assert arms["shadow"]["model"] == shadow_model and arms["shadow"]["output"].startswith("echo:")
    assert {r["body"]["model"] for r in fake_upstream.requests()} == {stable_model, shadow_model}


def test_route_errors_are_clear(api, client):
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="route:no-env", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="route:ghost.route@production", messages=[{"role": "user", "content": "x"}])


def test_a_template_over_the_render_limits_answers_400_before_any_model_call(api, client, fake_upstream):
    model, name = unique(), unique("loops")
    apply(api, fake_model(fake_upstream.base_url, model))
    prompt = {"name": name, "type": "chat", "model": {"name": model},
              "messages": [{"role": "user", "content": "{% for i in range(n) %}{% for j in range(n) %}{{ i }}{% endfor %}{% endfor %}"}]}  # fmt: skip
    assert api.post("/api/v1/prompts", json=prompt).status_code in (200, 201)
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model=f"prompt:{name}", messages=[], extra_body={"variables": {"n": 100000}})
    error = bad.value.response.json()["error"]
    assert error["code"] == "prompt_render_limit" and "STACKWRIGHT_PROMPT_RENDER_MAX_ITERATIONS" in error["message"]
    assert fake_upstream.requests() == []
