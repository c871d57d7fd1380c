"""Budgets and rate limits stay exact across two `stackwright serve` replicas on one database (one SQLite
file, and Postgres) right after they change: a key's limits are set through replica 1, then 200 requests
at concurrency 32 go to both replicas at once.

Requests call the built-in local model, priced by a project price override, so each costs the same
known amount. One pair of servers per backend serves the three scenarios, each with a key of its own.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from tests.conftest import TEST_API_KEY, _pg_execute, postgres_admin_url
from tests.e2e.serverproc import ServerProcess, clean_env, free_ports
from tests.gateway.helpers import within_one_minute

pytestmark = pytest.mark.e2e

MODEL = "local/extractive"
QUESTION = "Context:\n[1] Refunds are possible within 30 days of purchase.\n\nQuestion: How long do I have for a refund?"
PRICE = {"input_per_mtok": 1000.0, "output_per_mtok": 2000.0}
REQUESTS, CONCURRENCY = 200, 32
SLACK = 2  # requests the replicas may serve past a limit together (one each, whose cost was not known yet)


@dataclass
class Pair:
    replicas: list[ServerProcess]
    cost: float  # what one request costs, the same on both replicas

    def new_key(self, name: str) -> tuple[str, str]:
        """A new key of the default project (id, secret), made through replica 1."""
        with self.replicas[0].client(TEST_API_KEY) as api:
            created = api.post("/api/v1/keys", json={"name": f"{name}-{uuid.uuid4().hex[:6]}"})
            assert created.status_code == 201, created.text
            return created.json()["id"], created.json()["key"]

    def set_limits(self, key_id: str, **limits: float | None) -> None:
        """Through replica 1; returns once the change is acknowledged."""
        with self.replicas[0].client(TEST_API_KEY) as api:
            answer = api.put(f"/api/v1/keys/{key_id}/limits", json=limits)
            assert answer.status_code == 200, answer.text


@dataclass
class Answer:
    status: int
    code: str | None
    sent: float  # monotonic time the request was sent
    replica: int


@dataclass
class Traffic:
    answers: list[Answer] = field(default_factory=list)

    def served(self, after: float = float("-inf")) -> int:
        return sum(a.status == 200 for a in self.answers if a.sent > after)


def _chat_body() -> dict:
    return {"model": MODEL, "messages": [{"role": "user", "content": QUESTION}]}


async def _send(clients: list[httpx.AsyncClient], number: int, traffic: Traffic) -> None:
    replica = number % len(clients)
    sent = time.monotonic()
    response = await clients[replica].post("/v1/chat/completions", json=_chat_body(), headers={"X-Stackwright-Cache": "off"})
    code = response.json()["error"]["code"] if response.status_code != 200 else None
    assert response.status_code in (200, 429), response.text
    traffic.answers.append(Answer(response.status_code, code, sent, replica))


async def _fire(pair: Pair, secret: str, count: int, stop: asyncio.Event | None = None, traffic: Traffic | None = None) -> Traffic:
    """``count`` requests (or until ``stop``) at CONCURRENCY, alternating between the replicas."""
    traffic = traffic or Traffic()
    numbers = iter(range(count))
    headers = {"Authorization": f"Bearer {secret}"}
    clients = [httpx.AsyncClient(base_url=r.base_url, headers=headers, timeout=60) for r in pair.replicas]

    async def worker() -> None:
        for number in numbers:
            if stop is not None and stop.is_set():
                return
            await _send(clients, number, traffic)

    try:
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    finally:
        for client in clients:
            await client.aclose()
    return traffic


def _spent(pair: Pair, key_id: str) -> float:
    with pair.replicas[1].client(TEST_API_KEY) as api:
        usage = api.get(f"/api/v1/keys/{key_id}/usage")
        assert usage.status_code == 200, usage.text
        return usage.json()["usage"]["day"]["usd"]


def _start(workdir, database_url: str) -> list[ServerProcess]:
    replicas = [
        ServerProcess(
            workdir / name,
            clean_env(home=workdir / name / "home" if "postgresql" in database_url else workdir / "home",
                      database_url=database_url, init_api_key=TEST_API_KEY),  # fmt: skip
            port,
            name=name,
        )
        for name, port in zip(("replica1", "replica2"), free_ports(2), strict=True)
    ]
    replicas[0].start().wait_ready()  # the first start (migrations, bootstrap) once, then the second replica
    replicas[1].start().wait_ready()
    return replicas


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def pair(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    workdir = tmp_path_factory.mktemp(f"replica-limits-{request.param}")
    dropped = None
    if request.param == "sqlite":
        database_url = f"sqlite:///{workdir / 'home' / 'stackwright.db'}"
    else:
        admin_url = postgres_admin_url()
        name = f"sw_test_{uuid.uuid4().hex[:12]}"
        _pg_execute(admin_url, f"CREATE DATABASE {name}")
        database_url, dropped = admin_url.rsplit("/", 1)[0] + f"/{name}", (admin_url, name)
    replicas = []
    try:
        replicas = _start(workdir, database_url)
        with replicas[0].client(TEST_API_KEY) as api:
            prices = api.get("/api/v1/traces/settings").json().get("prices") or {}
            assert api.put("/api/v1/traces/settings", json={"prices": {**prices, MODEL: PRICE}}).status_code == 200
        costs = []
        for replica in replicas:  # the price override applies on both, and every request costs the same
            with replica.client(TEST_API_KEY) as api:
                answer = api.post("/v1/chat/completions", json=_chat_body(), headers={"X-Stackwright-Cache": "off"})
                assert answer.status_code == 200, answer.text
                costs.append(float(answer.headers["x-stackwright-cost-usd"]))
        assert costs[0] > 0 and costs[0] == costs[1]
        yield Pair(replicas, costs[0])
    finally:
        for replica in replicas:
            replica.kill()
        if dropped is not None:
            _pg_execute(dropped[0], f"DROP DATABASE IF EXISTS {dropped[1]} WITH (FORCE)")


def test_a_new_budget_holds_across_replicas_at_once(pair):
    key_id, secret = pair.new_key("budget")
    budget = 19.5 * pair.cost  # the 20th request reaches it
    pair.set_limits(key_id, daily_usd=budget)
    within_one_minute()
    traffic = asyncio.run(_fire(pair, secret, REQUESTS))
    served = traffic.served()
    assert 20 <= served <= 20 + SLACK, f"{served} served against a budget of 19.5 requests"
    assert {a.code for a in traffic.answers if a.status == 429} == {"budget_exceeded"}
    assert {a.replica for a in traffic.answers if a.status == 200} == {0, 1}  # both replicas served part of it
    assert _spent(pair, key_id) == pytest.approx(served * pair.cost, abs=1e-6)


def test_a_new_rate_limit_holds_across_replicas_at_once(pair):
    key_id, secret = pair.new_key("rpm")
    pair.set_limits(key_id, rpm=20)
    within_one_minute()
    traffic = asyncio.run(_fire(pair, secret, REQUESTS))
    served = traffic.served()
    assert 20 <= served <= 20 + SLACK, f"{served} served against 20 requests per minute"
    assert {a.code for a in traffic.answers if a.status == 429} == {"rate_limited"}


def test_a_budget_set_to_zero_stops_both_replicas_once_acknowledged(pair):
    key_id, secret = pair.new_key("stop")
    within_one_minute()

    async def run() -> tuple[Traffic, float]:
        traffic, stop = Traffic(), asyncio.Event()
        flowing = asyncio.ensure_future(_fire(pair, secret, 100_000, stop, traffic))
        while traffic.served() < 40:  # traffic flows through both replicas
            await asyncio.sleep(0.01)
        await asyncio.to_thread(pair.set_limits, key_id, daily_usd=0)
        acknowledged = time.monotonic()
        while sum(a.sent > acknowledged for a in traffic.answers) < 100:
            assert not flowing.done(), "the traffic stopped early"
            await asyncio.sleep(0.01)
        stop.set()
        await flowing
        return traffic, acknowledged

    traffic, acknowledged = asyncio.run(run())
    after = [a for a in traffic.answers if a.sent > acknowledged]
    assert {a.replica for a in after} == {0, 1}
    assert traffic.served(after=acknowledged) <= SLACK, "requests sent after the change was acknowledged were served"
    assert {a.code for a in after if a.status == 429} == {"budget_exceeded"}
