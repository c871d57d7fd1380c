"""A fake LLM upstream speaking the real protocols over real HTTP on loopback: OpenAI chat completions
(streamed and not), embeddings and models, and Anthropic messages (streamed and not).

Replies are deterministic: ``echo: <last user text>``, usage from word counts; a forced tool choice
answers with a tool call; ``response_format`` json_object/json_schema answers with a JSON object
``{"echo": ...}``. Faults are scripted per model name and consumed one step per request
(then "ok" forever; the model ``*`` scripts every model without a script of its own)::

    POST /_script {"model": "m", "steps": [{"status": 500}, {"status": 429, "retry_after": 1}, "ok"]}

Steps (keys combine; ``delay_s`` applies first): ``"ok"``; ``{"status": 500, "message": "..."}``
(``retry_after`` seconds or HTTP-date string, ``retry_after_ms``); ``{"status": 400,
"context_length": true}``; ``{"delay_s": 2}``; ``{"malformed": true}`` (invalid JSON, or an invalid
first event when streaming); ``{"cut_after_chunks": 2}`` (drop the connection after two events, or
mid-body when not streaming); ``{"error_event_after_chunks": 2}`` (an error event in the stream);
``{"end_after_chunks": 2}`` (end the stream cleanly, but without its end marker);
``{"close": true}`` (drop the connection without answering); ``{"json": {...}, "status": 200}``
(answer exactly this body).

``GET /_requests`` lists the requests received (method, path, headers, body, client address), ``POST /_reset`` clears
scripts and requests. Run alone (for benchmarks):
``python tests/gateway/fake_upstream.py --port 9000 --latency-ms 5``. In tests: ``FakeUpstream``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import socket
import struct
import threading
import time
from collections import deque
from typing import Any, Self

import orjson

JSON = [(b"content-type", b"application/json")]
SSE = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
DEFAULT_MODELS = ("fake-model", "fake-embed")
CONTEXT_MESSAGES = {
    "openai": "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.",
    "anthropic": "prompt is too long: 210000 tokens > 200000 maximum",
}
OPENAI_ERROR_CODES = {401: "invalid_api_key", 404: "model_not_found", 429: "rate_limit_exceeded"}
ANTHROPIC_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                         404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
                         500: "api_error", 529: "overloaded_error"}  # fmt: skip


class FakeState:
    """Scripts, recorded requests and settings, shared by the server thread and the test thread."""

    def __init__(self, latency_s: float = 0.0, api_key: str | None = None, record: int = 1000):
        self.latency_s = latency_s
        self.api_key = api_key
        self.models = list(DEFAULT_MODELS)
        self.scripts: dict[str, deque[Any]] = {}
        self.requests: deque[dict[str, Any]] = deque(maxlen=record or None)
        self.recording = record > 0
        self.lock = threading.Lock()
        self.ids = itertools.count(1)

    def script(self, model: str, steps: list[Any]) -> None:
        with self.lock:
            self.scripts[model] = deque(steps)

    def next_step(self, model: str) -> dict[str, Any] | None:
        if not self.scripts:
            return None
        with self.lock:
            steps = self.scripts.get(model) or self.scripts.get("*")
            step = steps.popleft() if steps else "ok"
        return None if step == "ok" else step

    def record(self, scope: dict[str, Any], body: Any) -> None:
        if self.recording:
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            entry = {"method": scope["method"], "path": scope["path"], "headers": headers, "body": body,
                     "client": list(scope.get("client") or ())}  # fmt: skip
            with self.lock:
                self.requests.append(entry)

    def recorded(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.requests)

    def reset(self) -> None:
        with self.lock:
            self.scripts.clear()
            self.requests.clear()


class FakeApp:
    """The raw ASGI callable (no framework: the benchmark needs the fake to be cheap)."""

    def __init__(self, state: FakeState):
        self.state = state

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        raw = await _read_body(receive)
        path = scope["path"]
        if path.startswith("/_"):
            return await self.control(scope["method"], path, raw, send)
        route = path[3:] if path.startswith("/v1/") else path
        if route == "/models":
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake-upstream"} for m in self.state.models]
            return await send_json(send, 200, {"object": "list", "data": data})
        flavor = "anthropic" if route == "/messages" else "openai"
        if route not in ("/chat/completions", "/embeddings", "/messages") or scope["method"] != "POST":
            return await send_error(send, flavor, 404, f"no route {scope['method']} {path}")
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return await send_error(send, flavor, 400, "the body is not valid JSON")
        self.state.record(scope, body)
        if not self.authorized(flavor, scope["headers"]):
            return await send_error(send, flavor, 401, "invalid api key")
        step = self.state.next_step(str(body.get("model")))
        if self.state.latency_s:
            await asyncio.sleep(self.state.latency_s)
        if step and await self.fault_answered(step, flavor, receive, send):
            return
        problem = validate(route, body)
        if problem:
            return await send_error(send, flavor, 400, problem)
        number = next(self.state.ids)
        if route == "/embeddings":
            return await send_json(send, 200, embeddings(body))
        if route == "/messages":
            reply = make_reply(body, "anthropic")
            if body.get("stream"):
                return await send_events(send, anthropic_events(body, reply, number), step, flavor)
            return await send_json(send, 200, anthropic_message(body, reply, number), step)
        reply = make_reply(body, "openai")
        if body.get("stream"):
            return await send_events(send, openai_events(body, reply, number), step, flavor)
        return await send_json(send, 200, openai_completion(body, reply, number), step)

    def authorized(self, flavor: str, headers: list[tuple[bytes, bytes]]) -> bool:
        if not self.state.api_key:
            return True
        wanted = (
            (b"x-api-key", self.state.api_key.encode())
            if flavor == "anthropic"
            else (b"authorization", b"Bearer " + self.state.api_key.encode())
        )
        return wanted in headers

    async def fault_answered(self, step: dict[str, Any], flavor: str, receive: Any, send: Any) -> bool:
        """Act out ``step``; True when the request is answered (or dropped) by it."""
        if step.get("delay_s") and await _client_left(receive, step["delay_s"]):
            return True
        if step.get("close"):
            await drop_connection(send)
            return True
        if "json" in step:
            await send_json(send, step.get("status", 200), step["json"], headers=_retry_headers(step))
            return True
        if step.get("status"):
            await send_error(send, flavor, step["status"], _step_message(step, flavor), _retry_headers(step))
            return True
        return False

    async def control(self, method: str, path: str, raw: bytes, send: Any) -> None:
        if path == "/_script" and method == "POST":
            spec = orjson.loads(raw)
            self.state.script(spec["model"], spec.get("steps") or [])
        elif path == "/_reset" and method == "POST":
            self.state.reset()
        elif path == "/_requests" and method == "GET":
            return await send_json(send, 200, self.state.recorded())
        else:
            return await send_json(send, 404, {"error": {"message": f"no route {method} {path}"}})
        await send_json(send, 200, {"ok": True})


# -- replies ------------------------------------------------------------------------------------------


def make_reply(body: dict[str, Any], flavor: str) -> dict[str, Any]:
    """What the fake model says: text or a tool call, the finish reason and the token counts."""
    messages = body.get("messages") or []
    last = _last_user_text(messages)
    prompt_words = sum(len(_text(m.get("content")).split()) for m in messages) + len(_text(body.get("system")).split())
    tool = _forced_tool(body, flavor)
    mentioned = None if tool else _mentioned_tool(body, last)
    reply: dict[str, Any] = {"prompt_tokens": prompt_words, "stop_sequence": None, "finish": "stop"}
    if tool or mentioned:
        arguments = orjson.dumps({"echo": last}).decode()
        reply.update(text=f"I will call {mentioned}." if mentioned else "", finish="tool_calls")
        call_id = f"call_{hashlib.md5(last.encode()).hexdigest()[:12]}"
        reply["tool"] = {"id": call_id, "name": tool or mentioned, "arguments": arguments}
        reply["completion_tokens"] = len(arguments.split()) + len(reply["text"].split())
        return reply
    text = f"echo: {last}"
    response_format = body.get("response_format") or {}
    if response_format.get("type") in ("json_object", "json_schema"):
        schema = (response_format.get("json_schema") or {}).get("name")
        text = orjson.dumps({"echo": last, **({"schema": schema} if schema else {})}).decode()
    stops = body.get("stop") if flavor == "openai" else body.get("stop_sequences")
    for stop in [stops] if isinstance(stops, str) else stops or []:
        if stop and stop in text:
            text, reply["stop_sequence"] = text[: text.index(stop)], stop
    words = text.split(" ")
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if limit and len(words) > limit:
        text, reply["finish"] = " ".join(words[:limit]), "length"
    reply.update(text=text, tool=None, completion_tokens=len(text.split()))
    return reply


def openai_completion(body: dict[str, Any], reply: dict[str, Any], number: int) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply["text"] or None}
    if reply["tool"]:
        message["tool_calls"] = [_openai_call(reply["tool"], reply["tool"]["arguments"])]
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": reply["finish"]}
    return {"id": f"chatcmpl-fake-{number}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model"), "system_fingerprint": "fake", "choices": [choice],
            "usage": _usage(reply)}  # fmt: skip


def openai_events(body: dict[str, Any], reply: dict[str, Any], number: int) -> list[bytes]:
    base = {"id": f"chatcmpl-fake-{number}", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": body.get("model"), "system_fingerprint": "fake"}  # fmt: skip
    with_usage = bool((body.get("stream_options") or {}).get("include_usage"))

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        data = {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        return b"data: " + orjson.dumps({**data, "usage": None} if with_usage else data) + b"\n\n"

    events = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"content": piece}) for piece in _pieces(reply["text"])]
    if reply["tool"]:
        tool, arguments = reply["tool"], reply["tool"]["arguments"]
        events.append(chunk({"tool_calls": [{**_openai_call(tool, ""), "index": 0}]}))
        for half in _halves(arguments):
            events.append(chunk({"tool_calls": [{"index": 0, "function": {"arguments": half}}]}))
    events.append(chunk({}, reply["finish"]))
    if with_usage:
        events.append(b"data: " + orjson.dumps({**base, "choices": [], "usage": _usage(reply)}) + b"\n\n")
    return events + [b"data: [DONE]\n\n"]


def anthropic_message(body: dict[str, Any], reply: dict[str, Any], number: int) -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"type": "text", "text": reply["text"]}] if reply["text"] else []
    if reply["tool"]:
        tool = reply["tool"]
        content.append(
            {"type": "tool_use", "id": tool["id"], "name": tool["name"], "input": orjson.loads(tool["arguments"])}
        )
    usage = {"input_tokens": reply["prompt_tokens"], "output_tokens": reply["completion_tokens"]}
    return {"id": f"msg_fake_{number}", "type": "message", "role": "assistant", "model": body.get("model"),
            "content": content, "stop_reason": _stop_reason(reply), "stop_sequence": reply["stop_sequence"],
            "usage": usage}  # fmt: skip


def anthropic_events(body: dict[str, Any], reply: dict[str, Any], number: int) -> list[bytes]:
    start = {"id": f"msg_fake_{number}", "type": "message", "role": "assistant", "model": body.get("model"),
             "content": [], "stop_reason": None, "stop_sequence": None,
             "usage": {"input_tokens": reply["prompt_tokens"], "output_tokens": 1}}  # fmt: skip
    events = [_event("message_start", {"message": start})]
    index = 0
    if reply["text"]:
        events.append(_event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}))
        events.append(_event("ping", {}))
        for piece in _pieces(reply["text"]):
            events.append(_event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": piece}}))
        events.append(_event("content_block_stop", {"index": 0}))
        index = 1
    if reply["tool"]:
        tool = reply["tool"]
        block = {"type": "tool_use", "id": tool["id"], "name": tool["name"], "input": {}}
        events.append(_event("content_block_start", {"index": index, "content_block": block}))
        for half in ["", *_halves(tool["arguments"])]:
            delta = {"type": "input_json_delta", "partial_json": half}
            events.append(_event("content_block_delta", {"index": index, "delta": delta}))
        events.append(_event("content_block_stop", {"index": index}))
    delta = {"stop_reason": _stop_reason(reply), "stop_sequence": reply["stop_sequence"]}
    events.append(_event("message_delta", {"delta": delta, "usage": {"output_tokens": reply["completion_tokens"]}}))
    return events + [_event("message_stop", {})]


def embeddings(body: dict[str, Any]) -> dict[str, Any]:
    """Deterministic unit vectors from a hash of each input; ``dimensions`` (default 8) and
    ``encoding_format`` (float or base64, little-endian float32) are honoured."""
    given = body.get("input")
    inputs = [given] if isinstance(given, str) or (given and isinstance(given[0], int)) else given or []
    dims = body.get("dimensions") or 8
    data, words = [], 0
    for index, item in enumerate(inputs):
        text = item if isinstance(item, str) else orjson.dumps(item).decode()
        words += len(text.split())
        raw = hashlib.shake_128(text.encode()).digest(dims * 2)
        vector = [int.from_bytes(raw[i : i + 2], "little") / 32767.5 - 1.0 for i in range(0, dims * 2, 2)]
        norm = sum(v * v for v in vector) ** 0.5 or 1.0
        vector = [v / norm for v in vector]
        if body.get("encoding_format") == "base64":
            vector = base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode()  # type: ignore[assignment]
        data.append({"object": "embedding", "index": index, "embedding": vector})
    usage = {"prompt_tokens": words, "total_tokens": words}
    return {"object": "list", "data": data, "model": body.get("model"), "usage": usage}


def validate(route: str, body: dict[str, Any]) -> str | None:
    """The checks the real APIs make that a translation bug would trip."""
    if route == "/embeddings":
        return None if body.get("input") else "input: field required"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: must be a non-empty list"
    if route == "/chat/completions":
        if body.get("stream_options") and not body.get("stream"):
            return "The 'stream_options' parameter is only allowed when 'stream' is enabled."
        return None
    if not body.get("max_tokens"):
        return "max_tokens: Field required"
    tool_uses: set[str] = set()
    for number, message in enumerate(messages):
        if message.get("role") not in ("user", "assistant"):
            return f"messages.{number}.role: Input should be 'user' or 'assistant'"
        blocks = message["content"] if isinstance(message.get("content"), list) else []
        for block in blocks:
            if block.get("type") == "text" and not block.get("text"):
                return f"messages.{number}: text content blocks must be non-empty"
            if block.get("type") == "tool_result" and block.get("tool_use_id") not in tool_uses:
                return f"messages.{number}: tool_result block(s) without a matching tool_use in the previous message"
        tool_uses = {b.get("id") for b in blocks if b.get("type") == "tool_use"}
    return None


# -- sending --------------------------------------------------------------------------------------------


async def send_json(send: Any, status: int, data: Any, step: dict[str, Any] | None = None,
                    headers: list[tuple[bytes, bytes]] | None = None) -> None:  # fmt: skip
    payload = orjson.dumps(data)
    if step and step.get("malformed"):
        payload = b'{"id": "broken", "choices": [ this is not json'
    length = [(b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": JSON + length + (headers or [])})
    if step and step.get("cut_after_chunks") is not None:
        await send({"type": "http.response.body", "body": payload[: len(payload) // 2], "more_body": True})
        return await drop_connection(send)
    await send({"type": "http.response.body", "body": payload})


async def send_error(
    send: Any, flavor: str, status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    if flavor == "anthropic":
        kind = ANTHROPIC_ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
        error: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": message}}
    else:
        code = OPENAI_ERROR_CODES.get(status)
        if message == CONTEXT_MESSAGES["openai"]:
            code = "context_length_exceeded"
        kind = "server_error" if status >= 500 else "requests" if status == 429 else "invalid_request_error"
        error = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    await send_json(send, status, error, headers=headers)


async def send_events(send: Any, events: list[bytes], step: dict[str, Any] | None, flavor: str) -> None:
    """Send an event stream one event per write, acting out stream faults of ``step``."""
    step = step or {}
    if step.get("malformed"):
        events = [b"data: {this is not json\n\n", *events[1:]]
    cut, error_at, end_at = (step.get(k) for k in ("cut_after_chunks", "error_event_after_chunks", "end_after_chunks"))
    await send({"type": "http.response.start", "status": 200, "headers": SSE})
    for number, event in enumerate(events):
        if number == cut:
            return await drop_connection(send)
        if number == error_at:
            await send({"type": "http.response.body", "body": _error_event(flavor), "more_body": True})
            break
        if number == end_at:
            break
        await send({"type": "http.response.body", "body": event, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def drop_connection(send: Any) -> None:
    """Close the TCP connection without finishing the response (uvicorn's transport, reached through
    the bound ``send``); falls back to raising, which makes uvicorn drop it too."""
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise ConnectionAbortedError("fake upstream drops this connection")
    transport.close()
    for _ in range(20):  # until uvicorn has seen the connection go, so it does not complain
        if getattr(cycle, "disconnected", True):
            break
        await asyncio.sleep(0)


def _error_event(flavor: str) -> bytes:
    if flavor == "anthropic":
        return _event("error", {"error": {"type": "overloaded_error", "message": "Overloaded"}})
    error = {"message": "The server had an error while processing your request.", "type": "server_error"}
    return b"data: " + orjson.dumps({"error": error}) + b"\n\n"


def _event(kind: str, data: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps({"type": kind, **data}) + b"\n\n"


# -- small helpers --------------------------------------------------------------------------------------


async def _read_body(receive: Any) -> bytes:
    message = await receive()
    body = message.get("body", b"")
    while message.get("more_body"):
        message = await receive()
        body += message.get("body", b"")
    return body


async def _client_left(receive: Any, seconds: float) -> bool:
    """Wait ``seconds``; True if the client hung up meanwhile."""
    try:
        message = await asyncio.wait_for(receive(), seconds)
    except TimeoutError:
        return False
    return message.get("type") == "http.disconnect"


def _step_message(step: dict[str, Any], flavor: str) -> str:
    if step.get("context_length"):
        return CONTEXT_MESSAGES[flavor]
    return step.get("message") or f"scripted failure {step['status']}"


def _retry_headers(step: dict[str, Any]) -> list[tuple[bytes, bytes]]:
    headers = []
    if step.get("retry_after") is not None:
        headers.append((b"retry-after", str(step["retry_after"]).encode()))
    if step.get("retry_after_ms") is not None:
        headers.append((b"retry-after-ms", str(step["retry_after_ms"]).encode()))
    return headers


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") in ("user", "tool"):
            return _text(message.get("content"))
    return ""


def _text(content: Any) -> str:
    """Plain text of OpenAI or Anthropic content (strings, text parts, tool results)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    texts = []
    for part in content:
        if part.get("type") == "text":
            texts.append(part.get("text") or "")
        elif part.get("type") == "tool_result":
            texts.append(_text(part.get("content")))
    return " ".join(texts)


