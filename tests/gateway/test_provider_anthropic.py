"""The anthropic provider against the fake Messages API over real HTTP: translation both ways,
streaming, fault mapping."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import orjson
import pytest

from stackwright.gateway.providers.anthropic import AnthropicProvider
from stackwright.gateway.providers.anthropic_response import to_usage
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
    UNSUPPORTED,
    Deployment,
    ProviderError,
)
from tests.gateway.fake_upstream import FakeUpstream

SECRET = "sk-ant-test-secret"
MODEL = "claude-fake"
LOOKUP = {
    "type": "function",
    "function": {
        "name": "lookup",
        "description": "Find a thing.",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
    },
}


def deployment(fake: FakeUpstream, **changes: Any) -> Deployment:
    fields: dict[str, Any] = {
        "id": "claude/0",
        "provider": "anthropic",
        "model": MODEL,
        "base_url": fake.url,
        "api_key": SECRET,
        "timeout_s": 5.0,
    }
    return Deployment(**{**fields, **changes})


def chat_body(text: str = "hello there", **extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": text}], **extra}


def run(scenario: Any) -> Any:
    async def main() -> Any:
        provider = AnthropicProvider()
        try:
            return await scenario(provider)
        finally:
            await provider.aclose()

    return asyncio.run(main())


async def collect(provider: AnthropicProvider, dep: Deployment, body: dict[str, Any], into: list | None = None) -> list:
    chunks = [] if into is None else into
    async for chunk in provider.chat_stream(dep, body):
        chunks.append(chunk)
    return chunks


def chat(fake: FakeUpstream, body: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return run(lambda p: p.chat(deployment(fake, **changes), body))


def sent(fake: FakeUpstream) -> dict[str, Any]:
    return fake.requests()[-1]["body"]


def chat_error(
    fake: FakeUpstream, steps: list[Any], body: dict[str, Any] | None = None, **changes: Any
) -> ProviderError:
    fake.script(MODEL, steps)
    with pytest.raises(ProviderError) as caught:
        chat(fake, body or chat_body(), **changes)
    return caught.value


def stream_error(fake: FakeUpstream, steps: list[Any], **changes: Any) -> tuple[ProviderError, list]:
    fake.script(MODEL, steps)
    chunks: list = []
    with pytest.raises(ProviderError) as caught:
        run(lambda p: collect(p, deployment(fake, **changes), chat_body("one two three four"), chunks))
    return caught.value, chunks


# -- request translation --------------------------------------------------------------------------------


def test_headers_path_and_defaults(fake_upstream: FakeUpstream) -> None:
    completion = chat(fake_upstream, chat_body(), headers={"anthropic-beta": "tools-2024"})
    assert completion["choices"][0]["message"]["content"] == "echo: hello there"
    request = fake_upstream.requests()[0]
    assert request["path"] == "/v1/messages"
    assert request["headers"]["x-api-key"] == SECRET and "authorization" not in request["headers"]
    assert request["headers"]["anthropic-version"] == "2023-06-01"
    assert request["headers"]["anthropic-beta"] == "tools-2024"
    assert request["body"] == {
        "model": MODEL,
        "max_tokens": 4096,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hello there"}]}],
    }


def test_base_url_with_v1_reaches_the_same_path(fake_upstream: FakeUpstream) -> None:
    chat(fake_upstream, chat_body(), base_url=fake_upstream.base_url + "/")
    assert fake_upstream.requests()[0]["path"] == "/v1/messages"


def test_parameters_translate(fake_upstream: FakeUpstream) -> None:
    body = chat_body(
        max_completion_tokens=50,
        max_tokens=99,
        temperature=0.2,
        top_p=0.9,
        stop="END",
        user="u-7",
        seed=3,
        logprobs=True,
        frequency_penalty=0.5,
        top_k=5,
    )
    chat(fake_upstream, body)
    request = sent(fake_upstream)
    assert request["max_tokens"] == 50
    assert (request["temperature"], request["top_p"], request["top_k"]) == (0.2, 0.9, 5)
    assert request["stop_sequences"] == ["END"]
    assert request["metadata"] == {"user_id": "u-7"}
    assert not {"seed", "logprobs", "frequency_penalty", "user", "stop", "max_completion_tokens"} & request.keys()


def test_default_max_tokens_comes_from_the_deployment(fake_upstream: FakeUpstream) -> None:
    chat(fake_upstream, chat_body(), options={"max_tokens": 123, "api_version": "2024-01-01"})
    assert sent(fake_upstream)["max_tokens"] == 123
    assert fake_upstream.requests()[0]["headers"]["anthropic-version"] == "2024-01-01"


def test_a_whole_tool_conversation_translates(fake_upstream: FakeUpstream) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": [{"type": "text", "text": "Use tools."}]},
        {"role": "user", "content": "look up a and b"},
        {
            "role": "assistant",
            "content": "Looking.",
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "a"}'}},
                {"id": "call_2", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "b"}'}},
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "A is 1"},
        {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "B is 2"}]},
        {"role": "user", "content": "thanks"},
    ]
    completion = chat(fake_upstream, {"model": MODEL, "messages": messages, "tools": [LOOKUP]})
    assert completion["choices"][0]["message"]["content"] == "echo: A is 1 B is 2 thanks"  # the fake accepted it
    request = sent(fake_upstream)
    assert request["system"] == "Be brief.\n\nUse tools."
    assert request["tools"] == [
        {"name": "lookup", "description": "Find a thing.", "input_schema": LOOKUP["function"]["parameters"]}
    ]
    assert [m["role"] for m in request["messages"]] == ["user", "assistant", "user"]
    assert request["messages"][1]["content"] == [
        {"type": "text", "text": "Looking."},
        {"type": "tool_use", "id": "call_1", "name": "lookup", "input": {"q": "a"}},
        {"type": "tool_use", "id": "call_2", "name": "lookup", "input": {"q": "b"}},
    ]
    assert request["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "call_1", "content": "A is 1"},
        {"type": "tool_result", "tool_use_id": "call_2", "content": [{"type": "text", "text": "B is 2"}]},
        {"type": "text", "text": "thanks"},
    ]


@pytest.mark.parametrize(
    ("tool_choice", "parallel", "expected"),
    [
        ("auto", None, {"type": "auto"}),
        ("required", None, {"type": "any"}),
        ("none", None, {"type": "none"}),
        ({"type": "function", "function": {"name": "lookup"}}, None, {"type": "tool", "name": "lookup"}),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
    ],
)
def test_tool_choice_translates(fake_upstream: FakeUpstream, tool_choice: Any, parallel: Any, expected: dict) -> None:
    extra = {k: v for k, v in {"tool_choice": tool_choice, "parallel_tool_calls": parallel}.items() if v is not None}
    chat(fake_upstream, chat_body(tools=[LOOKUP], **extra))
    assert sent(fake_upstream)["tool_choice"] == expected


def test_images_become_image_blocks(fake_upstream: FakeUpstream) -> None:
    content = [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "low"}},
    ]
    chat(fake_upstream, {"model": MODEL, "messages": [{"role": "user", "content": content}]})
    blocks = sent(fake_upstream)["messages"][0]["content"]
    assert blocks[1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
    }
    assert blocks[2] == {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}


def test_response_format_becomes_a_system_instruction(fake_upstream: FakeUpstream) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    body = chat_body(response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": schema}})
    chat(fake_upstream, {**body, "messages": [{"role": "system", "content": "Be kind."}, *body["messages"]]})
    system = sent(fake_upstream)["system"]
    assert system.startswith("Be kind.\n\nRespond with a single JSON object")
    assert orjson.dumps(schema).decode() in system


def test_requests_anthropic_cannot_serve_are_bad_requests(fake_upstream: FakeUpstream) -> None:
    for body in (
        chat_body(n=2),
        {"model": MODEL, "messages": [{"role": "user", "content": [{"type": "input_audio"}]}]},
    ):
        with pytest.raises(ProviderError) as caught:
            chat(fake_upstream, body)
        assert caught.value.kind == BAD_REQUEST
    assert fake_upstream.requests() == []


# -- response translation -------------------------------------------------------------------------------


def test_response_text_usage_and_end_turn(fake_upstream: FakeUpstream) -> None:
    completion = chat(
        fake_upstream,
        {
            **chat_body("a b c"),
            "messages": [{"role": "system", "content": "sys one"}, {"role": "user", "content": "a b c"}],
        },
    )
    assert completion["object"] == "chat.completion" and completion["model"] == MODEL
    choice = completion["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": "echo: a b c"}
    assert choice["finish_reason"] == "stop"
    assert completion["usage"] == {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}


def test_stop_sequence_and_max_tokens_finish_reasons(fake_upstream: FakeUpstream) -> None:
    stopped = chat(fake_upstream, chat_body("one two three", stop=["two"]))
    assert stopped["choices"][0]["message"]["content"] == "echo: one "
    assert stopped["choices"][0]["finish_reason"] == "stop"
    cut = chat(fake_upstream, chat_body("one two three", max_tokens=2))
    assert cut["choices"][0]["message"]["content"] == "echo: one"
    assert cut["choices"][0]["finish_reason"] == "length"


def test_tool_use_becomes_tool_calls(fake_upstream: FakeUpstream) -> None:
    completion = chat(fake_upstream, chat_body("find x", tools=[LOOKUP], tool_choice="required"))
    choice = completion["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    (call,) = choice["message"]["tool_calls"]
    assert call["type"] == "function" and call["id"].startswith("call_")
    assert call["function"]["name"] == "lookup"
    assert orjson.loads(call["function"]["arguments"]) == {"echo": "find x"}


def test_text_before_a_tool_call_is_kept(fake_upstream: FakeUpstream) -> None:
    completion = chat(fake_upstream, chat_body("please call lookup", tools=[LOOKUP]))
    message = completion["choices"][0]["message"]
    assert message["content"] == "I will call lookup." and message["tool_calls"][0]["function"]["name"] == "lookup"


def test_cached_input_counts_as_prompt_tokens() -> None:
    usage = {"input_tokens": 10, "cache_creation_input_tokens": 5, "cache_read_input_tokens": 100, "output_tokens": 7}
    assert to_usage(usage) == {
        "prompt_tokens": 115,
        "completion_tokens": 7,
        "total_tokens": 122,
        "prompt_tokens_details": {"cached_tokens": 100},
    }


# -- streaming ------------------------------------------------------------------------------------------


def test_stream_text_finish_and_usage(fake_upstream: FakeUpstream) -> None:
    chunks = run(lambda p: collect(p, deployment(fake_upstream), chat_body("one two three")))
    assert sent(fake_upstream)["stream"] is True
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["id"] for c in chunks}) == 1 and chunks[0]["model"] == MODEL
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "echo: one two three"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}


def test_stream_tool_call_deltas(fake_upstream: FakeUpstream) -> None:
    body = chat_body("please call lookup", tools=[LOOKUP])  # text block at index 0, tool_use at index 1
    chunks = run(lambda p: collect(p, deployment(fake_upstream), body))
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert "".join(d.get("content") or "" for d in deltas) == "I will call lookup."
    calls = [d["tool_calls"][0] for d in deltas if d.get("tool_calls")]
    assert {c["index"] for c in calls} == {0}
    assert calls[0]["id"].startswith("call_") and calls[0]["function"] == {"name": "lookup", "arguments": ""}
    assert orjson.loads("".join(c["function"]["arguments"] for c in calls)) == {"echo": "please call lookup"}
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["usage"]["completion_tokens"] > 0


def test_stream_max_tokens_is_length(fake_upstream: FakeUpstream) -> None:
    chunks = run(lambda p: collect(p, deployment(fake_upstream), chat_body("one two three", max_tokens=2)))
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"


# -- faults ---------------------------------------------------------------------------------------------


def test_rate_limit_with_retry_after(fake_upstream: FakeUpstream) -> None:
    error = chat_error(fake_upstream, [{"status": 429, "retry_after": 4}])
    assert (error.kind, error.retry_after_s, error.status) == (RATE_LIMITED, 4.0, 429)


def test_overloaded_and_server_errors_are_server(fake_upstream: FakeUpstream) -> None:
    overloaded = chat_error(fake_upstream, [{"status": 529, "message": "Overloaded"}])
    assert (overloaded.kind, overloaded.status) == (SERVER, 529)
    assert overloaded.message == f"upstream {fake_upstream.url} answered 529: Overloaded (overloaded_error)"
    assert chat_error(fake_upstream, [{"status": 500}]).kind == SERVER


def test_prompt_too_long_is_context_length(fake_upstream: FakeUpstream) -> None:
    error = chat_error(fake_upstream, [{"status": 400, "context_length": True}])
    assert error.kind == CONTEXT_LENGTH and "prompt is too long" in error.message


def test_auth_and_invalid_requests(fake_upstream: FakeUpstream) -> None:
    assert chat_error(fake_upstream, [{"status": 401}]).kind == AUTH
    assert chat_error(fake_upstream, [{"status": 403}]).kind == AUTH
    invalid = chat_error(fake_upstream, [{"status": 400, "message": "temperature: must be <= 1"}])
    assert invalid.kind == BAD_REQUEST and "temperature: must be <= 1" in invalid.message


def test_transport_faults(fake_upstream: FakeUpstream) -> None:
    assert chat_error(fake_upstream, [{"malformed": True}]).kind == MALFORMED
    assert chat_error(fake_upstream, [{"json": {"type": "message"}}]).kind == MALFORMED
    assert chat_error(fake_upstream, [{"delay_s": 10}], timeout_s=0.2).kind == TIMEOUT
    assert chat_error(fake_upstream, [{"close": True}]).kind == CONNECTION
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert chat_error(fake_upstream, [], base_url=f"http://127.0.0.1:{port}").kind == CONNECTION


def test_stream_error_event_before_content_is_overloaded_server(fake_upstream: FakeUpstream) -> None:
    error, chunks = stream_error(fake_upstream, [{"error_event_after_chunks": 1}])  # right after message_start
    assert (error.kind, chunks) == (SERVER, [])
    assert "Overloaded" in error.message


def test_stream_error_event_after_content_is_stream_cut(fake_upstream: FakeUpstream) -> None:
    error, chunks = stream_error(fake_upstream, [{"error_event_after_chunks": 5}])
    assert error.kind == STREAM_CUT and "Overloaded" in error.message
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == "echo: one "


def test_stream_cut_and_early_end(fake_upstream: FakeUpstream) -> None:
    cut, chunks = stream_error(fake_upstream, [{"cut_after_chunks": 5}])
    assert cut.kind == STREAM_CUT and len(chunks) == 3
    ended, _ = stream_error(fake_upstream, [{"end_after_chunks": 6}])
    assert ended.kind == STREAM_CUT and "message_stop" in ended.message


def test_stream_errors_before_the_first_chunk(fake_upstream: FakeUpstream) -> None:
    for steps, kind in [
        ([{"status": 429, "retry_after": 1}], RATE_LIMITED),
        ([{"status": 529}], SERVER),
        ([{"malformed": True}], MALFORMED),
        ([{"status": 400, "context_length": True}], CONTEXT_LENGTH),
        ([{"delay_s": 10}], TIMEOUT),
    ]:
        error, chunks = stream_error(fake_upstream, steps, timeout_s=0.3)
        assert (error.kind, chunks) == (kind, []), steps


def test_embeddings_are_unsupported(fake_upstream: FakeUpstream) -> None:
    with pytest.raises(ProviderError) as caught:
        run(lambda p: p.embed(deployment(fake_upstream), {"model": MODEL, "input": "x"}))
    assert caught.value.kind == UNSUPPORTED and "no embeddings" in caught.value.message
