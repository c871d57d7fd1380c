"""Checks on OpenAI-style request bodies: only what the gateway needs to route them, with messages that
say what is wrong. Everything else passes through to the provider untouched."""

from __future__ import annotations

from typing import Any

from stackwright.core.errors import InvalidInput

_ROLES = {"system", "developer", "user", "assistant", "tool", "function"}
MAX_TOKENS = 10_000_000  # far above any model's output, low enough that a local model never sizes a buffer by it
MAX_CHOICES = 128  # OpenAI's own cap on `n`


def _invalid(message: str, param: str, hint: str | None = None) -> InvalidInput:
    return InvalidInput(message, hint=hint, details={"param": param}, code="invalid_request")


def _check_model(body: Any) -> None:
    if not isinstance(body, dict):
        raise _invalid("The request body must be a JSON object.", "body")
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise _invalid("`model` is required: the name of a model in this project's gateway.", "model",
                       "List them with GET /v1/models.")  # fmt: skip


def check_chat(body: Any) -> None:
    _check_model(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _invalid("`messages` must be a non-empty list of {role, content} objects.", "messages")
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise _invalid(f"messages[{index}] must be an object with `role` and `content`.", f"messages.{index}")
        role = message.get("role")
        if role not in _ROLES:
            raise _invalid(f"messages[{index}].role is {role!r}; use one of {', '.join(sorted(_ROLES))}.", f"messages.{index}.role")
        content = message.get("content")
        if content is not None and not isinstance(content, str | list):
            raise _invalid(f"messages[{index}].content must be a string or a list of content parts.", f"messages.{index}.content")
    if "stream" in body and not isinstance(body["stream"], bool):
        raise _invalid("`stream` must be true or false.", "stream")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise _invalid("`stream_options` must be an object such as {\"include_usage\": true}.", "stream_options")
    for name in ("temperature", "top_p"):
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise _invalid(f"`{name}` must be a number.", name)
    for name, most in (("max_tokens", MAX_TOKENS), ("max_completion_tokens", MAX_TOKENS), ("n", MAX_CHOICES)):
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most):
            raise _invalid(f"`{name}` must be an integer from 1 to {most}.", name)
    if body.get("metadata") is not None and not isinstance(body["metadata"], dict):
        raise _invalid("`metadata` must be an object of string values.", "metadata")


def check_embeddings(body: Any) -> None:
    _check_model(body)
    value = body.get("input")
    if isinstance(value, str):
        if not value:
            raise _invalid("`input` must not be empty.", "input")
        return
    if not isinstance(value, list) or not value:
        raise _invalid("`input` must be a string or a non-empty list of strings.", "input")
    if len(value) > 2048:
        raise _invalid(f"`input` has {len(value)} items; send at most 2048 per request.", "input")


def request_tags(body: dict[str, Any], headers: Any) -> list[str]:
    """Routing tags from the `X-Stackwright-Tags` header (comma-separated) and `metadata.tags`."""
    tags = [t.strip() for t in (headers.get("x-stackwright-tags") or "").split(",") if t.strip()]
    metadata = body.get("metadata")
    if isinstance(metadata, dict):
        extra = metadata.get("tags")
        if isinstance(extra, str):
            tags.extend(t.strip() for t in extra.split(",") if t.strip())
        elif isinstance(extra, list):
            tags.extend(str(t) for t in extra if str(t).strip())
    return sorted(set(tags))
