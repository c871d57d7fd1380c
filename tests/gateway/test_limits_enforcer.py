"""The limits enforcer in one process, on SQLite and Postgres: budgets, rpm, tpm, UTC roll-over (with an
injected clock), failed calls, zero caps, changed limits, and that far from a cap no SQL runs per request."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import event, select

from stackwright.auth.actors import SYSTEM
from stackwright.auth.models import ApiKey, Project
from stackwright.core.db import Database
from stackwright.gateway.limits.enforcer import Enforcer
from stackwright.gateway.limits.errors import LimitExceeded
from stackwright.gateway.limits.local import Ticket
from stackwright.gateway.limits.models import GatewayCounter
from stackwright.gateway.limits.service import replace_model_limits, set_key_limits
from stackwright.gateway.limits.spec import LimitSpec
from stackwright.gateway.limits.stamps import STAMP_TRUST_S, wait_for_every_process

T0 = datetime(2026, 3, 15, 12, 0, 30, tzinfo=UTC).timestamp()


def run(coro):
    return asyncio.run(coro)


class Clock:
    def __init__(self, at: float = T0):
        self.at = at

    def __call__(self) -> float:
        return self.at

    def set(self, *args: int) -> None:
        self.at = datetime(*args, tzinfo=UTC).timestamp()


@dataclass
class Ctx:
    db: Database
    project_id: str
    key_id: str
    key_name: str


@pytest.fixture
def ctx(prepared: Database) -> Ctx:
    with prepared.read() as s:
        project = s.scalar(select(Project).where(Project.name == "default"))
        key = s.scalar(select(ApiKey).where(ApiKey.project_id == project.id))
        return Ctx(prepared, project.id, key.id, key.name)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def enforcer(ctx: Ctx, clock: Clock):
    limits = Enforcer(ctx.db, clock=clock, flush_interval_s=0.05, stamp_trust_s=0)  # reads the stamp at every admission
    yield limits
    limits.close()


def key_limits(ctx: Ctx, wait: bool = False, **changes) -> None:
    """Change the key's limits; ``wait``: as the API and CLI do, return once every process applies them
    (enforcers made with stamp_trust_s=0 do at once)."""
    with ctx.db.write() as s:
        set_key_limits(s, SYSTEM, s.get(ApiKey, ctx.key_id), changes)
    if wait:
        wait_for_every_process(s)


def model_limits(ctx: Ctx, **specs: dict) -> None:
    with ctx.db.write() as s:
        replace_model_limits(s, ctx.project_id, specs)


def call(enforcer: Enforcer, ctx: Ctx, cost: float = 0.0, tokens: int = 0, model: str = "m", key: str | None = "") -> Ticket:
    """One gateway request: admit, then settle with what it cost."""

    async def go() -> Ticket:
        ticket = await enforcer.admit(ctx.project_id, ctx.key_id if key == "" else key, model)
        await enforcer.settle(ticket, cost, tokens)
        return ticket

    return run(go())


def admitted_until_refused(enforcer: Enforcer, ctx: Ctx, limit: int = 1000, **kwargs) -> tuple[int, LimitExceeded]:
    for n in range(limit):
        try:
            call(enforcer, ctx, **kwargs)
        except LimitExceeded as exc:
            return n, exc
    raise AssertionError(f"no refusal after {limit} requests")


def rows(ctx: Ctx, holder: str | None = "", **where) -> list[GatewayCounter]:
    """Counter rows: the shared ones (holder ''), a process's shares (its holder id), or all (None)."""
    with ctx.db.read() as s:
        query = select(GatewayCounter).where(GatewayCounter.project_id == ctx.project_id)
        if holder is not None:
            query = query.where(GatewayCounter.holder == holder)
        for name, value in where.items():
            query = query.where(getattr(GatewayCounter, name) == value)
        return list(s.scalars(query))


@contextmanager
def statements_run(ctx: Ctx) -> Iterator[list[str]]:
    """The SQL statements sent to the database inside the block."""
    statements: list[str] = []

    def listener(*args) -> None:
        statements.append(args[2])

    event.listen(ctx.db.engine, "before_cursor_execute", listener)
    try:
        yield statements
    finally:
        event.remove(ctx.db.engine, "before_cursor_execute", listener)


