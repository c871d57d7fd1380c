"""Provider plumbing without a server: the SSE reader, Retry-After, error bodies, safe URLs."""

from __future__ import annotations

import asyncio
from email.utils import formatdate
from time import time

import orjson
import pytest

from stackwright.gateway.providers.base import (
    AUTH,
    BAD_REQUEST,
    CONTEXT_LENGTH,
    RATE_LIMITED,
    SERVER,
    TIMEOUT,
)
from stackwright.gateway.providers.http import (
    display_url,
    error_from_response,
    retry_after_seconds,
    status_kind,
    upstream_message,
)
from stackwright.gateway.providers.sse import iter_sse


def events(*chunks: bytes) -> list[tuple[str, bytes]]:
    async def source():
        for chunk in chunks:
            yield chunk

    async def main() -> list[tuple[str, bytes]]:
        return [event async for event in iter_sse(source())]

    return asyncio.run(main())


def test_sse_events_split_anywhere_across_reads() -> None:
    stream = b'event: message_start\r\ndata: {"a": 1}\r\n\r\n: keep-alive comment\n\ndata: [DONE]\n\n'
    whole = events(stream)
    assert whole == [("message_start", b'{"a": 1}'), ("", b"[DONE]")]
    assert events(*[stream[i : i + 1] for i in range(len(stream))]) == whole
    assert events(stream[:7], stream[7:30], stream[30:]) == whole


def test_sse_joins_multi_line_data_and_keeps_complete_lines_at_the_end() -> None:
    assert events(b"data: one\ndata: two\n\ndata:x\n") == [("", b"one\ntwo"), ("", b"x")]
    assert events(b'data: {"cut') == []


@pytest.mark.parametrize(
    ("status", "message", "code", "kind"),
    [
        (429, "", None, RATE_LIMITED),
        (500, "", None, SERVER),
        (529, "Overloaded", "overloaded_error", SERVER),
        (401, "", None, AUTH),
        (403, "", None, AUTH),
        (408, "", None, TIMEOUT),
        (400, "This model's maximum context length is 4096 tokens.", None, CONTEXT_LENGTH),
        (400, "whatever", "context_length_exceeded", CONTEXT_LENGTH),
        (400, "prompt is too long: 210000 tokens > 200000 maximum", "invalid_request_error", CONTEXT_LENGTH),
        (400, "the request exceeds the available context size", "exceed_context_size_error", CONTEXT_LENGTH),
        (400, "max_tokens is too large: 10000", None, BAD_REQUEST),
        (404, "model not found", None, BAD_REQUEST),
        (422, "bad field", None, BAD_REQUEST),
    ],
)
def test_status_kinds(status: int, message: str, code: str | None, kind: str) -> None:
    assert status_kind(status, message, code) == kind


def test_retry_after_forms() -> None:
    assert retry_after_seconds({"retry-after": "3"}) == 3.0
    assert retry_after_seconds({"retry-after": "0.5"}) == 0.5
    assert retry_after_seconds({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert 58 < retry_after_seconds({"retry-after": formatdate(time() + 60, usegmt=True)}) <= 61
    assert retry_after_seconds({"retry-after": formatdate(time() - 60, usegmt=True)}) == 0.0
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None


def test_upstream_messages_from_common_error_shapes() -> None:
    assert upstream_message(b'{"error": {"message": "m", "code": "c"}}') == ("m", "c")
    assert upstream_message(b'{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}') == (
        "Overloaded",
        "overloaded_error",
    )
    assert upstream_message(b'{"error": "plain"}') == ("plain", None)
    assert upstream_message(b'{"detail": "fastapi says"}') == ("fastapi says", None)
    assert upstream_message(b"") == ("(empty body)", None)


def test_upstream_error_bodies_are_summarised_not_echoed() -> None:
    assert upstream_message(b"<html>internal admin page: token=abc</html>") == ("(43 bytes, not shown)", None)
    assert upstream_message(b'{"detail": [{"loc": ["body"], "msg": "secret stuff"}]}')[0] == "(54 bytes, not shown)"
    assert upstream_message(b"[1, 2, 3]") == ("(9 bytes, not shown)", None)
    message, code = upstream_message(orjson.dumps({"error": {"message": "x" * 5000, "code": "c" * 5000}}))
    assert message == "x" * 200 + "..." and len(code) == 200
    error = error_from_response(502, {}, b"<html>" + b"internal " * 1000 + b"</html>", "http://h/v1", None)
    assert error.message == "upstream http://h/v1 answered 502: (9013 bytes, not shown)"


def test_error_messages_hide_the_key_and_url_secrets() -> None:
    error = error_from_response(401, {}, b'{"error": {"message": "bad key sk-123"}}', "http://h/v1", "sk-123")
    assert error.message == "upstream http://h/v1 answered 401: bad key ***"
    assert display_url("https://user:pw@example.com:8443/v1?api-key=s") == "https://example.com:8443/v1"
