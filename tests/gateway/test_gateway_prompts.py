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