def _forced_tool(body: dict[str, Any], flavor: str) -> str | None:
    tools = body.get("tools") or []
    choice = body.get("tool_choice")
    if not tools or not choice:
        return None
    names = [t["function"]["name"] if flavor == "openai" else t["name"] for t in tools]
    if flavor == "openai":
        if choice == "required":
            return names[0]
        return choice["function"]["name"] if isinstance(choice, dict) else None
    if choice.get("type") == "any":
        return names[0]
    return choice.get("name") if choice.get("type") == "tool" else None


def _mentioned_tool(body: dict[str, Any], last: str) -> str | None:
    """With tool_choice auto, a tool named in the last user message is called (after a sentence)."""
    choice = body.get("tool_choice")
    if choice in ("none", {"type": "none"}):
        return None
    for tool in body.get("tools") or []:
        name = tool["function"]["name"] if "function" in tool else tool.get("name")
        if name and f"call {name}" in last:
            return name
    return None


def _openai_call(tool: dict[str, Any], arguments: str) -> dict[str, Any]:
    return {"id": tool["id"], "type": "function", "function": {"name": tool["name"], "arguments": arguments}}


def _usage(reply: dict[str, Any]) -> dict[str, int]:
    prompt, completion = reply["prompt_tokens"], reply["completion_tokens"]
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _stop_reason(reply: dict[str, Any]) -> str:
    if reply["finish"] == "tool_calls":
        return "tool_use"
    if reply["finish"] == "length":
        return "max_tokens"
    return "stop_sequence" if reply["stop_sequence"] else "end_turn"


