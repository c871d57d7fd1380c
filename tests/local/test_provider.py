"""LocalProvider against the provider contract: OpenAI-shaped chat, streams, embeddings, errors."""

from __future__ import annotations

import asyncio
import base64
import json
import threading

import numpy as np
import pytest

from stackwright.gateway.providers.base import BAD_REQUEST, UNSUPPORTED, Deployment, ProviderError
from stackwright.local import BUILTIN_MODELS, builtin_deployment, builtin_models, gguf_available
from stackwright.local.embedder import embed
from stackwright.local.extractive import CANNOT_ANSWER
from stackwright.local.provider import LocalProvider, text_pieces

from .helpcenter import rag_messages

EXTRACTIVE = Deployment(id="local/extractive", provider="local", model="extractive")
WORDLLAMA = Deployment(id="local/wordllama", provider="local", model="wordllama")


def run(coroutine):
    return asyncio.run(coroutine)


def chat(body, deployment=EXTRACTIVE):
    async def main():
        provider = LocalProvider()
        try:
            return await provider.chat(deployment, body)
        finally:
            await provider.aclose()

    return run(main())


def stream(body, deployment=EXTRACTIVE):
    async def main():
        return [chunk async for chunk in LocalProvider().chat_stream(deployment, body)]

    return run(main())


def embeddings(body, deployment=WORDLLAMA):
    return run(LocalProvider().embed(deployment, body))


def refused(call, *args) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        call(*args)
    return caught.value


def test_the_provider_is_named_local():
    assert LocalProvider.name == "local"


def test_builtin_models_need_no_configuration():
    assert BUILTIN_MODELS == {"local/extractive": ("chat", "extractive"), "local/wordllama": ("embedding", "wordllama")}
    assert ("local/gguf" in builtin_models()) == gguf_available()
    deployment = builtin_deployment("local/extractive")
    assert (deployment.provider, deployment.model, deployment.id) == ("local", "extractive", "local/extractive")
    assert builtin_deployment("gpt-4o") is None