def test_daily_budget_admits_until_spent_then_429_names_the_limit_and_reset(ctx, enforcer):
    key_limits(ctx, daily_usd=1.0)
    admitted, exc = admitted_until_refused(enforcer, ctx, cost=0.3)
    assert admitted == 4  # 0, 0.3, 0.6, 0.9 are under $1.00: spent $1.20, over by less than one request
    assert exc.status == 429 and exc.code == "budget_exceeded"
    assert f"key {ctx.key_name!r} ({ctx.key_id})" in exc.message
    assert "$1.20 of its $1.00 daily budget" in exc.message
    assert "resets at 2026-03-16T00:00:00Z" in exc.message
    assert exc.details["retry_after_s"] == 11 * 3600 + 59 * 60 + 30
    assert exc.details == {**exc.details, "limit": "daily_usd", "period": "day", "used": 1.2, "limit_value": 1.0,
                           "scope": "key", "subject": ctx.key_id, "resets_at": "2026-03-16T00:00:00Z"}  # fmt: skip


def test_monthly_budget_of_a_model_applies_to_every_key(ctx, enforcer):
    model_limits(ctx, **{"gpt-x": {"monthly_usd": 0.5}})
    assert admitted_until_refused(enforcer, ctx, cost=0.2, model="gpt-x")[0] == 3
    _, exc = admitted_until_refused(enforcer, ctx, cost=0.2, model="gpt-x", key=None)
    assert exc.code == "budget_exceeded" and "model 'gpt-x'" in exc.message and "monthly budget" in exc.message
    assert "resets at 2026-04-01T00:00:00Z" in exc.message and "gateway.yaml" in exc.message
    call(enforcer, ctx, cost=5.0, model="other")  # other models are not limited


def test_rpm_counts_requests_per_utc_minute(ctx, enforcer, clock):
    key_limits(ctx, rpm=5)
    admitted, exc = admitted_until_refused(enforcer, ctx)
    assert admitted == 5 and exc.code == "rate_limited"
    assert "5 of its 5 requests per minute (rpm)" in exc.message and "resets at 2026-03-15T12:01:00Z" in exc.message
    assert exc.details["retry_after_s"] == 30
    with pytest.raises(LimitExceeded):
        call(enforcer, ctx, model="another")  # a key limit covers every model
    clock.at += 30  # the next UTC minute
    assert admitted_until_refused(enforcer, ctx)[0] == 5


def test_tpm_counts_tokens_per_minute(ctx, enforcer, clock):
    model_limits(ctx, m={"tpm": 1000})
    admitted, exc = admitted_until_refused(enforcer, ctx, tokens=300)
    assert admitted == 4  # 0, 300, 600, 900 tokens used before each: under 1000
    assert exc.code == "rate_limited" and "1,200 of its 1,000 tokens per minute (tpm)" in exc.message
    clock.at += 60
    assert admitted_until_refused(enforcer, ctx, tokens=300)[0] == 4


def test_day_and_month_roll_over_at_utc_midnight(ctx, enforcer, clock):
    key_limits(ctx, daily_usd=1.0, monthly_usd=2.5)
    clock.set(2026, 3, 30, 23, 59, 59)
    assert admitted_until_refused(enforcer, ctx, cost=0.5)[0] == 2
    clock.set(2026, 3, 31, 0, 0, 0)  # a new day, same month
    admitted, exc = admitted_until_refused(enforcer, ctx, cost=0.5)
    assert admitted == 2 and "monthly budget" not in exc.message
    clock.set(2026, 3, 31, 12, 0, 0)
    with pytest.raises(LimitExceeded, match="daily budget"):
        call(enforcer, ctx, cost=0.5)
    key_limits(ctx, daily_usd=None)  # only the month is left: $2.00 of $2.50 spent
    call(enforcer, ctx, cost=0.5)
    with pytest.raises(LimitExceeded, match=r"\$2.50 of its \$2.50 monthly budget.*resets at 2026-04-01T00:00:00Z"):
        call(enforcer, ctx, cost=0.5)
    clock.set(2026, 4, 1, 0, 0, 0)
    assert admitted_until_refused(enforcer, ctx, cost=0.5)[0] == 5


