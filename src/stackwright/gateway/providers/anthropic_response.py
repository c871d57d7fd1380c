"""Anthropic Messages responses and stream events -> OpenAI chat completions and chunks."""

from __future__ import annotations

import time
from typing import Any

import orjson

from stackwright.gateway.providers.base import (
    AUTH,
    BAD_REQUEST,
    CONTEXT_LENGTH,
    RATE_LIMITED,
    SERVER,
    TIMEOUT,
    ProviderError,
)
from stackwright.gateway.providers.http import is_context_length

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
_ERROR_KINDS = {
    "overloaded_error": SERVER,
    "api_error": SERVER,
    "rate_limit_error": RATE_LIMITED,
    "authentication_error": AUTH,
    "permission_error": AUTH,
    "timeout_error": TIMEOUT,
}


def to_completion(message: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI ``chat.completion`` for an Anthropic ``message``."""
    texts: list[str] = []
    reasoning: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    for block in message.get("content") or []:
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text") or "")
        elif kind == "thinking":
            reasoning.append(block.get("thinking") or "")
        elif kind == "tool_use":
            arguments = orjson.dumps(block.get("input") or {}).decode()
            tool_calls.append(
                {
                    "id": block.get("id"),
                    "type": "function",
                    "function": {"name": block.get("name"), "arguments": arguments},
                }
            )
    reply: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not tool_calls else None}
    if tool_calls:
        reply["tool_calls"] = tool_calls
    if reasoning:
        reply["reasoning_content"] = "".join(reasoning)
    choice = {
        "index": 0,
        "message": reply,
        "logprobs": None,
        "finish_reason": finish_reason(message.get("stop_reason")),
    }
    completion = {
        "id": message.get("id"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": message.get("model"),
        "choices": [choice],
    }
    if message.get("usage"):
        completion["usage"] = to_usage(message["usage"])
    return completion


def finish_reason(stop_reason: str | None) -> str | None:
    if stop_reason is None:
        return None
    return FINISH_REASONS.get(stop_reason, "stop")


def to_usage(usage: dict[str, Any]) -> dict[str, Any]:
    """OpenAI usage; cached input counts as prompt tokens too, as on OpenAI (Anthropic counts it apart)."""
    cache_read = usage.get("cache_read_input_tokens") or 0
    prompt = (usage.get("input_tokens") or 0) + (usage.get("cache_creation_input_tokens") or 0) + cache_read
    completion = usage.get("output_tokens") or 0
    result: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if cache_read:
        result["prompt_tokens_details"] = {"cached_tokens": cache_read}
    return result


def error_kind(error_type: str | None, message: str) -> str:
    """The ProviderError kind of an Anthropic error ``type`` (as sent in ``error`` events)."""
    if error_type == "invalid_request_error" or error_type == "request_too_large":
        return CONTEXT_LENGTH if is_context_length(message) else BAD_REQUEST
    return _ERROR_KINDS.get(error_type or "", SERVER)


class StreamTranslator:
    """Turns Anthropic stream events into OpenAI chunks, one event at a time. The role chunk is held
    until content arrives, so an error event before any content is still the first thing seen."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.id = ""
        self.model = ""
        self.created = int(time.time())
        self.usage: dict[str, Any] = {}
        self.started = False  # the role chunk has been emitted
        self.finished = False  # message_stop seen
        self.tool_index: dict[int, int] = {}  # Anthropic block index -> OpenAI tool_calls index

    def feed(self, event: str, data: dict[str, Any]) -> list[dict[str, Any]]:
        kind = data.get("type") or event
        if kind == "message_start":
            message = data.get("message") or {}
            self.id, self.model = message.get("id") or "", message.get("model") or ""
            self.usage.update(message.get("usage") or {})
            return []
        if kind == "content_block_start":
            return self._block_start(data.get("index", 0), data.get("content_block") or {})
        if kind == "content_block_delta":
            return self._block_delta(data.get("index", 0), data.get("delta") or {})
        if kind == "message_delta":
            self.usage.update({k: v for k, v in (data.get("usage") or {}).items() if v is not None})
            reason = finish_reason((data.get("delta") or {}).get("stop_reason"))
            return self._content({}, reason) if reason else []
        if kind == "message_stop":
            self.finished = True
            return [{**self._base(), "choices": [], "usage": to_usage(self.usage)}]
        if kind == "error":
            error = data.get("error") or {}
            message = error.get("message") or orjson.dumps(error).decode()
            raise ProviderError(
                error_kind(error.get("type"), message), f"upstream {self.where} sent an error in the stream: {message}"
            )
        return []  # ping, content_block_stop and event types added later

    def _block_start(self, index: int, block: dict[str, Any]) -> list[dict[str, Any]]:
        if block.get("type") == "tool_use":
            position = self.tool_index.setdefault(index, len(self.tool_index))
            arguments = orjson.dumps(block["input"]).decode() if block.get("input") else ""
            call = {
                "index": position,
                "id": block.get("id"),
                "type": "function",
                "function": {"name": block.get("name"), "arguments": arguments},
            }
            return self._content({"tool_calls": [call]})
        if block.get("type") == "text" and block.get("text"):
            return self._content({"content": block["text"]})
        return []

    def _block_delta(self, index: int, delta: dict[str, Any]) -> list[dict[str, Any]]:
        kind = delta.get("type")
        if kind == "text_delta" and delta.get("text"):
            return self._content({"content": delta["text"]})
        if kind == "input_json_delta" and delta.get("partial_json"):
            position = self.tool_index.setdefault(index, len(self.tool_index))
            return self._content(
                {"tool_calls": [{"index": position, "function": {"arguments": delta["partial_json"]}}]}
            )
        if kind == "thinking_delta" and delta.get("thinking"):
            return self._content({"reasoning_content": delta["thinking"]})
        return []

    def _content(self, delta: dict[str, Any], reason: str | None = None) -> list[dict[str, Any]]:
        chunks = []
        if not self.started:
            self.started = True
            chunks.append(self._chunk({"role": "assistant", "content": ""}))
        chunks.append(self._chunk(delta, reason))
        return chunks

    def _chunk(self, delta: dict[str, Any], reason: str | None = None) -> dict[str, Any]:
        return {**self._base(), "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}]}

    def _base(self) -> dict[str, Any]:
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model}