def _pieces(text: str) -> list[str]:
    words = text.split(" ") if text else []
    return [w + " " for w in words[:-1]] + words[-1:]


def _halves(text: str) -> list[str]:
    return [text[: len(text) // 2], text[len(text) // 2 :]]


# -- running it -----------------------------------------------------------------------------------------


class FakeUpstream:
    """The fake on a free loopback port, served by uvicorn in a background thread::

    with FakeUpstream() as fake:
        fake.base_url          # http://127.0.0.1:PORT/v1
        fake.script("m", [{"status": 500}, "ok"])
        fake.requests()        # [{"method", "path", "headers", "body", "client"}, ...]
        fake.reset()
    """

    def __init__(self, *, latency_ms: float = 0.0, api_key: str | None = None, record: int = 1000,
                 host: str = "127.0.0.1", port: int = 0):  # fmt: skip
        self.state = FakeState(latency_ms / 1000, api_key, record)
        self.app = FakeApp(self.state)
        self.host, self.port = host, port
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def script(self, model: str, steps: list[Any]) -> None:
        self.state.script(model, steps)

    def requests(self) -> list[dict[str, Any]]:
        return self.state.recorded()

    def reset(self) -> None:
        self.state.reset()

    def start(self) -> FakeUpstream:
        sock = _listen(self.host, self.port)
        self.port = sock.getsockname()[1]
        self._server = _server(self.app)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fake upstream did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(10)
            self._server = self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _listen(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(4096)  # connectable (queued) from now on, before uvicorn starts accepting
    return sock


def _server(app: FakeApp) -> Any:
    import uvicorn

    config = uvicorn.Config(app, http="httptools", lifespan="off", log_config=None, access_log=False,
                            timeout_graceful_shutdown=1, backlog=4096, server_header=False, date_header=False)  # fmt: skip
    return uvicorn.Server(config)


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="A fake OpenAI/Anthropic upstream on loopback.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="fixed delay added to every model call")
    parser.add_argument("--api-key", default=None, help="require this key (Bearer or x-api-key)")
    parser.add_argument("--record", type=int, default=1000, help="how many requests GET /_requests keeps (0: none)")
    args = parser.parse_args()
    fake = FakeUpstream(latency_ms=args.latency_ms, api_key=args.api_key, record=args.record, host=args.host)
    sock = _listen(args.host, args.port)
    fake.port = sock.getsockname()[1]
    print(fake.base_url, flush=True)
    _server(fake.app).run(sockets=[sock])


if __name__ == "__main__":
    main()
