"""The fake upstream itself: run as its own process, scripted over HTTP, speaking the real event orders."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import orjson

from tests.gateway.fake_upstream import FakeUpstream

FAKE = Path(__file__).with_name("fake_upstream.py")


def test_runs_as_its_own_process_and_is_scripted_over_http() -> None:
    process = subprocess.Popen(
        [sys.executable, str(FAKE), "--port", "0", "--latency-ms", "1"], stdout=subprocess.PIPE, text=True
    )
    try:
        base_url = process.stdout.readline().strip()  # type: ignore[union-attr]
        root = base_url.removesuffix("/v1")
        with httpx.Client(timeout=10) as http:
            assert [m["id"] for m in http.get(base_url + "/models").json()["data"]] == ["fake-model", "fake-embed"]
            http.post(root + "/_script", json={"model": "m", "steps": [{"status": 503, "retry_after": 2}]})
            body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
            failed = http.post(base_url + "/chat/completions", json=body)
            assert (failed.status_code, failed.headers["retry-after"]) == (503, "2")
            assert (
                http.post(base_url + "/chat/completions", json=body).json()["choices"][0]["message"]["content"]
                == "echo: hi"
            )
            assert [r["body"]["model"] for r in http.get(root + "/_requests").json()] == ["m", "m"]
            http.post(root + "/_reset")
            assert http.get(root + "/_requests").json() == []
    finally:
        process.terminate()
        process.wait(10)


def test_anthropic_stream_event_order(fake_upstream: FakeUpstream) -> None:
    tools = [{"name": "lookup", "input_schema": {"type": "object"}}]
    body = {"model": "c", "max_tokens": 50, "stream": True, "tools": tools,
            "messages": [{"role": "user", "content": "please call lookup"}]}  # fmt: skip
    text = httpx.post(fake_upstream.url + "/v1/messages", json=body).text
    events = [line.removeprefix("event: ") for line in text.splitlines() if line.startswith("event: ")]
    assert events[0] == "message_start" and events[-2:] == ["message_delta", "message_stop"]
    assert events.count("content_block_start") == events.count("content_block_stop") == 2
    data = [orjson.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]
    assert data[-2]["delta"]["stop_reason"] == "tool_use"


def test_anthropic_validation_catches_translation_mistakes(fake_upstream: FakeUpstream) -> None:
    orphan = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "nope", "content": "x"}]}
    for body, message in [
        ({"model": "c", "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
        ({"model": "c", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]}, "role"),
        ({"model": "c", "max_tokens": 5, "messages": [orphan]}, "tool_use"),
    ]:
        answer = httpx.post(fake_upstream.url + "/v1/messages", json=body)
        assert answer.status_code == 400 and message in answer.json()["error"]["message"]
        assert answer.json()["error"]["type"] == "invalid_request_error"


def test_embeddings_are_deterministic_and_sized(fake_upstream: FakeUpstream) -> None:
    body = {"model": "fake-embed", "input": "same text", "dimensions": 4}
    first = httpx.post(fake_upstream.base_url + "/embeddings", json=body).json()
    second = httpx.post(fake_upstream.base_url + "/embeddings", json=body).json()
    assert first["data"] == second["data"] and len(first["data"][0]["embedding"]) == 4
    assert abs(sum(v * v for v in first["data"][0]["embedding"]) - 1) < 1e-9
