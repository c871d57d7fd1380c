"""``LocalProvider``: the gateway's ``local`` provider, serving the embedded models in process.

``deployment.model`` picks the model: ``extractive`` (chat), ``wordllama`` (embeddings) or ``gguf``
(chat, with the ``gguf`` extra). Responses are OpenAI-shaped; their ``model`` field is the built-in
name the client can ask for, ``local/<deployment.model>`` (``local/extractive``...). CPU work runs in
worker threads, never on the event loop. Usage comes from the local tokenizer (WordLlama's Llama 2
BPE), or llama.cpp's own for GGUF models.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from stackwright.gateway.providers.base import BAD_REQUEST, UNSUPPORTED, Deployment, ProviderError
from stackwright.local.catalog import CHAT, EMBEDDING, LOCAL_MODEL_KINDS, builtin_models, describe_local_models


def response_model_name(deployment: Deployment) -> str:
    return f"local/{deployment.model}"


def check_model(deployment: Deployment, kind: str) -> str:
    """The deployment's local model name, when it is a local model of ``kind``."""
    model = deployment.model
    if model not in LOCAL_MODEL_KINDS:
        raise ProviderError(BAD_REQUEST, f"Unknown local model {model!r}. {describe_local_models()}")
    if LOCAL_MODEL_KINDS[model] != kind:
        what = "an embedding model: it cannot chat" if kind == CHAT else "a chat model: it cannot embed"
        raise ProviderError(UNSUPPORTED, f"local/{model} is {what}. {describe_local_models()}")
    return model


class LocalProvider:
    """Embedded models: ``local/extractive``, ``local/wordllama`` and, with the extra, ``local/gguf``."""

    name = "local"
    builtin_models = staticmethod(builtin_models)  # served with no configuration (gateway.catalog asks)

    def __init__(self) -> None:
        self._gguf: Any = None  # GgufRuntime, made on first use

    @staticmethod
    def check_options(model: str, options: dict[str, Any]) -> None:
        """ValueError for deployment options ``model`` cannot take; the gateway asks when a config is applied."""
        if model == "gguf":
            from stackwright.local.gguf import check_options

            check_options(options)

    def _gguf_runtime(self) -> Any:
        from stackwright.local.gguf import GgufRuntime, import_llama_cpp

        import_llama_cpp()  # a clear error before anything else when the extra is missing
        if self._gguf is None:
            self._gguf = GgufRuntime()
        return self._gguf

    async def chat(self, deployment: Deployment, body: dict[str, Any]) -> dict[str, Any]:
        model = check_model(deployment, CHAT)
        if model == "gguf":
            runtime = self._gguf_runtime()
            check_messages(body)
            return await asyncio.to_thread(runtime.chat, deployment, body, response_model_name(deployment))
        request = read_chat_request(body)
        answer = await asyncio.to_thread(answer_request, request)
        return chat_completion(answer, response_model_name(deployment))

    async def chat_stream(self, deployment: Deployment, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        model = check_model(deployment, CHAT)
        if model == "gguf":
            from stackwright.local.gguf import iterate_in_thread

            runtime = self._gguf_runtime()
            check_messages(body)
            name = response_model_name(deployment)
            async for chunk in iterate_in_thread(lambda: runtime.stream(deployment, body, name)):
                yield chunk
            return
        request = read_chat_request(body)
        answer = await asyncio.to_thread(answer_request, request)
        for chunk in stream_chunks(answer, response_model_name(deployment)):
            yield chunk

    async def embed(self, deployment: Deployment, body: dict[str, Any]) -> dict[str, Any]:
        check_model(deployment, EMBEDDING)
        texts = read_embedding_input(body.get("input"))
        dimensions = read_dimensions(body.get("dimensions"))
        encoding = body.get("encoding_format") or "float"
        if encoding not in ("float", "base64"):
            raise ProviderError(BAD_REQUEST, f"encoding_format must be 'float' or 'base64', got {encoding!r}.")
        vectors, tokens = await asyncio.to_thread(embed_texts, texts, dimensions)
        data = [
            {"object": "embedding", "index": i, "embedding": encode_vector(vector, encoding)}
            for i, vector in enumerate(vectors)
        ]
        return {
            "object": "list",
            "data": data,
            "model": response_model_name(deployment),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    async def aclose(self) -> None:
        if self._gguf is not None:
            runtime, self._gguf = self._gguf, None
            await asyncio.to_thread(runtime.close)


# --- chat requests -------------------------------------------------------------------------------


def check_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ProviderError(BAD_REQUEST, "messages must be a non-empty list of {role, content} objects.")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise ProviderError(BAD_REQUEST, f"messages[{index}] must be an object with a string 'role'.")
        content = message.get("content")
        if content is not None and not isinstance(content, str | list):
            raise ProviderError(BAD_REQUEST, f"messages[{index}].content must be a string, a list of parts or null.")
    return messages


def read_chat_request(body: dict[str, Any]) -> dict[str, Any]:
    """The parts of an OpenAI chat request local/extractive uses, checked; sampling fields are ignored
    (the answer is deterministic) and tools are never called."""
    messages = check_messages(body)
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1):
        raise ProviderError(BAD_REQUEST, f"max_tokens must be a positive integer, got {max_tokens!r}.")
    stop = body.get("stop")
    if isinstance(stop, str):
        stop = [stop]
    if stop is not None and (not isinstance(stop, list) or not all(isinstance(s, str) for s in stop)):
        raise ProviderError(BAD_REQUEST, "stop must be a string or a list of strings.")
    n = body.get("n")
    if n not in (None, 1):
        raise ProviderError(BAD_REQUEST, f"local/extractive gives one answer per request: n must be 1, got {n!r}.")
    tool_choice = body.get("tool_choice")
    if tool_choice == "required" or isinstance(tool_choice, dict):
        raise ProviderError(UNSUPPORTED, "local/extractive does not call tools; drop tool_choice or use another model.")
    response_format = body.get("response_format") or {}
    format_type = response_format.get("type", "text") if isinstance(response_format, dict) else None
    if format_type not in ("text", "json_object"):
        raise ProviderError(
            UNSUPPORTED,
            f"local/extractive answers in text or json_object ({{answer, citations}}), not {format_type!r}.",
        )
    return {"messages": messages, "max_tokens": max_tokens, "stop": stop, "json": format_type == "json_object"}


def answer_request(request: dict[str, Any]) -> Any:
    """Run local/extractive on a checked request (blocking)."""
    from stackwright.local.embedder import count_tokens
    from stackwright.local.extractive import answer_messages

    answer = answer_messages(request["messages"], max_tokens=request["max_tokens"], stop=request["stop"])
    if request["json"]:
        answer.text = json.dumps({"answer": answer.text, "citations": answer.citations}, ensure_ascii=False)
        answer.completion_tokens = count_tokens(answer.text)
    return answer


def chat_completion(answer: Any, model: str) -> dict[str, Any]:
    return {
        "id": new_completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer.text, "refusal": None},
                "logprobs": None,
                "finish_reason": answer.finish_reason,
            }
        ],
        "usage": usage(answer),
    }