def test_a_failed_call_settled_with_zero_costs_nothing_but_counts_as_a_request(ctx, enforcer):
    key_limits(ctx, daily_usd=0.1, rpm=3)
    ticket = run(enforcer.admit(ctx.project_id, ctx.key_id, "m"))
    run(enforcer.settle(ticket, 0.0, 0))
    run(enforcer.settle(ticket, 5.0, 100))  # a second settle is ignored
    call(enforcer, ctx, cost=0.05)
    call(enforcer, ctx)
    with pytest.raises(LimitExceeded, match="3 of its 3 requests per minute"):
        call(enforcer, ctx)
    enforcer.flush()
    spent = {(r.metric, r.period): r.used for r in rows(ctx, scope="key")}
    assert spent[("usd", "day")] == 50_000_000 and spent[("requests", "minute")] == 3


def test_a_zero_cap_blocks_every_request(ctx, enforcer):
    key_limits(ctx, daily_usd=0)
    with pytest.raises(LimitExceeded, match=r"\$0.00 of its \$0.00 daily budget"):
        call(enforcer, ctx)
    call(enforcer, ctx, key=None)  # model limits only: none


def test_changed_limits_apply_at_the_next_admission(ctx, enforcer):
    key_limits(ctx, rpm=2)
    assert admitted_until_refused(enforcer, ctx)[0] == 2
    key_limits(ctx, rpm=4)
    assert admitted_until_refused(enforcer, ctx)[0] == 2
    key_limits(ctx, rpm=None)
    for _ in range(10):
        call(enforcer, ctx)
    model_limits(ctx, m={"rpm": 0})
    with pytest.raises(LimitExceeded, match="model 'm'"):
        call(enforcer, ctx)
    model_limits(ctx)  # the config no longer limits the model
    call(enforcer, ctx)


def test_while_a_key_s_cost_per_request_is_unknown_one_request_at_a_time_is_admitted(ctx, enforcer):
    """Ten concurrent requests of $0.30 against $1: the first goes alone (its cost was not known), the
    next ones reserve $0.30 each, so exactly four are admitted, as if they had come one by one."""
    key_limits(ctx, daily_usd=1.0)

    async def request() -> bool:
        try:
            ticket = await enforcer.admit(ctx.project_id, ctx.key_id, "m")
        except LimitExceeded:
            return False
        await asyncio.sleep(0.2)  # the model call: the other requests arrive meanwhile
        await enforcer.settle(ticket, 0.3, 0)
        return True

    async def burst() -> list[bool]:
        return await asyncio.gather(*(request() for _ in range(10)))

    assert sum(run(burst())) == 4


def test_a_change_applies_in_every_process_once_acknowledged(ctx, clock):
    key_limits(ctx, rpm=1000)
    processes = [Enforcer(ctx.db, clock=clock, flush_interval_s=3600) for _ in range(2)]  # the default stamp trust
    try:
        for process in processes:
            call(process, ctx)  # the limits are cached
        key_limits(ctx, rpm=0, wait=True)  # no process is told: each reads the new stamp before admitting again
        for process in processes:
            with pytest.raises(LimitExceeded, match="of its 0 requests per minute"):
                call(process, ctx)
    finally:
        for process in processes:
            process.close()


def test_usage_is_counted_for_every_key_and_model_and_leases_are_given_back(ctx, enforcer):
    key_limits(ctx, daily_usd=100.0, rpm=10_000, tpm=10**9)
    for _ in range(30):
        call(enforcer, ctx, cost=0.01, tokens=7)
    call(enforcer, ctx, cost=0.5, tokens=1, model="unlimited", key=None)
    enforcer.close()
    by_key = {(r.scope, r.subject, r.metric, r.period): (r.used, r.leased) for r in rows(ctx)}
    assert by_key[("key", ctx.key_id, "usd", "day")] == (300_000_000, 0)
    assert by_key[("key", ctx.key_id, "requests", "minute")] == (30, 0)
    assert by_key[("key", ctx.key_id, "tokens", "month")] == (210, 0)
    assert by_key[("model", "m", "requests", "day")] == (30, 0)
    assert by_key[("model", "unlimited", "usd", "month")] == (500_000_000, 0)
    assert all(leased == 0 for _used, leased in by_key.values())
    assert [r for r in rows(ctx, holder=None) if r.holder] == []  # no process holds a share any more


def stamp_reads(statements: list[str]) -> int:
    """How many reads of a project's limits stamp (one row of gateway_counters) ``statements`` are; fails on
    any other statement (SQLite's BEGIN of each read aside)."""
    queries = [s for s in statements if s != "BEGIN DEFERRED"]
    assert all(s.startswith("SELECT gateway_counters.project_id, gateway_counters.used \nFROM gateway_counters") for s in queries)
    return len(queries)


