"""Strict JSON request bodies: what the server cannot store or send back is refused with a 400 at the door.

FastAPI parses JSON bodies with the standard library, which accepts text the rest of the stack cannot
handle: an unpaired UTF-16 surrogate (``"\\ud800"``) cannot be encoded for the database or the response,
``NaN``/``Infinity`` are not JSON, and an integer beyond 64 bits cannot be serialized by orjson. Each used
to surface later as a 500. This middleware reads every JSON body (``application/json`` or ``*+json``, not
content-encoded: routes that take gzip decode and parse it themselves, with orjson) and answers 400
``malformed_json`` in the one error shape, naming the problem, before any route runs.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

from stackwright.server.errors import error_response

MIN_INT = -(2**63)
MAX_INT = 2**64 - 1  # what orjson serializes; Postgres JSONB and SQLite's JSON text hold these exactly
_LONG_DIGIT_RUN = re.compile(rb"\d{19,}")  # the only way to spell an integer outside that range
_NOT_FINITE = re.compile(rb"(?<![\w\"])-?(NaN|Infinity)(?![\w\"])")
_SEND_JSON = "Send a JSON object with Content-Type: application/json."


class IntegerOutOfRange(ValueError):
    def __init__(self, text: str):
        super().__init__(text)
        self.text = text


def _header(scope: dict[str, Any], name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return ""


# Routes that parse their own bodies with orjson (which refuses surrogates and NaN and reads big integers as
# floats), and count their own rejections in /metrics.
SELF_PARSING_PATHS = frozenset({"/v1/traces"})


def _is_plain_json(scope: dict[str, Any]) -> bool:
    """A JSON media type that FastAPI would parse (application/json, application/*+json), not content-encoded."""
    if scope.get("path") in SELF_PARSING_PATHS:
        return False
    media = _header(scope, b"content-type").split(";")[0].strip().lower()
    if not media.startswith("application/") or not (media == "application/json" or media.endswith("+json")):
        return False
    return _header(scope, b"content-encoding").strip().lower() in ("", "identity")


def _checked_int(text: str) -> int:
    value = int(text)
    if not MIN_INT <= value <= MAX_INT:
        raise IntegerOutOfRange(text)
    return value


def body_problem(body: bytes) -> str | None:
    """Why this JSON body cannot be accepted, as a message for the caller; None when it can."""
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        hint = ""
        if "surrogate" in exc.msg:
            hint = " Text must be valid Unicode: a \\ud800-\\udfff escape is allowed only as half of a surrogate pair."
        elif _NOT_FINITE.search(body):
            hint = " NaN and Infinity are not JSON: send a finite number, or null."
        return f"The request body is not valid JSON ({exc.msg} at character {exc.pos}).{hint} {_SEND_JSON}"
    if _LONG_DIGIT_RUN.search(body):
        try:
            json.loads(body, parse_int=_checked_int)
        except IntegerOutOfRange as exc:
            shown = exc.text if len(exc.text) <= 40 else f"{exc.text[:20]}...({len(exc.text)} digits)"
            return (
                f"The request body holds the integer {shown}, outside the 64-bit range the server stores exactly "
                f"({MIN_INT} to {MAX_INT}). Send it as a string, or as a float such as 1.5e21."
            )
    return None


class StrictJSONMiddleware:
    """Reads a JSON request body, checks it with ``body_problem``, then hands the same bytes to the app."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not _is_plain_json(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: let the app see it as it would
                await self.app(scope, _replay(message, receive), send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        problem = body_problem(body) if body.strip() else None
        if problem is not None:
            await error_response(400, "malformed_json", problem)(scope, receive, send)
            return
        await self.app(scope, _replay({"type": "http.request", "body": body, "more_body": False}, receive), send)


def _replay(message: dict[str, Any], receive: Any) -> Any:
    """A receive callable that yields the message already read once, then defers to ``receive``."""
    pending = [message]

    async def replayed() -> dict[str, Any]:
        if pending:
            return pending.pop()
        return await receive()

    return replayed