def stream_chunks(answer: Any, model: str) -> list[dict[str, Any]]:
    """The answer as chat.completion.chunk dicts: the role first, then the text a word at a time, then
    the finish reason, then usage (choices empty), as OpenAI streams with include_usage."""
    completion_id, created = new_completion_id(), int(time.time())

    def chunk(choices: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": choices,
        }

    def choice(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}

    chunks = [chunk([choice({"role": "assistant", "content": ""})])]
    chunks += [chunk([choice({"content": piece})]) for piece in text_pieces(answer.text)]
    chunks.append(chunk([choice({}, answer.finish_reason)]))
    chunks.append(chunk([]) | {"usage": usage(answer)})
    return chunks


def text_pieces(text: str) -> list[str]:
    """Words with the whitespace before them: joined, they give back ``text``."""
    pieces = re.findall(r"\s*\S+", text)
    rest = text[len("".join(pieces)) :]
    return pieces + [rest] if rest else pieces


def usage(answer: Any) -> dict[str, int]:
    return {
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens,
        "total_tokens": answer.prompt_tokens + answer.completion_tokens,
    }


def new_completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


# --- embeddings ----------------------------------------------------------------------------------


def read_embedding_input(value: Any) -> list[str]:
    """OpenAI's ``input``: a string or a list of strings. Token arrays are refused: they are ids of
    OpenAI's tokenizer, which means nothing to WordLlama."""
    if isinstance(value, str):
        texts = [value]
    elif isinstance(value, list) and value and all(isinstance(item, str) for item in value):
        texts = value
    elif isinstance(value, list) and value and all(isinstance(item, int | list) for item in value):
        raise ProviderError(
            BAD_REQUEST,
            "local/wordllama takes text, not token arrays: send input as a string or a list of strings "
            "(with the openai SDK, pass strings; LangChain's OpenAIEmbeddings needs check_embedding_ctx_length=False).",
        )
    else:
        raise ProviderError(BAD_REQUEST, "input must be a non-empty string or a non-empty list of strings.")
    for index, text in enumerate(texts):
        if not text:
            raise ProviderError(BAD_REQUEST, f"input[{index}] is an empty string; embeddings need some text.")
    return texts


def read_dimensions(value: Any) -> int | None:
    from stackwright.local.embedder import FULL_DIMENSIONS

    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= FULL_DIMENSIONS:
        raise ProviderError(
            BAD_REQUEST,
            f"dimensions must be an integer from 1 to {FULL_DIMENSIONS} for local/wordllama "
            f"(64, 128 and 256 are the trained sizes), got {value!r}.",
        )
    return value


def embed_texts(texts: list[str], dimensions: int | None) -> tuple[Any, int]:
    """Vectors and the number of tokens read (blocking)."""
    from stackwright.local.embedder import embed_token_ids, token_ids

    ids = token_ids(texts)
    return embed_token_ids(ids, dimensions), sum(len(i) for i in ids)


def encode_vector(vector: Any, encoding: str) -> list[float] | str:
    """A vector as OpenAI sends it: floats, or base64 of little-endian float32."""
    if encoding == "base64":
        return base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
    return vector.tolist()
