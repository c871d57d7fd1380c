"""The in-process side of the counters: what this process holds, reserved and has not yet flushed.

For one counter (a subject's metric in one period), the shared row says ``used`` (settled) and
``leased`` (allowance held by processes or reserved for requests in flight). This process keeps:

- ``held``: leased allowance not yet reserved by any request (part of the row's ``leased``);
- ``inflight``: allowance reserved from ``held`` by admitted requests not yet settled;
- ``d_used`` / ``d_leased``: changes to the row not yet flushed.

A capped counter is in *lease* mode far from its cap (admissions spend ``held``; memory only) and in
*exact* mode near it (every admission is a conditional UPDATE of the row). Uncapped counters only
count. All functions here run under the enforcer's lock and never touch the database.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field

from stackwright.gateway.limits.spec import near_threshold

CounterKey = tuple[str, str, str, str, str, int]  # project_id, scope, subject, metric, period, period_start

FREE, LEASE, DB = "free", "lease", "db"  # how a hold was admitted: uncapped, from this process's lease, in the database


@dataclass(slots=True)
class Counter:
    end: int  # period end, unix seconds
    cap: int | None = None
    exact: bool = False
    exhausted: bool = False  # used >= cap seen: refused from memory until the period or the cap changes
    held: int = 0
    granted: int = 0  # size of the last lease (refill when held falls below half of it)
    inflight: int = 0
    d_used: int = 0
    d_leased: int = 0
    used: int = 0  # the row as last seen
    leased: int = 0
    touched: float = 0.0  # monotonic time of the last admission
    probe: Future | None = None  # done when the request admitted while usage per request was unknown settles


@dataclass(slots=True)
class Hold:
    key: CounterKey
    end: int
    kind: str  # FREE, LEASE or DB
    amount: int  # reserved (requests: 1, counted at admission)


@dataclass
class Ticket:
    """What ``admit`` reserved for one request; pass it to ``settle`` exactly once (later calls do nothing)."""

    project_id: str
    key_id: str | None
    model: str
    holds: list[Hold] = field(default_factory=list, repr=False)
    probes: list[tuple[Counter, Future]] = field(default_factory=list, repr=False)  # counters this request probes
    settled: bool = False


def is_request(key: CounterKey) -> bool:
    return key[3] == "requests"


def return_held(counter: Counter) -> None:
    """Give the unreserved lease back to the row (at the next flush)."""
    counter.d_leased -= counter.held
    counter.held = 0


def set_cap(counter: Counter, cap: int | None) -> bool:
    """Follow a changed limit; a lease taken under the old cap is given back. True if anything changed."""
    if counter.cap == cap:
        return False
    return_held(counter)
    counter.cap, counter.exact, counter.exhausted, counter.granted = cap, False, False, 0
    return True


def take_local(counter: Counter, key: CounterKey, amount: int) -> Hold:
    """Admit from the lease (the caller checked ``held``) or, for an uncapped counter, just count."""
    if counter.cap is None:
        if is_request(key):
            counter.d_used += 1
        return Hold(key, counter.end, FREE, amount)
    counter.held -= amount
    if is_request(key):
        counter.d_used += 1
        counter.d_leased -= 1
    else:
        counter.inflight += amount
    return Hold(key, counter.end, LEASE, amount)


def undo_local(counter: Counter, hold: Hold) -> None:
    """Take back a local admission (another counter refused the request)."""
    if hold.kind == FREE:
        if is_request(hold.key):
            counter.d_used -= 1
        return
    counter.held += hold.amount
    if is_request(hold.key):
        counter.d_used -= 1
        counter.d_leased += 1
    else:
        counter.inflight -= hold.amount


def settle_hold(counter: Counter, hold: Hold, actual: int) -> bool:
    """Charge the actual usage of a settled request. True if the row must be updated now (write-through):
    the request was admitted in the database, or spent more than this process had leased."""
    if is_request(hold.key):
        return False  # counted at admission
    counter.d_used += actual
    if hold.kind == FREE:
        return False
    if hold.kind == DB:
        counter.d_leased -= hold.amount
        return True
    pool = counter.held + hold.amount
    consumed = min(actual, pool)
    counter.held = pool - consumed
    counter.inflight -= hold.amount
    counter.d_leased -= consumed
    return actual > consumed


def observe_row(counter: Counter, used: int, leased: int, estimate: int) -> bool:
    """Take the row's state and switch mode: exact when the remaining allowance is small (the lease goes
    back), lease mode again when it is plentiful. True if the lease was given back (flush again)."""
    counter.used, counter.leased = used, leased
    if counter.cap is None:
        return False
    counter.exhausted = used >= counter.cap  # settled usage only grows within a period
    remaining = counter.cap - used - leased
    threshold = near_threshold(counter.cap, estimate)
    if not counter.exact and remaining < threshold:
        counter.exact = True
        had = counter.held
        return_held(counter)
        return had > 0
    if counter.exact and remaining >= 2 * threshold:
        counter.exact = False
    return False


def next_estimate(previous: int, actual: int) -> int:
    """A recent maximum of per-request usage: jumps up at once, decays slowly."""
    return actual if actual >= previous else previous - (previous - actual) // 8
