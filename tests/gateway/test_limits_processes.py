"""Two OS processes, each with its own enforcer, on one database (Postgres, and one SQLite file as with
several workers): a budget is overshot by at most one request's cost, rpm holds, and every lease is
given back. Requests alternate between the processes one at a time, as a client behind a load
balancer would send them; a second test lets both processes send as fast as they can at once."""

from __future__ import annotations

import asyncio
import multiprocessing
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from stackwright.auth.actors import SYSTEM
from stackwright.auth.models import ApiKey, Project
from stackwright.gateway.limits.models import GatewayCounter
from stackwright.gateway.limits.service import set_key_limits

T0 = datetime(2026, 3, 15, 12, 0, 30, tzinfo=UTC).timestamp()


def _serve(conn, settings_json: str, project_id: str, key_id: str) -> None:
    """A child process: one enforcer; answers ("request", cost, tokens) and ("burst", cost) until "stop"."""
    from stackwright.core.config import Settings
    from stackwright.core.db import Database
    from stackwright.gateway.limits.enforcer import Enforcer
    from stackwright.gateway.limits.errors import LimitExceeded

    db = Database(Settings.model_validate_json(settings_json))
    enforcer = Enforcer(db, clock=lambda: T0, flush_interval_s=0.1, max_wait_s=10.0)

    async def request(cost: float, tokens: int) -> str:
        try:
            ticket = await enforcer.admit(project_id, key_id, "m")
        except LimitExceeded as exc:
            return exc.code
        await enforcer.settle(ticket, cost, tokens)
        return "ok"

    async def burst(cost: float) -> int:
        admitted = 0
        while await request(cost, 0) == "ok":
            admitted += 1
        return admitted

    conn.send("ready")
    while True:
        command = conn.recv()
        if command[0] == "stop":
            break
        if command[0] == "request":
            conn.send(asyncio.run(request(command[1], command[2])))
        elif command[0] == "burst":
            conn.send(asyncio.run(burst(command[1])))
    enforcer.close()
    db.dispose()
    conn.send("closed")


class Worker:
    def __init__(self, settings, project_id: str, key_id: str):
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, settings.model_dump_json(), project_id, key_id), daemon=True)
        self.process.start()
        assert self.conn.poll(120), "worker did not start"
        assert self.conn.recv() == "ready"

    def ask(self, *command, timeout: float = 120):
        self.conn.send(command)
        assert self.conn.poll(timeout), f"worker did not answer {command}"
        return self.conn.recv()

    def stop(self) -> None:
        if self.process.is_alive():
            self.ask("stop")
            self.process.join(30)


@pytest.fixture
def workers(settings, prepared):
    with prepared.read() as s:
        project = s.scalar(select(Project).where(Project.name == "default"))
        key = s.scalar(select(ApiKey).where(ApiKey.project_id == project.id))
        ids = project.id, key.id
    started: list[Worker] = []

    def start(**limits) -> tuple[Worker, Worker]:
        with prepared.write() as s:
            set_key_limits(s, SYSTEM, s.get(ApiKey, ids[1]), limits)
        started.extend([Worker(settings, *ids), Worker(settings, *ids)])
        return started[-2], started[-1]

    yield start
    for worker in started:
        worker.stop()
        if worker.process.is_alive():
            worker.process.kill()


def _counter(prepared, metric: str, period: str) -> tuple[int, int]:
    with prepared.read() as s:
        shared = select(GatewayCounter).where(GatewayCounter.holder == "", GatewayCounter.scope == "key")
        row = s.scalar(shared.where(GatewayCounter.metric == metric, GatewayCounter.period == period))
        holders = s.scalars(select(GatewayCounter.holder).where(GatewayCounter.holder != "")).all()
        assert holders == []  # both processes gave their shares back
        return row.used, row.leased


def test_alternating_requests_overshoot_a_shared_budget_by_at_most_one_request(workers, prepared):
    budget, cost = 3.0, 0.007  # far from the cap the processes spend leases in memory; near it, row by row
    a, b = workers(daily_usd=budget)
    admitted, refusals = 0, []
    for turn in range(2 * int(budget / cost)):
        answer = (a, b)[turn % 2].ask("request", cost, 0)
        if answer == "ok":
            admitted += 1
        else:
            refusals.append(answer)
            if len(refusals) == 4:
                break
    spent = admitted * cost
    assert set(refusals) == {"budget_exceeded"} and len(refusals) == 4  # and once refused, never admitted again
    assert budget <= spent <= budget + cost  # not overshot by more than one request, not refused early
    a.stop()
    b.stop()
    assert _counter(prepared, "usd", "day") == (round(spent * 1e9), 0)  # every cent recorded, every lease back


def test_alternating_requests_hold_a_shared_rpm(workers, prepared):
    a, b = workers(rpm=90)
    answers = [(a, b)[turn % 2].ask("request", 0.0, 10) for turn in range(120)]
    assert answers.count("ok") == 90 and set(answers[90:]) == {"rate_limited"}
    a.stop()
    b.stop()
    assert _counter(prepared, "requests", "minute") == (90, 0)


def test_concurrent_bursts_overshoot_a_budget_by_at_most_one_request_per_process(workers, prepared):
    budget, cost = 2.0, 0.01
    a, b = workers(daily_usd=budget)
    a.conn.send(("burst", cost))
    b.conn.send(("burst", cost))
    counts = []
    for worker in (a, b):
        assert worker.conn.poll(300), "burst did not finish"
        counts.append(worker.conn.recv())
    spent = sum(counts) * cost
    assert budget <= spent + 1e-9 <= budget + 2 * cost
    a.stop()
    b.stop()
    assert _counter(prepared, "usd", "day") == (round(spent * 1e9), 0)
