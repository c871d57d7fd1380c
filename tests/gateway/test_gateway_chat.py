"""The OpenAI-compatible endpoint with the official `openai` SDK: answers, streaming, tools, traces,
cost headers and OpenAI-style errors for bad requests."""

from __future__ import annotations

import json

import openai
import pytest

from tests.auth.conftest import client_for, default, make_key  # noqa: F401  (fixtures)
from tests.gateway.helpers import apply, chat, fake_model, openai_client, unique, wait_trace


@pytest.fixture
def client(app):
    sdk = openai_client(app)
    yield sdk
    sdk.close()


def test_chat_is_answered_traced_and_priced(api, client, fake_upstream):
    model = unique()
    apply(api, fake_model(fake_upstream.base_url, "gpt-4o-mini", name=model))
    raw = chat(client, model, "what is the refund window", user="user-7", temperature=0.2, max_tokens=64)
    completion = raw.parse()
    assert completion.choices[0].message.content == "echo: what is the refund window"
    assert completion.usage.prompt_tokens == 5 and completion.usage.completion_tokens == 6
    headers = raw.headers
    assert headers["x-stackwright-model"] == model and headers["x-stackwright-deployment"] == f"{model}/0"
    assert headers["x-stackwright-attempts"] == "1" and headers["x-stackwright-cache"] == "skip"
    cost = float(headers["x-stackwright-cost-usd"])
    assert cost == pytest.approx(5 * 0.15e-6 + 6 * 0.6e-6, rel=1e-6)  # gpt-4o-mini list price via genai-prices
    sent = fake_upstream.requests()[-1]
    assert sent["body"]["model"] == "gpt-4o-mini" and sent["body"]["user"] == "user-7"
    trace = wait_trace(api, headers["x-stackwright-trace-id"], spans=2)
    root = trace["spans"][0]
    assert root["name"] == f"gateway chat {model}" and root["status"] == "ok"
    assert root["input_tokens"] == 5 and root["output_tokens"] == 6 and root["cost"] == pytest.approx(cost)
    assert trace["spans"][1]["name"] == f"attempt 1 {model}/0"
    span = api.get(f"/api/v1/traces/{trace['trace']['trace_id']}/spans/{root['span_id']}").json()
    assert span["user_id"] == "user-7" and "refund window" in span["input"] and span["output"].startswith("echo:")
    assert span["attributes"]["gen_ai.request.model"] == model and span["attributes"]["stackwright.gateway.deployment"] == f"{model}/0"
    assert json.loads(span["attributes"]["llm.invocation_parameters"]) == {"temperature": 0.2, "max_tokens": 64}  # what replay sends again


def test_streaming_relays_chunks_and_usage(api, client, fake_upstream):
    model = unique()
    apply(api, fake_model(fake_upstream.base_url, model))
    stream = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "stream me please"}], stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: stream me please"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 4
    assert fake_upstream.requests()[-1]["body"]["stream_options"] == {"include_usage": True}
    # Without include_usage the client gets no usage chunk, though the gateway asked upstream for one.
    plain = list(client.chat.completions.create(model=model, messages=[{"role": "user", "content": "again"}], stream=True))
    assert all(c.usage is None for c in plain) and fake_upstream.requests()[-1]["body"]["stream_options"]["include_usage"]


def test_tools_and_response_format_pass_through(api, client, fake_upstream):
    model = unique()
    apply(api, fake_model(fake_upstream.base_url, model))
    tools = [{"type": "function", "function": {"name": "lookup_order", "parameters": {"type": "object", "properties": {}}}}]
    completion = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "order 42"}], tools=tools,
        tool_choice={"type": "function", "function": {"name": "lookup_order"}},
    )  # fmt: skip
    call = completion.choices[0].message.tool_calls[0]
    assert call.function.name == "lookup_order" and completion.choices[0].finish_reason == "tool_calls"
    assert fake_upstream.requests()[-1]["body"]["tools"] == tools
    formatted = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "json please"}], response_format={"type": "json_object"}
    )
    assert formatted.choices[0].message.content == '{"echo":"json please"}'


def test_async_sdk(api, app, fake_upstream):
    import asyncio

    model = unique()
    apply(api, fake_model(fake_upstream.base_url, model))
    asyncio.run(_async_calls(app, model))


async def _async_calls(app, model: str) -> None:
    import httpx

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://stackwright.test") as http:
        from tests.conftest import TEST_API_KEY

        sdk = openai.AsyncOpenAI(base_url="http://stackwright.test/v1", api_key=TEST_API_KEY, http_client=http, max_retries=0)
        completion = await sdk.chat.completions.create(model=model, messages=[{"role": "user", "content": "async hi"}])
        assert completion.choices[0].message.content == "echo: async hi"
        stream = await sdk.chat.completions.create(model=model, messages=[{"role": "user", "content": "async stream"}], stream=True)
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        assert text == "echo: async stream"
    await app.state.gateway.tracer.drain()


def test_bad_requests_get_openai_style_errors(api, client, app, client_for, make_key, fake_upstream):  # noqa: F811
    model = unique()
    apply(api, fake_model(fake_upstream.base_url, model))
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    assert "no-such-model" in missing.value.message and missing.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as empty:
        client.chat.completions.create(model=model, messages=[])
    assert "messages" in empty.value.message
    raw = client_for(None)
    for body, needle in [
        (b"{not json", "not valid JSON"),
        (b'["a list"]', "JSON object"),
        (b'{"messages": [{"role": "user", "content": "x"}]}', "model"),
        (b'{"model": "' + model.encode() + b'", "messages": [{"role": "robot", "content": "x"}]}', "role"),
        (b'{"model": "' + model.encode() + b'", "messages": [{"role": "user", "content": 5}]}', "content"),
        (b'{"model": "' + model.encode() + b'", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"}', "temperature"),
        (b'{"model": "' + model.encode() + b'", "messages": [{"role": "user", "content": "x"}], "max_tokens": 0}', "max_tokens"),
        (b'{"model": "' + model.encode() + b'", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}', "stream"),
    ]:
        from tests.conftest import TEST_API_KEY

        response = raw.post("/v1/chat/completions", content=body, headers={"authorization": f"Bearer {TEST_API_KEY}"})
        assert response.status_code == 400, (body, response.text)
        error = response.json()["error"]
        assert needle in error["message"] and error["type"] == "invalid_request_error", (needle, error)
    assert len(fake_upstream.requests()) == 0
    with pytest.raises(openai.AuthenticationError):
        openai_client(app, api_key="sw-wrong-key-000000000000000000").chat.completions.create(
            model=model, messages=[{"role": "user", "content": "x"}]
        )
    _, read_key = make_key(["read"])
    reader = openai_client(app, api_key=read_key)
    with pytest.raises(openai.PermissionDeniedError):
        reader.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])
    assert model in {m.id for m in reader.models.list()}


def test_traceparent_joins_the_callers_trace(api, client, fake_upstream):
    model = unique()
    apply(api, fake_model(fake_upstream.base_url, model))
    trace_id, parent = "ab" * 16, "cd" * 8
    raw = chat(client, model, extra_headers={"traceparent": f"00-{trace_id}-{parent}-01"})
    assert raw.headers["x-stackwright-trace-id"] == trace_id
    trace = wait_trace(api, trace_id, spans=2)
    assert trace["spans"][0]["parent_span_id"] == parent