def test_far_from_its_caps_a_request_runs_no_sql(ctx, clock):
    limits = Enforcer(ctx.db, clock=clock, flush_interval_s=3600)  # no background flush during the test
    try:
        key_limits(ctx, daily_usd=1000.0, monthly_usd=1000.0, rpm=10**6, tpm=10**9)
        model_limits(ctx, m={"daily_usd": 1000.0, "rpm": 10**6})
        for _ in range(3):  # load limits, take leases, learn the usual cost
            call(limits, ctx, cost=0.01, tokens=100)
        started = time.monotonic()
        with statements_run(ctx) as statements:
            for _ in range(200):
                call(limits, ctx, cost=0.01, tokens=100)
        reads_ahead = 1 + (time.monotonic() - started) / (STAMP_TRUST_S / 2)  # the stamp, read in the background
        assert stamp_reads(statements) <= reads_ahead  # and no counter is read or written
    finally:
        limits.close()
    assert {r.used for r in rows(ctx, scope="key", metric="requests", period="day")} == {203}


def test_once_a_cap_is_reached_refusals_run_no_sql(ctx, clock):
    limits = Enforcer(ctx.db, clock=clock, flush_interval_s=3600)
    try:
        key_limits(ctx, rpm=3)
        assert admitted_until_refused(limits, ctx)[0] == 3  # the refusal that finds the cap asks the database
        with statements_run(ctx) as statements:
            for _ in range(50):
                with pytest.raises(LimitExceeded, match="3 of its 3 requests per minute"):
                    call(limits, ctx)
        assert stamp_reads(statements) <= 2  # at most the stamp, read ahead in the background
        key_limits(ctx, rpm=4, wait=True)  # a higher cap applies as soon as the change is acknowledged
        call(limits, ctx)
    finally:
        limits.close()


def test_settle_accepts_missing_or_odd_usage(ctx, enforcer):
    key_limits(ctx, daily_usd=1.0)
    for cost, tokens in [(None, None), (float("nan"), 3.5), (-1.0, -5), (float("inf"), 0)]:
        run(enforcer.settle(run(enforcer.admit(ctx.project_id, ctx.key_id, "m")), cost, tokens))
    enforcer.flush()
    assert {(r.metric, r.used) for r in rows(ctx, scope="key", period="day")} == {("usd", 0), ("tokens", 3), ("requests", 4)}


def test_limit_spec_reads_gateway_yaml_shapes():
    from stackwright.core.errors import InvalidInput
    from stackwright.gateway.config import LimitsSpec

    assert LimitSpec.of(LimitsSpec(daily_usd=2, tpm=10)) == LimitSpec(daily_usd=2, tpm=10)
    assert LimitSpec.of({"rpm": 3}).caps() == {("requests", "minute"): 3}
    assert LimitSpec.of(None).is_empty()
    for bad in ({"rpm": -1}, {"daily_usd": "ten"}, {"tpm": 1.5}, {"monthly_usd": float("inf")}, {"rpm": True}):
        with pytest.raises(InvalidInput):
            LimitSpec.of(bad)


def test_a_lease_stranded_by_a_dead_process_is_reclaimed_after_an_hour(ctx, clock):
    key_limits(ctx, daily_usd=1.0)
    dead = Enforcer(ctx.db, clock=clock, flush_interval_s=3600)  # its thread never runs: like a kill -9
    call(dead, ctx, cost=0.01)  # it leased a share of the budget and never gives it back
    assert [r.leased for r in rows(ctx, scope="key", metric="usd", period="day")] == [62_500_000]
    assert [r.leased for r in rows(ctx, holder=dead.holder, scope="key", metric="usd", period="day")] == [62_500_000]
    later = Clock(clock.at + 3601)  # same UTC day, an hour on
    alive = Enforcer(ctx.db, clock=later, flush_interval_s=0.05, max_wait_s=5)
    try:
        admitted, exc = admitted_until_refused(alive, ctx, cost=0.01)
        assert admitted == 100 and exc.code == "budget_exceeded"  # the whole budget: the stranded lease came back
        assert rows(ctx, holder=dead.holder) == []
    finally:
        alive.close()
        dead.close()  # a process that comes back late settles what it can without going below zero
    assert [(r.used, r.leased) for r in rows(ctx, scope="key", metric="usd", period="day")] == [(1_010_000_000, 0)]
    assert [r.holder for r in rows(ctx, holder=None, scope="key", metric="usd", period="day")] == [""]
