"""Budgets (USD per UTC day and month) and rate limits (requests and tokens per UTC minute) of API keys
and models, enforced in process and shared through the database.

One ``Enforcer`` per app (``app.state.limits``). ``await admit(project_id, key_id, model)`` before a
model call returns a ``Ticket`` or raises ``LimitExceeded`` (429); ``await settle(ticket, cost_usd,
tokens)`` after it, also when it failed (with what it cost, usually 0).

How the counters stay correct across processes without writing to the database per request: each
capped counter's row in ``gateway_counters`` says what is ``used`` and what is ``leased``. Far from
the cap, a process leases a share of the remaining allowance with a conditional UPDATE and admits
requests from it in memory; usage goes back to the row in batches every ``flush_interval_s``. Near
the cap (little allowance left for the recent per-request usage), the process gives its lease back
and admits each request with a conditional UPDATE of the row itself (``used + leased < cap``), and
writes each settled request through at once. Leases and in-flight reservations count against the
cap, so processes together can never admit more than the cap allows; costs are known only after a
call, so with sequential traffic a budget is overshot by at most the last admitted request.

Each process also keeps its share of ``leased`` in a row of its own (its ``holder`` id) with a
heartbeat; after ``stale_holder_s`` of silence (kill -9, a lost machine) any process gives that share
back. Once a counter is seen at its cap, further requests are refused from memory until the period
or the cap changes, so a client hammering past its limit costs the database no more than the stamp reads below.

Limits are exact across processes from the moment a change is acknowledged: every change bumps the
project's stamp (a counter row); a process admits on a stamp only for ``stamp_trust_s`` after it began
reading it, reads it again before admitting once that ran out (and the limits, when it moved), and the
change waits that long before it is acknowledged (see stamps). Money and
tokens are reserved at the recent per-request usage; while a subject's usage per request is not known
yet, a process admits one such request at a time (the probe) and the others wait for its cost, so
requests of unknown cost overshoot a budget by at most one per process.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass

from stackwright.core.db import Database
from stackwright.core.periodic import PeriodicTask
from stackwright.gateway.limits import store
from stackwright.gateway.limits.cache import LimitsCache, ProjectLimits
from stackwright.gateway.limits.errors import limit_exceeded
from stackwright.gateway.limits.local import (
    DB,
    FREE,
    Counter,
    CounterKey,
    Hold,
    Ticket,
    next_estimate,
    observe_row,
    return_held,
    set_cap,
    settle_hold,
    take_local,
    undo_local,
)
from stackwright.gateway.limits.spec import COUNTERS, period_bounds, to_nano
from stackwright.gateway.limits.stamps import STAMP_TRUST_S
from stackwright.gateway.limits.store import Refused

__all__ = ["Enforcer"]

log = logging.getLogger("stackwright.gateway.limits")

_GRANT_ROUNDS = 3  # lease attempts per admission before falling back to an exact reservation
_SWEEP_INTERVAL_S = 10.0
_HEARTBEAT_INTERVAL_S = 30.0
_MAINTENANCE_INTERVAL_S = 60.0


def _holder_id() -> str:
    """This enforcer's name on the shares it holds: host, process and a random part (unique per instance)."""
    import os
    import secrets
    import socket

    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"[:64]


_NO_CAPS: dict[tuple[str, str], int] = {}
_MAX_SLOT_SETS = 10_000


class _AwaitProbe(Exception):
    """A counter's usage per request is not known yet and its probe is in flight: wait for its cost."""

    def __init__(self, counter: Counter, probe: Future):
        super().__init__()
        self.counter, self.probe = counter, probe


@dataclass(slots=True)
class _Slot:
    """One counter of a subject in the periods holding a given minute, looked up once per minute rather
    than per request. ``free`` is the hold of an uncapped admission (it carries no per-request state)."""

    metric: str
    period: str
    key: CounterKey
    end: int
    counter: Counter
    estimate_key: tuple[str, str, str, str]
    free: Hold


def _end_probes(ticket: Ticket) -> None:
    """The ticket's cost is known (or it was not admitted): requests waiting for it go on. Under the lock."""
    for counter, probe in ticket.probes:
        if counter.probe is probe:
            counter.probe = None
        if not probe.done():
            probe.set_result(None)
    ticket.probes.clear()


