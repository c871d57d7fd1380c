"""The openai provider against the fake upstream over real HTTP: pass-through, streaming, fault mapping."""

from __future__ import annotations

import asyncio
import base64
import socket
import struct
from email.utils import formatdate
from time import time
from typing import Any

import orjson
import pytest

from stackwright.gateway.providers.base import (
    AUTH,
    BAD_REQUEST,
    CONNECTION,
    CONTEXT_LENGTH,
    MALFORMED,
    RATE_LIMITED,
    SERVER,
    STREAM_CUT,
    TIMEOUT,
    Deployment,
    ProviderError,
)
from stackwright.gateway.providers.openai import OpenAIProvider
from tests.gateway.fake_upstream import FakeUpstream

SECRET = "sk-test-secret-0123456789"
MODEL = "fake-model"


def deployment(fake: FakeUpstream, **changes: Any) -> Deployment:
    fields: dict[str, Any] = {
        "id": "gpt/0",
        "provider": "openai",
        "model": MODEL,
        "base_url": fake.base_url,
        "api_key": SECRET,
        "timeout_s": 5.0,
    }
    return Deployment(**{**fields, **changes})


def chat_body(text: str = "hello there", **extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": text}], **extra}


def run(scenario: Any) -> Any:
    """Run ``scenario(provider)`` with a fresh provider, closed afterwards."""

    async def main() -> Any:
        provider = OpenAIProvider()
        try:
            return await scenario(provider)
        finally:
            await provider.aclose()

    return asyncio.run(main())


async def collect(provider: OpenAIProvider, dep: Deployment, body: dict[str, Any], into: list | None = None) -> list:
    chunks = [] if into is None else into
    async for chunk in provider.chat_stream(dep, body):
        chunks.append(chunk)
    return chunks


def chat_error(fake: FakeUpstream, steps: list[Any], **changes: Any) -> ProviderError:
    fake.script(MODEL, steps)
    with pytest.raises(ProviderError) as caught:
        run(lambda p: p.chat(deployment(fake, **changes), chat_body()))
    return caught.value


def stream_error(fake: FakeUpstream, steps: list[Any], **changes: Any) -> tuple[ProviderError, list]:
    fake.script(MODEL, steps)
    chunks: list = []
    with pytest.raises(ProviderError) as caught:
        run(lambda p: collect(p, deployment(fake, **changes), chat_body("one two three four"), chunks))
    return caught.value, chunks


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- happy paths ----------------------------------------------------------------------------------------


def test_chat_returns_the_upstream_completion_and_sends_credentials(fake_upstream: FakeUpstream) -> None:
    dep = deployment(fake_upstream, headers={"OpenAI-Organization": "org-1"})
    completion = run(lambda p: p.chat(dep, chat_body("hello there")))
    assert completion["object"] == "chat.completion"
    assert completion["choices"][0]["message"]["content"] == "echo: hello there"
    assert completion["usage"] == {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}
    (request,) = fake_upstream.requests()
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["authorization"] == f"Bearer {SECRET}"
    assert request["headers"]["openai-organization"] == "org-1"


def test_chat_passes_every_client_parameter_through(fake_upstream: FakeUpstream) -> None:
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}]
    extra = {
        "tools": tools,
        "tool_choice": "auto",
        "seed": 7,
        "n": 1,
        "logprobs": True,
        "top_logprobs": 2,
        "user": "u-1",
        "temperature": 0.3,
        "metadata": {"a": "b"},
        "parallel_tool_calls": False,
        "response_format": {"type": "json_object"},
        "stream": False,
        "stream_options": {"include_usage": True},
    }
    body = chat_body(**extra)
    run(lambda p: p.chat(deployment(fake_upstream), body))
    sent = fake_upstream.requests()[0]["body"]
    assert sent == {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
    assert "stream_options" in body  # the caller's dict is not modified


def test_chat_answers_a_forced_tool_call(fake_upstream: FakeUpstream) -> None:
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    body = chat_body("find it", tools=tools, tool_choice={"type": "function", "function": {"name": "lookup"}})
    completion = run(lambda p: p.chat(deployment(fake_upstream), body))
    choice = completion["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    (call,) = choice["message"]["tool_calls"]
    assert call["function"]["name"] == "lookup"
    assert orjson.loads(call["function"]["arguments"]) == {"echo": "find it"}


def test_chat_response_format_reaches_the_upstream(fake_upstream: FakeUpstream) -> None:
    body = chat_body("hi", response_format={"type": "json_schema", "json_schema": {"name": "answer", "schema": {}}})
    completion = run(lambda p: p.chat(deployment(fake_upstream), body))
    assert orjson.loads(completion["choices"][0]["message"]["content"]) == {"echo": "hi", "schema": "answer"}


def test_stream_yields_chunks_and_a_final_usage_chunk(fake_upstream: FakeUpstream) -> None:
    body = chat_body("one two three", stream_options={"include_obfuscation": False})
    chunks = run(lambda p: collect(p, deployment(fake_upstream), body))
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "echo: one two three"
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 4
    sent = fake_upstream.requests()[0]["body"]
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_obfuscation": False, "include_usage": True}
    assert "stream" not in body


def test_stream_usage_can_be_turned_off_for_servers_that_reject_stream_options(fake_upstream: FakeUpstream) -> None:
    dep = deployment(fake_upstream, options={"stream_usage": False})
    chunks = run(lambda p: collect(p, dep, chat_body()))
    assert "stream_options" not in fake_upstream.requests()[0]["body"]
    assert all(not c.get("usage") for c in chunks)


def test_stream_passes_tool_call_deltas_through(fake_upstream: FakeUpstream) -> None:
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    chunks = run(lambda p: collect(p, deployment(fake_upstream), chat_body("x y", tools=tools, tool_choice="required")))
    calls = [
        c["choices"][0]["delta"]["tool_calls"][0]
        for c in chunks
        if c["choices"] and c["choices"][0]["delta"].get("tool_calls")
    ]
    assert calls[0]["function"]["name"] == "lookup" and calls[0]["id"].startswith("call_")
    assert orjson.loads("".join(c["function"]["arguments"] for c in calls)) == {"echo": "x y"}


def test_embeddings_pass_encoding_format_through(fake_upstream: FakeUpstream) -> None:
    dep = deployment(fake_upstream)
    floats = run(lambda p: p.embed(dep, {"model": "fake-embed", "input": ["a b", "c"]}))
    encoded = run(lambda p: p.embed(dep, {"model": "fake-embed", "input": ["a b", "c"], "encoding_format": "base64"}))
    assert [len(d["embedding"]) for d in floats["data"]] == [8, 8] and floats["usage"]["prompt_tokens"] == 3
    decoded = struct.unpack("<8f", base64.b64decode(encoded["data"][0]["embedding"]))
    assert decoded == pytest.approx(floats["data"][0]["embedding"], abs=1e-6)
    assert fake_upstream.requests()[1]["body"]["encoding_format"] == "base64"
    assert "encoding_format" not in fake_upstream.requests()[0]["body"]


def test_one_provider_serves_many_concurrent_calls(fake_upstream: FakeUpstream) -> None:
    async def scenario(provider: OpenAIProvider) -> list:
        dep = deployment(fake_upstream)
        return await asyncio.gather(*(provider.chat(dep, chat_body(f"n {i}")) for i in range(100)))

    results = run(scenario)
    assert [r["choices"][0]["message"]["content"] for r in results] == [f"echo: n {i}" for i in range(100)]


def test_closed_provider_can_be_used_again(fake_upstream: FakeUpstream) -> None:
    async def scenario(provider: OpenAIProvider) -> str:
        await provider.chat(deployment(fake_upstream), chat_body())
        await provider.aclose()
        return (await provider.chat(deployment(fake_upstream), chat_body("again")))["choices"][0]["message"]["content"]

    assert run(scenario) == "echo: again"


# -- faults, not streamed -------------------------------------------------------------------------------


def test_server_error_is_server_with_a_clear_message(fake_upstream: FakeUpstream) -> None:
    error = chat_error(fake_upstream, [{"status": 500, "message": "boom"}])
    assert (error.kind, error.status) == (SERVER, 500)
    assert error.message.startswith(f"upstream {fake_upstream.base_url} answered 500: boom")
    assert error.retryable and error.falls_back


def test_rate_limit_carries_retry_after_seconds(fake_upstream: FakeUpstream) -> None:
    error = chat_error(fake_upstream, [{"status": 429, "retry_after": 2}])
    assert (error.kind, error.retry_after_s) == (RATE_LIMITED, 2.0)


def test_rate_limit_carries_retry_after_http_date(fake_upstream: FakeUpstream) -> None:
    error = chat_error(fake_upstream, [{"status": 429, "retry_after": formatdate(time() + 120, usegmt=True)}])
    assert error.kind == RATE_LIMITED
    assert 100 < error.retry_after_s <= 121


def test_rate_limit_prefers_retry_after_ms(fake_upstream: FakeUpstream) -> None:
    error = chat_error(fake_upstream, [{"status": 429, "retry_after": 9, "retry_after_ms": 1500}])
    assert error.retry_after_s == 1.5


def test_context_length_is_recognised(fake_upstream: FakeUpstream) -> None:
    error = chat_error(fake_upstream, [{"status": 400, "context_length": True}])
    assert (error.kind, error.status) == (CONTEXT_LENGTH, 400)
    assert "maximum context length" in error.message and error.falls_back and not error.retryable


def test_bad_auth_is_auth_and_the_key_never_shows(fake_upstream: FakeUpstream) -> None:
    error = chat_error(fake_upstream, [{"status": 401, "message": f"Incorrect API key provided: {SECRET}."}])
    assert error.kind == AUTH
    assert SECRET not in error.message and "***" in error.message


def test_other_client_errors_are_bad_requests_with_the_upstream_message(fake_upstream: FakeUpstream) -> None:
    error = chat_error(fake_upstream, [{"status": 404, "message": "The model `nope` does not exist"}])
    assert (error.kind, error.status) == (BAD_REQUEST, 404)
    assert "The model `nope` does not exist" in error.message and not error.falls_back


def test_malformed_json_is_malformed(fake_upstream: FakeUpstream) -> None:
    assert chat_error(fake_upstream, [{"malformed": True}]).kind == MALFORMED


def test_json_without_choices_is_malformed(fake_upstream: FakeUpstream) -> None:
    error = chat_error(fake_upstream, [{"json": {"object": "chat.completion"}}])
    assert error.kind == MALFORMED and "choices" in error.message


def test_slow_upstream_times_out(fake_upstream: FakeUpstream) -> None:
    error = chat_error(fake_upstream, [{"delay_s": 10}], timeout_s=0.2)
    assert error.kind == TIMEOUT and "0.2 s" in error.message


def test_refused_connection_is_connection(fake_upstream: FakeUpstream) -> None:
    error = chat_error(fake_upstream, [], base_url=f"http://127.0.0.1:{closed_port()}/v1")
    assert error.kind == CONNECTION and "could not reach upstream" in error.message


def test_dropped_connection_is_connection(fake_upstream: FakeUpstream) -> None:
    assert chat_error(fake_upstream, [{"close": True}]).kind == CONNECTION


def test_body_cut_mid_way_is_connection(fake_upstream: FakeUpstream) -> None:
    assert chat_error(fake_upstream, [{"cut_after_chunks": 0}]).kind == CONNECTION


def test_scripts_are_consumed_one_step_per_request(fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(MODEL, [{"status": 503}, "ok"])

    async def scenario(provider: OpenAIProvider) -> str:
        dep = deployment(fake_upstream)
        with pytest.raises(ProviderError):
            await provider.chat(dep, chat_body())
        return (await provider.chat(dep, chat_body("after")))["choices"][0]["message"]["content"]

    assert run(scenario) == "echo: after"


def test_embedding_faults_map_the_same_way(fake_upstream: FakeUpstream) -> None:
    fake_upstream.script("fake-embed", [{"status": 429, "retry_after": 1}, {"json": {"object": "list"}}])

    async def scenario(provider: OpenAIProvider) -> list[str]:
        kinds = []
        for _ in range(2):
            try:
                await provider.embed(deployment(fake_upstream), {"model": "fake-embed", "input": "x"})
            except ProviderError as exc:
                kinds.append(exc.kind)
        return kinds

    assert run(scenario) == [RATE_LIMITED, MALFORMED]


# -- faults, streamed -----------------------------------------------------------------------------------


def test_stream_error_status_surfaces_on_the_first_iteration(fake_upstream: FakeUpstream) -> None:
    error, chunks = stream_error(fake_upstream, [{"status": 429, "retry_after": 3}])
    assert (error.kind, error.retry_after_s, chunks) == (RATE_LIMITED, 3.0, [])


def test_stream_malformed_event_is_malformed(fake_upstream: FakeUpstream) -> None:
    error, chunks = stream_error(fake_upstream, [{"malformed": True}])
    assert (error.kind, chunks) == (MALFORMED, [])


def test_stream_cut_before_content_yields_nothing(fake_upstream: FakeUpstream) -> None:
    error, chunks = stream_error(fake_upstream, [{"cut_after_chunks": 1}])  # only the role chunk went out
    assert (error.kind, chunks) == (STREAM_CUT, [])


def test_stream_cut_mid_way_is_stream_cut(fake_upstream: FakeUpstream) -> None:
    error, chunks = stream_error(fake_upstream, [{"cut_after_chunks": 3}])
    assert error.kind == STREAM_CUT and len(chunks) == 3
    assert fake_upstream.base_url in error.message


def test_stream_ending_without_done_is_stream_cut(fake_upstream: FakeUpstream) -> None:
    error, chunks = stream_error(fake_upstream, [{"end_after_chunks": 4}])
    assert error.kind == STREAM_CUT and "[DONE]" in error.message and len(chunks) == 4


def test_stream_error_event_before_content_keeps_its_kind(fake_upstream: FakeUpstream) -> None:
    error, chunks = stream_error(fake_upstream, [{"error_event_after_chunks": 1}])
    assert (error.kind, chunks) == (SERVER, [])
    assert "error while processing" in error.message


def test_stream_error_event_after_content_is_stream_cut(fake_upstream: FakeUpstream) -> None:
    error, chunks = stream_error(fake_upstream, [{"error_event_after_chunks": 3}])
    assert error.kind == STREAM_CUT and len(chunks) == 3


def test_stream_timeout_and_refusal(fake_upstream: FakeUpstream) -> None:
    assert stream_error(fake_upstream, [{"delay_s": 10}], timeout_s=0.2)[0].kind == TIMEOUT
    refused = stream_error(fake_upstream, [], base_url=f"http://127.0.0.1:{closed_port()}/v1")[0]
    assert refused.kind == CONNECTION


def test_stream_context_length_and_auth(fake_upstream: FakeUpstream) -> None:
    assert stream_error(fake_upstream, [{"status": 400, "context_length": True}])[0].kind == CONTEXT_LENGTH
    assert stream_error(fake_upstream, [{"status": 403}])[0].kind == AUTH


def test_upstream_requiring_a_key_refuses_a_wrong_one() -> None:
    with FakeUpstream(api_key="right-key") as fake:
        error = chat_error(fake, [], api_key="wrong-key")
        assert error.kind == AUTH and "wrong-key" not in error.message
        assert run(lambda p: p.chat(deployment(fake, api_key="right-key"), chat_body()))["choices"]
