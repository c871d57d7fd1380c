"""Helpers for gateway tests: apply a config, build an `openai` SDK client on the in-process app, wait
for a call's trace."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx

from tests.conftest import TEST_API_KEY

FAST_RETRY = {"backoff_s": 0.01, "max_backoff_s": 2.0}


def unique(prefix: str = "m") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def within_one_minute(needed_s: float = 20.0) -> None:
    """Wait for a new UTC minute if this one has less than ``needed_s`` left: per-minute counters (and
    days) must not reset mid-test."""
    left = 60 - time.time() % 60
    if left < needed_s:
        time.sleep(left + 0.2)


def fake_model(base_url: str, upstream_model: str, name: str | None = None, **extra: Any) -> dict[str, Any]:
    """A gateway model with one deployment on the fake upstream."""
    deployment = {"provider": "openai", "base_url": base_url, "model": upstream_model, "timeout_s": extra.pop("timeout_s", 5)}
    return {"name": name or upstream_model, "deployments": [deployment], **extra}


def apply(api: httpx.Client, *models: dict[str, Any], **top: Any) -> dict[str, Any]:
    config = {"models": list(models), "retry": top.pop("retry", FAST_RETRY), **top}
    response = api.put("/api/v1/gateway/config", json={"config": config})
    assert response.status_code == 200, response.text
    return response.json()


def openai_client(app: Any, api_key: str = TEST_API_KEY, **kwargs: Any) -> Any:
    """The official SDK, talking to the app in this process (same request path as over the network)."""
    import openai

    from stackwright.sdk.transport import InProcessTransport

    http = httpx.Client(transport=InProcessTransport(app, raise_app_exceptions=False), base_url="http://stackwright.test")
    return openai.OpenAI(base_url="http://stackwright.test/v1", api_key=api_key, http_client=http, max_retries=0, **kwargs)


def chat(client: Any, model: str, text: str = "hello there", **kwargs: Any) -> Any:
    return client.chat.completions.with_raw_response.create(model=model, messages=[{"role": "user", "content": text}], **kwargs)


def wait_trace(api: httpx.Client, trace_id: str, spans: int = 1, timeout_s: float = 15.0) -> dict[str, Any]:
    """The trace once at least ``spans`` spans are stored (the gateway writes them in the background)."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = api.get(f"/api/v1/traces/{trace_id}")
        if response.status_code == 200 and len(response.json()["spans"]) >= spans:
            return response.json()
        assert time.monotonic() < deadline, f"trace {trace_id} not stored: {response.status_code} {response.text[:300]}"
        time.sleep(0.05)
