"""No request makes the server allocate, loop, sleep or fan out in proportion to a number in it: every such
number has a maximum. One over it answers a 4xx in the error shape naming the field and the maximum; the
maximum itself (or, where the maximum means hours of work, a realistic value) is still served.

In process on SQLite: the caps are checked before anything touches a database.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest

LOCAL = {"provider": "local", "model": "extractive"}
GGUF = {"provider": "local", "model": "gguf"}
CHAT = {"model": "local/extractive", "messages": [{"role": "user", "content": "When do refunds arrive?"}]}
SPEC = {"name": "caps", "dataset": "cases", "target": {"model": "local/extractive"}, "scorers": ["json_valid"]}


@pytest.fixture
def backend() -> str:
    return "sqlite"


@dataclass(frozen=True)
class Cap:
    id: str
    method: str
    path: str
    over: Any  # the JSON body (or query, for GET) one past the maximum
    within: Any  # the maximum, or a realistic value
    names: tuple[str, ...]  # what the error must say: the field and its maximum
    status: int = 400
    ok: int = 200
    needs: tuple[str, ...] = ()  # datasets to import first


def gateway(**model: Any) -> dict[str, Any]:
    return {"config": {"models": [{"name": "m", "deployments": [LOCAL], **model}]}}


def spec(**fields: Any) -> dict[str, Any]:
    return {"spec": {**SPEC, **fields}}


def rule(scorers: int, sample_rate: float = 0.5) -> dict[str, Any]:
    return {"sample_rate": sample_rate, "scorers": [{"type": "json_valid", "name": f"s{i}"} for i in range(scorers)]}


def policy(checks: int) -> dict[str, Any]:
    return {"name": "p", "input": [{"check": "pii", "action": "flag"}] * checks}


def job(kind: str, **params: Any) -> dict[str, Any]:
    return {"kind": kind, "params": params}


CAPS = [
    # gateway: OpenAI-compatible requests
    Cap("chat.n", "POST", "/v1/chat/completions", {**CHAT, "n": 129}, {**CHAT, "n": 1}, ("n", "128")),
    Cap("chat.max_tokens", "POST", "/v1/chat/completions", {**CHAT, "max_tokens": 10_000_001}, {**CHAT, "max_tokens": 10_000_000},
        ("max_tokens", "10000000")),  # fmt: skip
    Cap("embeddings.input", "POST", "/v1/embeddings", {"model": "local/wordllama", "input": ["a"] * 2049},
        {"model": "local/wordllama", "input": ["a", "b"]}, ("input", "2048")),  # fmt: skip
    # gateway config: what every request through a model loops over, and what a local model sizes
    Cap("gateway.deployments", "PUT", "/api/v1/gateway/config", {"config": {"models": [{"name": "m", "deployments": [LOCAL] * 101}]}},
        {"config": {"models": [{"name": "m", "deployments": [LOCAL] * 100}]}}, ("models.0.deployments", "100")),  # fmt: skip
    Cap("gateway.rules", "PUT", "/api/v1/gateway/config", gateway(rules=[{"when": {"tier": "x"}, "use": "m"}] * 101),
        gateway(rules=[{"when": {"tier": "x"}, "use": "m"}] * 100), ("models.0.rules", "100")),  # fmt: skip
    Cap("gateway.retries", "PUT", "/api/v1/gateway/config", gateway(retries=11), gateway(retries=10), ("models.0.retries", "10")),
    Cap("gateway.cooldown_s", "PUT", "/api/v1/gateway/config", gateway(cooldown_s=3601), gateway(cooldown_s=3600), ("cooldown_s", "3600")),
    Cap("gateway.limits.rpm", "PUT", "/api/v1/gateway/config", gateway(limits={"rpm": 10**12 + 1}), gateway(limits={"rpm": 10**12}),
        ("rpm", "1000000000000")),  # fmt: skip
    Cap("gguf.n_ctx", "PUT", "/api/v1/gateway/config", {"config": {"models": [{"name": "g", "deployments": [{**GGUF, "options": {"n_ctx": 131_073}}]}]}},
        {"config": {"models": [{"name": "g", "deployments": [{**GGUF, "options": {"n_ctx": 131_072}}]}]}}, ("options", "n_ctx", "131072")),  # fmt: skip
    Cap("gguf.n_threads", "PUT", "/api/v1/gateway/config", {"config": {"models": [{"name": "g", "deployments": [{**GGUF, "options": {"n_threads": 257}}]}]}},
        {"config": {"models": [{"name": "g", "deployments": [{**GGUF, "options": {"n_threads": 8}}]}]}}, ("n_threads", "256")),  # fmt: skip
    # evals: runs, their specs, online rules
    Cap("evals.run.repeat", "POST", "/api/v1/evals/runs", {**spec(), "repeat": 101}, {**spec(), "repeat": 100}, ("repeat", "100"),
        status=422, ok=202, needs=("cases",)),  # fmt: skip
    Cap("evals.spec.repeat", "POST", "/api/v1/evals/runs", spec(repeat=101), spec(repeat=2), ("repeat", "100"), ok=202, needs=("cases",)),
    Cap("evals.spec.concurrency", "POST", "/api/v1/evals/runs", spec(concurrency=513), spec(concurrency=512), ("concurrency", "512"),
        ok=202, needs=("cases",)),  # fmt: skip
    Cap("evals.spec.timeout_s", "POST", "/api/v1/evals/runs", spec(timeout_s=3601), spec(timeout_s=3600), ("timeout_s", "3600"),
        ok=202, needs=("cases",)),  # fmt: skip
    Cap("evals.spec.retries", "POST", "/api/v1/evals/runs", spec(retries=11), spec(retries=10), ("retries", "10"), ok=202, needs=("cases",)),
    Cap("evals.spec.scorers", "POST", "/api/v1/evals/runs", spec(scorers=[{"type": "json_valid", "name": f"s{i}"} for i in range(51)]),
        spec(scorers=[{"type": "json_valid", "name": f"s{i}"} for i in range(50)]), ("scorers", "50"), ok=202, needs=("cases",)),  # fmt: skip
    Cap("evals.spec.retrieval_k", "POST", "/api/v1/evals/runs", spec(scorers=[{"type": "retrieval", "k": 1001}]),
        spec(scorers=[{"type": "retrieval", "k": 1000}]), ("k", "1000"), ok=202, needs=("cases",)),  # fmt: skip
    Cap("evals.run.cases", "POST", "/api/v1/evals/runs", {"spec": {**SPEC, "dataset": "big"}, "repeat": 100}, {**spec(), "repeat": 100},
        ("repeat", "2001 items", "200000"), ok=202, needs=("cases", "big")),  # fmt: skip
    Cap("online.scorers", "PUT", "/api/v1/evals/online/rules/r", rule(51), rule(50), ("scorers", "50")),
    Cap("online.sample_rate", "PUT", "/api/v1/evals/online/rules/r", rule(1, sample_rate=1.01), rule(1, sample_rate=1), ("sample_rate", "1")),
    # guardrails: checks every request through a route runs
    Cap("guardrails.policy.checks", "PUT", "/api/v1/guardrails/policies/p", policy(51), policy(50), ("input", "50"), ok=201),
    Cap("guardrails.check.checks", "POST", "/api/v1/guardrails/check", {"text": "hi", "checks": ["pii"] * 51}, {"text": "hi", "checks": ["pii"] * 50},
        ("checks", "50"), status=422),  # fmt: skip
    # jobs: what a job sleeps, loops over and retries
    Cap("jobs.sleep.seconds", "POST", "/api/v1/jobs", job("sleep", seconds=3601), job("sleep", seconds=0.5), ("seconds", "3600"), ok=202),
    Cap("jobs.sleep.ticks", "POST", "/api/v1/jobs", job("sleep", ticks=1001), job("sleep", ticks=1000), ("ticks", "1000"), ok=202),
    Cap("jobs.max_attempts", "POST", "/api/v1/jobs", {**job("noop"), "max_attempts": 21}, {**job("noop"), "max_attempts": 20},
        ("max_attempts", "20"), status=422, ok=202),  # fmt: skip
    Cap("jobs.from_traces.limit", "POST", "/api/v1/jobs", job("datasets.from_traces", name="t", limit=10_001),
        job("datasets.from_traces", name="t", limit=10_000), ("limit", "10000"), ok=202),  # fmt: skip
    Cap("jobs.evals.repeat", "POST", "/api/v1/jobs", job("evals.run", repeat=101, **spec()), job("evals.run", repeat=2, **spec()),
        ("repeat", "100"), ok=202, needs=("cases",)),  # fmt: skip
    # datasets, retrieval, traces
    Cap("datasets.from_traces.limit", "POST", "/api/v1/datasets/t/from-traces", {"limit": 10_001}, {"limit": 10_000}, ("limit", "10000"),
        status=422),  # fmt: skip
    Cap("collections.chunking.size", "POST", "/api/v1/collections", {"name": "c", "chunking": {"size": 8193}},
        {"name": "c", "chunking": {"size": 8192}}, ("size", "8192"), status=422, ok=201),  # fmt: skip
    Cap("traces.limit", "GET", "/api/v1/traces", {"limit": 501}, {"limit": 500}, ("limit", "500"), status=422),
    Cap("traces.retention_days", "PUT", "/api/v1/traces/settings", {"retention_days": 3651}, {"retention_days": 3650},
        ("retention_days", "3650"), status=422),  # fmt: skip
]


def send(api: httpx.Client, cap: Cap, payload: Any) -> httpx.Response:
    if cap.method == "GET":
        return api.get(cap.path, params=payload)
    return api.request(cap.method, cap.path, json=payload)


def import_items(api: httpx.Client, name: str, count: int) -> None:
    items = [{"input": f"When do refunds arrive? ({i})"} for i in range(count)]
    response = api.post(f"/api/v1/datasets/{name}/import", json={"items": items})
    assert response.status_code in (200, 201), response.text


DATASETS = {"cases": 1, "big": 2001}  # big: 2001 items x repeat 100 is one case over an eval run's 200,000


def wait_run(api: httpx.Client, run_id: str, timeout_s: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while (run := api.get(f"/api/v1/evals/runs/{run_id}").json())["status"] == "running":
        assert time.monotonic() < deadline, run
        time.sleep(0.05)
    return run


@pytest.mark.parametrize("cap", CAPS, ids=lambda cap: cap.id)
def test_one_over_the_maximum_is_refused_naming_it_and_the_maximum_is_served(api: httpx.Client, cap: Cap) -> None:
    for name in cap.needs:
        import_items(api, name, DATASETS[name])
    refused = send(api, cap, cap.over)
    assert refused.status_code == cap.status, refused.text
    error = refused.json()["error"]
    assert {"code", "message"} <= set(error) and error["message"], error
    said = orjson.dumps(error).decode()
    for word in cap.names:
        assert word in said, f"{word!r} not in {said}"
    served = send(api, cap, cap.within)
    assert served.status_code == cap.ok, served.text
    if cap.path == "/api/v1/evals/runs":  # the run finishes before the app is closed
        assert wait_run(api, served.json()["id"])["status"] == "completed"


def test_a_gateway_config_through_the_api_may_not_name_a_file_on_the_server(api: httpx.Client) -> None:
    config = {"config": {"models": [{"name": "g", "deployments": [{**GGUF, "options": {"model_path": "/etc/passwd"}}]}]}}
    refused = api.put("/api/v1/gateway/config", json=config)
    assert refused.status_code == 403, refused.text
    error = refused.json()["error"]
    assert error["code"] == "file_not_allowed" and "model_path" in error["message"] and "stackwright gateway apply" in error["message"], error
    assert api.get("/api/v1/gateway/config").json()["revision"] == 0  # nothing was stored
    bundled = {"config": {"models": [{"name": "g", "deployments": [{**GGUF, "options": {"n_ctx": 2048}}]}]}}
    assert api.put("/api/v1/gateway/config", json=bundled).status_code == 200