def test_chat_completion_is_openai_shaped():
    response = chat({"model": "extractive", "messages": rag_messages("How long do refunds take?"), "temperature": 0.7})
    assert response["object"] == "chat.completion"
    assert response["id"].startswith("chatcmpl-")
    assert isinstance(response["created"], int)
    assert response["model"] == "local/extractive"
    (choice,) = response["choices"]
    assert choice["index"] == 0 and choice["finish_reason"] == "stop"
    assert choice["message"]["role"] == "assistant"
    assert "5 to 7 business days [2]." in choice["message"]["content"]
    usage = response["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["prompt_tokens"] > 400 and 0 < usage["completion_tokens"] < 60
    json.dumps(response)  # plain JSON types only


def test_max_tokens_and_max_completion_tokens():
    for field in ("max_tokens", "max_completion_tokens"):
        response = chat({"messages": rag_messages("How do I reset my password?"), field: 5})
        assert response["choices"][0]["finish_reason"] == "length"
        assert response["usage"]["completion_tokens"] <= 5


def test_json_object_response_format():
    response = chat({"messages": rag_messages("How long do refunds take?"), "response_format": {"type": "json_object"}})
    content = json.loads(response["choices"][0]["message"]["content"])
    assert content["citations"] == ["2"] and "business days [2]" in content["answer"]


def test_stream_yields_role_then_words_then_finish_then_usage():
    body = {"messages": rag_messages("How do I reset my password?"), "stream": True}
    chunks = stream(body)
    whole = chat(body)
    first, *middle, finish, usage = chunks
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "local/extractive" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1 and chunks[0]["id"].startswith("chatcmpl-")
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert len(middle) > 10 and all(c["choices"][0]["finish_reason"] is None for c in middle)
    text = "".join(c["choices"][0]["delta"]["content"] for c in middle)
    assert text == whole["choices"][0]["message"]["content"]
    assert finish["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    assert usage["choices"] == [] and usage["usage"] == whole["usage"]


def test_stream_respects_max_tokens():
    chunks = stream({"messages": rag_messages("How do I reset my password?"), "max_tokens": 6})
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    assert chunks[-1]["usage"]["completion_tokens"] <= 6


def test_stream_of_a_refusal():
    chunks = stream({"messages": rag_messages("What is the capital of France?")})
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks[:-1]) == CANNOT_ANSWER


def test_text_pieces_join_back_exactly():
    for text in ["", "one", "  two words ", "line\n1. item [1].\n2. next"]:
        assert "".join(text_pieces(text)) == text


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "messages must be a non-empty list"),
        ({"messages": []}, "messages must be a non-empty list"),
        ({"messages": ["hi"]}, "messages[0] must be an object"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content must be"),
        ({"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}, "max_tokens must be a positive integer"),
        ({"messages": [{"role": "user", "content": "x"}], "max_tokens": "9"}, "max_tokens must be a positive integer"),
        ({"messages": [{"role": "user", "content": "x"}], "stop": [1]}, "stop must be a string or a list"),
        ({"messages": [{"role": "user", "content": "x"}], "n": 2}, "n must be 1"),
    ],
)
def test_bad_chat_requests(body, message):
    error = refused(chat, body)
    assert error.kind == BAD_REQUEST and message in error.message
    error = refused(stream, body)  # raised before the first chunk
    assert error.kind == BAD_REQUEST and message in error.message


def test_what_extractive_cannot_do_is_unsupported():
    messages = [{"role": "user", "content": "x"}]
    error = refused(chat, {"messages": messages, "tool_choice": "required", "tools": []})
    assert error.kind == UNSUPPORTED and "does not call tools" in error.message
    error = refused(chat, {"messages": messages, "response_format": {"type": "json_schema", "json_schema": {}}})
    assert error.kind == UNSUPPORTED and "json_schema" in error.message


def test_chat_on_the_embedding_model_and_embeddings_on_the_chat_model():
    error = refused(chat, {"messages": [{"role": "user", "content": "hi"}]}, WORDLLAMA)
    assert error.kind == UNSUPPORTED
    assert "local/wordllama is an embedding model" in error.message and "local/extractive" in error.message
    error = refused(embeddings, {"input": "hi"}, EXTRACTIVE)
    assert error.kind == UNSUPPORTED and "local/extractive is a chat model" in error.message


def test_an_unknown_local_model_lists_the_local_models():
    deployment = Deployment(id="x", provider="local", model="llama-9000")
    for call, body in ((chat, {"messages": [{"role": "user", "content": "hi"}]}), (embeddings, {"input": "hi"})):
        error = refused(call, body, deployment)
        assert error.kind == BAD_REQUEST
        assert "Unknown local model 'llama-9000'" in error.message
        assert all(name in error.message for name in ("local/extractive", "local/wordllama", "local/gguf"))


def test_embeddings_response_is_openai_shaped():
    response = embeddings({"model": "wordllama", "input": ["Refunds take a week.", "Reset your password."]})
    assert response["object"] == "list" and response["model"] == "local/wordllama"
    assert [d["index"] for d in response["data"]] == [0, 1]
    assert all(d["object"] == "embedding" and len(d["embedding"]) == 256 for d in response["data"])
    assert np.allclose(np.array(response["data"][0]["embedding"]), embed("Refunds take a week.")[0], atol=1e-6)
    assert response["usage"]["prompt_tokens"] == response["usage"]["total_tokens"] > 0
    json.dumps(response)


def test_a_string_input_gives_one_embedding():
    assert len(embeddings({"input": "just one"})["data"]) == 1


def test_base64_encoding_round_trips_as_little_endian_float32():
    """What the openai SDK does with encoding_format=base64 (its default): frombuffer(float32)."""
    texts = ["Two-factor authentication adds a second step.", "Exports are emailed when ready."]
    floats = embeddings({"input": texts})
    packed = embeddings({"input": texts, "encoding_format": "base64"})
    for as_floats, as_base64 in zip(floats["data"], packed["data"], strict=True):
        decoded = np.frombuffer(base64.b64decode(as_base64["embedding"]), dtype="<f4")
        assert decoded.shape == (256,)
        assert np.array_equal(decoded, np.array(as_floats["embedding"], dtype=np.float32))


def test_dimensions_shorten_the_vectors():
    response = embeddings({"input": "Exports are emailed when ready.", "dimensions": 64, "encoding_format": "base64"})
    vector = np.frombuffer(base64.b64decode(response["data"][0]["embedding"]), dtype="<f4")
    assert vector.shape == (64,) and np.isclose(np.linalg.norm(vector), 1.0, atol=1e-5)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"input": [1, 2, 3]}, "takes text, not token arrays"),
        ({"input": [[1, 2], [3]]}, "takes text, not token arrays"),
        ({"input": ""}, "input[0] is an empty string"),
        ({"input": ["ok", ""]}, "input[1] is an empty string"),
        ({"input": []}, "non-empty string or a non-empty list of strings"),
        ({}, "non-empty string or a non-empty list of strings"),
        ({"input": ["ok", 3]}, "non-empty string or a non-empty list of strings"),
        ({"input": "ok", "dimensions": 512}, "dimensions must be an integer from 1 to 256"),
        ({"input": "ok", "dimensions": "64"}, "dimensions must be an integer from 1 to 256"),
        ({"input": "ok", "encoding_format": "int8"}, "encoding_format must be 'float' or 'base64'"),
    ],
)
def test_bad_embedding_requests(body, message):
    error = refused(embeddings, body)
    assert error.kind == BAD_REQUEST and message in error.message


def test_work_runs_off_the_event_loop():
    """While the provider embeds a large batch, the event loop keeps running other tasks."""

    async def main():
        provider = LocalProvider()
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        await provider.embed(WORDLLAMA, {"input": [f"sentence number {i} about billing" for i in range(20_000)]})
        task.cancel()
        return ticks

    assert run(main()) > 1


def test_concurrent_requests_from_threads_agree():
    results = []

    def worker():
        results.append(chat({"messages": rag_messages("How do I export my projects?")})["choices"][0]["message"])

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({json.dumps(r) for r in results}) == 1