class Enforcer:
    """Admits and settles gateway requests against budgets and rate limits; see the module docstring.

    ``clock`` gives wall time in unix seconds (UTC periods); tests inject one. A background thread
    flushes usage, refills leases and returns idle ones; it starts with the first admission (or
    ``start()``). Call ``close()`` / ``await aclose()`` on shutdown.
    """

    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], float] = time.time,
        flush_interval_s: float = 0.2,
        idle_return_s: float = 1.0,
        max_wait_s: float = 2.0,
        probe_wait_s: float = 30.0,
        stamp_trust_s: float = STAMP_TRUST_S,
        stale_holder_s: float = 600.0,
    ):
        self.db = db
        self.clock = clock
        self.flush_interval_s = flush_interval_s
        self.idle_return_s = idle_return_s
        self.max_wait_s = max_wait_s  # how long a refused request waits for other processes' leases to come back
        self.probe_wait_s = probe_wait_s  # how long a request waits for a probe's cost (a probe never settled: it goes too)
        self.stale_holder_s = stale_holder_s  # a process silent this long is dead: its leases are given back
        self.holder = _holder_id()
        self._lock = threading.Lock()  # guards the state below; held for microseconds, never across I/O
        self._flush_lock = threading.Lock()  # one flush at a time, so deltas are never applied twice
        self._counters: dict[CounterKey, Counter] = {}
        self._slots: dict[tuple[str, str, str, int], list[_Slot]] = {}  # (project, scope, subject, minute) -> slots
        self._estimates: dict[tuple[str, str, str, str], int] = {}  # recent per-request usd/tokens per subject
        self._cache = LimitsCache(db, stamp_trust_s)  # at most STAMP_TRUST_S: changes to limits wait that long
        self._dirty: set[CounterKey] = set()
        self._holding: set[CounterKey] = set()
        self._refills: set[CounterKey] = set()
        self._background = _Background(self)
        self._next_sweep = 0.0
        self._next_heartbeat = 0.0
        self._next_maintenance = 0.0

    # -- the request path ------------------------------------------------------------------------

    async def admit(self, project_id: str, key_id: str | None, model: str) -> Ticket:
        """Reserve one request against the key's and the model's limits; LimitExceeded (429) if one is reached."""
        self.start()
        started = time.monotonic()
        rounds = 0
        while True:
            limits = await self._cache.get(project_id)  # each round: waits may outlast the stamp's trust
            now = self.clock()
            try:
                plan = self._plan(project_id, key_id, model, limits, now, allow_grants=rounds < _GRANT_ROUNDS)
                if isinstance(plan, Ticket):
                    return plan
                grants, exact, ticket = plan
                if ticket is None:  # leases to take first
                    rounds += 1
                    await asyncio.to_thread(self._grant, grants, now)
                    continue
                await self._reserve_in_thread(exact, now, ticket)
                return ticket
            except _AwaitProbe as waiting:
                await self._await_probe(waiting.counter, waiting.probe)
            except Refused as refused:
                cap = refused.cap
                if refused.used < cap and refused.leased > 0 and time.monotonic() - started < self.max_wait_s:
                    # Allowance is leased by other processes or reserved by requests in flight: they give
                    # idle leases back within about idle_return_s; wait for that rather than refuse early.
                    await asyncio.sleep(min(0.1, self.flush_interval_s))
                    continue
                name = limits.names.get((refused.key[1], refused.key[2]))
                raise limit_exceeded(refused.key, cap, refused.used, refused.leased, now, name) from None

    async def settle(self, ticket: Ticket | None, cost_usd: float | None, tokens: int | None) -> None:
        """Charge what the request actually cost (0 for a failed call that cost nothing). Idempotent.
        Near a cap the usage is written to the database before this returns, so the next request, in
        any process, sees it: call it before the response's last byte goes out."""
        urgent = self._settle_local(ticket, cost_usd, tokens)
        if urgent:
            try:
                await asyncio.to_thread(self.flush, urgent)
            except Exception:  # the deltas stay queued; the background flush retries them
                log.warning("could not write settled usage through to the database; retrying in the background", exc_info=True)

    def _settle_local(self, ticket: Ticket | None, cost_usd: float | None, tokens: int | None) -> list[CounterKey]:
        """Charge the ticket in memory; returns the counters to write through now."""
        if ticket is None or ticket.settled:
            return []
        ticket.settled = True
        usd = to_nano(cost_usd) if isinstance(cost_usd, (int, float)) and math.isfinite(cost_usd) and cost_usd > 0 else 0
        tokens = int(tokens) if isinstance(tokens, (int, float)) and math.isfinite(tokens) and tokens > 0 else 0
        urgent: list[CounterKey] = []
        with self._lock:
            for hold in ticket.holds:
                metric = hold.key[3]
                if metric == "requests":
                    continue
                actual = usd if metric == "usd" else tokens
                if settle_hold(self._counter(hold.key, hold.end), hold, actual):
                    urgent.append(hold.key)
                self._dirty.add(hold.key)
                if hold.key[4] == "minute":
                    self._learn(hold.key, actual)
            _end_probes(ticket)
        return urgent

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the background thread (idempotent; admissions start it too)."""
        self._background.start_thread()

    def close(self) -> None:
        """Stop the background thread, give every lease back and flush all usage."""
        self._background.stop_thread(timeout_s=10)
        self._cache.close()
        with self._lock:
            for key in list(self._holding):
                counter = self._counters.get(key)
                if counter is not None and counter.held:
                    return_held(counter)
                    self._dirty.add(key)
            self._holding.clear()
        try:
            self.flush()
        except Exception:
            log.warning("could not flush gateway usage on shutdown", exc_info=True)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

    def flush(self, keys: Iterable[CounterKey] | None = None) -> None:
        """Write pending usage (of ``keys``, or all) to the shared counters now."""
        with self._flush_lock:
            for _ in range(2):  # a second pass writes leases given back because a counter turned out near its cap
                if not self._flush_once(keys):
                    return

    # -- planning (memory only, under the lock) --------------------------------------------------

    def _plan(
        self, project_id: str, key_id: str | None, model: str, limits: ProjectLimits, now: float, allow_grants: bool
    ) -> Ticket | tuple[list, list, Ticket | None]:
        """A ticket admitted from memory, or the database work needed first: leases to take (grants),
        or exact reservations (the ticket then holds the local part, to undo if the database refuses)."""
        minute = math.floor(now)
        minute -= minute % 60
        subjects = (("key", key_id), ("model", model)) if key_id else (("model", model),)
        mono = time.monotonic()
        local: list[_Slot | tuple[Counter, CounterKey, int]] = []
        grants: list[tuple[CounterKey, int, int, int]] = []
        exact: list[tuple[CounterKey, int, int, int, bool]] = []
        probes: list[Counter] = []
        estimates = self._estimates
        with self._lock:
            for scope, subject in subjects:
                caps = limits.caps.get((scope, subject), _NO_CAPS)
                slots = self._slots.get((project_id, scope, subject, minute)) or self._new_slots(project_id, scope, subject, minute)
                for slot in slots:
                    counter = slot.counter
                    cap = caps.get((slot.metric, slot.period)) if caps else None
                    if counter.cap != cap and set_cap(counter, cap):
                        self._dirty.add(slot.key)
                    if counter.exhausted and counter.cap is not None:  # at its cap for the rest of the period: no need to ask the database
                        raise Refused(slot.key, counter.used, counter.leased, counter.cap)
                    if cap is None:
                        local.append(slot)  # counted only
                        continue
                    metric, key, end = slot.metric, slot.key, slot.end
                    amount = 1 if metric == "requests" else estimates.get(slot.estimate_key)
                    if amount is None:  # usage per request not known yet: one request at a time finds it out
                        if counter.probe is not None:
                            raise _AwaitProbe(counter, counter.probe)
                        probes.append(counter)
                        amount = 0
                    counter.touched = mono
                    if not counter.exact and counter.held >= max(amount, 1):
                        local.append((counter, key, amount))
                    elif not counter.exact and allow_grants:
                        grants.append((key, end, cap, amount))
                    else:
                        exact.append((key, end, cap, amount, metric == "requests"))
            if grants:
                return grants, [], None
            ticket = Ticket(project_id, key_id, model)
            for counter in probes:
                counter.probe = Future()
                ticket.probes.append((counter, counter.probe))
            holds, dirty = ticket.holds, self._dirty
            for entry in local:
                if isinstance(entry, _Slot):  # uncapped: count the request, nothing to reserve
                    if entry.metric == "requests":
                        entry.counter.d_used += 1
                    holds.append(entry.free)
                    dirty.add(entry.key)
                    continue
                counter, key, amount = entry
                holds.append(take_local(counter, key, amount))
                dirty.add(key)
                if counter.cap is not None and counter.held * 2 < counter.granted:
                    self._refills.add(key)
            for key, end, _cap, amount, _ in exact:
                ticket.holds.append(Hold(key, end, DB, amount))
        return ticket if not exact else ([], exact, ticket)

    def _undo(self, ticket: Ticket | None) -> None:
        if ticket is None:
            return
        with self._lock:
            for hold in ticket.holds:
                if hold.kind != DB:
                    undo_local(self._counter(hold.key, hold.end), hold)
            _end_probes(ticket)

    async def _await_probe(self, counter: Counter, probe: Future) -> None:
        """Wait until the probe's cost is known (or it was refused); after ``probe_wait_s`` (a request that
        was never settled) the next request becomes the probe."""
        try:
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(probe)), self.probe_wait_s)
        except TimeoutError:
            with self._lock:
                if counter.probe is probe:
                    counter.probe = None
                    probe.set_result(None)

    def _new_slots(self, project_id: str, scope: str, subject: str, minute: int) -> list[_Slot]:
        """The subject's counters for the periods holding ``minute`` (made if missing), under the lock."""
        if len(self._slots) >= _MAX_SLOT_SETS:
            self._slots.clear()
        slots = []
        for metric, period in COUNTERS:
            start, end = period_bounds(period, minute)
            key = (project_id, scope, subject, metric, period, start)
            slots.append(_Slot(metric, period, key, end, self._counter(key, end), key[:4], Hold(key, end, FREE, 0)))
        self._slots[(project_id, scope, subject, minute)] = slots
        return slots

    def _counter(self, key: CounterKey, end: int) -> Counter:
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = Counter(end)
        return counter

    def _estimate(self, key: CounterKey) -> int:
        return 1 if key[3] == "requests" else self._estimates.get(key[:4], 0)

    def _learn(self, key: CounterKey, actual: int) -> None:
        self._estimates[key[:4]] = next_estimate(self._estimates.get(key[:4], 0), actual)

    # -- database work (in worker threads, never under the lock) ---------------------------------

    def _grant(self, grants: list[tuple[CounterKey, int, int, int]], now: float) -> None:
        self._flush_pending([item[0] for item in grants])
        results = []
        with self.db.write() as session:
            for key, end, cap, estimate in sorted(grants):
                results.append((key, end, cap, *store.grant(session, key, end, cap, estimate, int(now), self.holder)))
        with self._lock:
            for key, end, cap, granted, used, leased in results:
                counter = self._counter(key, end)
                self._refills.discard(key)
                if counter.cap != cap:  # the limit changed meanwhile: give this lease back
                    counter.d_leased -= granted
                    self._dirty.add(key)
                    continue
                counter.used, counter.leased = used, leased
                if granted:
                    counter.held += granted
                    counter.granted = granted
                    self._holding.add(key)
                else:
                    counter.exact = True
                    if counter.held:
                        return_held(counter)
                        self._dirty.add(key)

    async def _reserve_in_thread(self, items: list[tuple[CounterKey, int, int, int, bool]], now: float, ticket: Ticket) -> None:
        """Exact reservation in a worker thread. On refusal or error the ticket's local holds are undone;
        if the caller is cancelled meanwhile, a reservation that went through is released."""
        future = asyncio.ensure_future(asyncio.to_thread(self._reserve, items, now))
        try:
            await asyncio.shield(future)
        except asyncio.CancelledError:
            future.add_done_callback(lambda done: self._abandon(ticket, done))
            raise
        except BaseException:
            self._undo(ticket)
            raise

    def _abandon(self, ticket: Ticket, done: asyncio.Future) -> None:
        if done.cancelled() or done.exception() is not None:
            self._undo(ticket)
        else:
            self._settle_local(ticket, 0, 0)  # written by the background flush

    def _reserve(self, items: list[tuple[CounterKey, int, int, int, bool]], now: float) -> None:
        self._flush_pending([item[0] for item in items])
        try:
            with self.db.write() as session:
                rows = store.reserve(session, items, int(now), self.holder)
        except Refused as refused:
            with self._lock:
                counter = self._counters.get(refused.key)
                if counter is not None:
                    gave_back = observe_row(counter, refused.used, refused.leased, self._estimate(refused.key))
                    if counter.held:  # our own lease must not be what keeps us waiting
                        return_held(counter)
                        gave_back = True
                    if gave_back:
                        self._dirty.add(refused.key)
            if refused.key in self._dirty:
                self.flush([refused.key])
            raise
        with self._lock:
            for key, (used, leased) in rows.items():
                counter = self._counters.get(key)
                if counter is not None and observe_row(counter, used, leased, self._estimate(key)):
                    self._dirty.add(key)

    def _flush_pending(self, keys: list[CounterKey]) -> None:
        """Usage counted here but not yet in the rows (e.g. from before a cap was set) goes first, so the
        conditional updates that follow see it."""
        with self._lock:
            pending = [key for key in keys if (c := self._counters.get(key)) is not None and (c.d_used or c.d_leased)]
        if pending:
            self.flush(pending)

    def _flush_once(self, keys: Iterable[CounterKey] | None) -> bool:
        """One batched upsert of pending deltas. True if it gave leases back (flush again)."""
        with self._lock:
            chosen = list(self._dirty) if keys is None else list(keys)
            batch = []
            for key in chosen:
                self._dirty.discard(key)
                counter = self._counters.get(key)
                if counter is not None and (counter.d_used or counter.d_leased):
                    batch.append((key, counter.end, counter.d_used, counter.d_leased))
                    counter.d_used = counter.d_leased = 0
        if not batch:
            return False
        try:
            with self.db.write() as session:
                rows = store.add_deltas(session, batch, int(self.clock()), self.holder)
        except BaseException:
            with self._lock:
                for key, end, d_used, d_leased in batch:
                    counter = self._counter(key, end)
                    counter.d_used += d_used
                    counter.d_leased += d_leased
                    self._dirty.add(key)
            raise
        again = False
        with self._lock:
            for key, (used, leased) in rows.items():
                counter = self._counters.get(key)
                if counter is not None and observe_row(counter, used, leased, self._estimate(key)):
                    self._dirty.add(key)
                    again = True
        return again

    # -- the background thread -------------------------------------------------------------------

    def _tick(self) -> None:
        self._refill()
        self._return_idle()
        self.flush()
        mono = time.monotonic()
        if mono >= self._next_sweep:
            self._next_sweep = mono + _SWEEP_INTERVAL_S
            self._sweep()
        if mono >= self._next_heartbeat:
            self._next_heartbeat = mono + _HEARTBEAT_INTERVAL_S
            self._heartbeat()
        if mono >= self._next_maintenance:
            self._next_maintenance = mono + _MAINTENANCE_INTERVAL_S
            self._maintain()

    def _refill(self) -> None:
        with self._lock:
            wanted, self._refills = self._refills, set()
            grants = []
            for key in wanted:
                counter = self._counters.get(key)
                if counter is not None and counter.cap is not None and not counter.exact and counter.held * 2 < counter.granted:
                    grants.append((key, counter.end, counter.cap, self._estimate(key)))
        if grants:
            self._grant(grants, self.clock())

    def _return_idle(self) -> None:
        """Leases unused for idle_return_s go back, so other processes can use that allowance."""
        mono = time.monotonic()
        with self._lock:
            for key in list(self._holding):
                counter = self._counters.get(key)
                if counter is None or counter.held <= 0:
                    self._holding.discard(key)
                elif mono - counter.touched > self.idle_return_s:
                    return_held(counter)
                    self._dirty.add(key)
                    self._holding.discard(key)

    def _sweep(self) -> None:
        """Forget local counters of periods that ended (once nothing about them is pending)."""
        now = self.clock()
        with self._lock:
            for key, counter in list(self._counters.items()):
                pending = counter.held or counter.inflight or counter.d_used or counter.d_leased or key in self._dirty
                if counter.end < now - 5 and not pending:
                    del self._counters[key]
                    self._slots.clear()  # slots refer to counters: none may keep one that is gone

    def _heartbeat(self) -> None:
        with self.db.write() as session:  # keeps the shares of leases in use and requests in flight ours
            store.heartbeat(session, self.holder, self.clock())

    def _maintain(self) -> None:
        """Give back leases of dead processes; forget counters of periods that ended long ago."""
        with self.db.write() as session:
            reclaimed = store.reclaim_stale_holders(session, self.clock(), self.stale_holder_s)
            store.purge_counters(session, self.clock())
        if reclaimed:
            log.info("gave back %d lease(s) of gateway processes that stopped without returning them", reclaimed)


class _Background(PeriodicTask):
    """The enforcer's background work on the shared periodic base, in a thread: it starts with the first
    admission wherever that happens (a server, a CLI command's in-process gateway)."""

    name = "stackwright-limits"

    def __init__(self, enforcer: Enforcer):
        super().__init__(enforcer.flush_interval_s)
        self.enforcer = enforcer

    def run_pass(self) -> None:
        self.enforcer._tick()
