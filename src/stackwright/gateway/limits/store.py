"""The database side of budgets and rate limits: limit rows, and the shared counters' atomic updates.

Every statement on ``gateway_counters`` is an increment or a conditional UPDATE, so processes never
read-modify-write a counter. Each counter has a shared row (holder '') and, per process holding part of
its ``leased``, a holder row mirroring that share, kept fresh while the process lives; the share of a
process that died is given back by ``reclaim_stale_holders``. Statements touch rows in primary-key
order (no deadlocks on Postgres); callers keep transactions tiny (SQLite writers queue on one lock).
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import and_, case, delete, or_, select, tuple_, update
from sqlalchemy.orm import Session

from stackwright.core.db import rowcount
from stackwright.gateway.limits.models import GatewayCounter, GatewayLimit
from stackwright.gateway.limits.spec import FIELDS, PERIODS, LimitSpec, lease_size, period_bounds
from stackwright.gateway.limits.stamps import BUMPED

CounterKey = tuple[str, str, str, str, str, int]  # project_id, scope, subject, metric, period, period_start

COUNTERS = GatewayCounter.__table__
SHARED = ""  # the holder of the shared row
_KEY = ("project_id", "scope", "subject", "metric", "period", "period_start")
_PK = (*_KEY, "holder")
_CHUNK_ROWS = 400  # rows per multi-row upsert (SQLite caps bound parameters)
_KEEP_S = {"minute": 86400, "day": 92 * 86400, "month": 800 * 86400}  # how long ended periods stay readable


class Refused(Exception):
    """A conditional reservation found the counter at its cap (the transaction rolls back)."""

    def __init__(self, key: CounterKey, used: int, leased: int, cap: int):
        super().__init__(key)
        self.key, self.used, self.leased, self.cap = key, used, leased, cap


def _insert(session: Session) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


def _is_row(key: CounterKey, holder: str = SHARED) -> Any:
    return and_(*(COUNTERS.c[name] == value for name, value in zip(_KEY, key)), COUNTERS.c.holder == holder)


def _row(key: CounterKey, end: int, used: int, leased: int, now: int, holder: str = SHARED) -> dict[str, Any]:
    return {**dict(zip(_KEY, key)), "holder": holder, "period_end": end, "used": used, "leased": leased, "updated_at": now}


def _upsert_adding(session: Session, rows: list[dict[str, Any]]) -> list[Any]:
    """Insert rows, or add their used and leased to the existing ones; returns the rows after the change.
    leased never drops below 0: a process that was taken for dead may still settle a reclaimed share."""
    stmt = _insert(session)(COUNTERS).values(rows)
    added = COUNTERS.c.leased + stmt.excluded.leased
    stmt = stmt.on_conflict_do_update(
        index_elements=list(_PK),
        set_={
            "used": COUNTERS.c.used + stmt.excluded.used,
            "leased": case((added < 0, 0), else_=added),
            "updated_at": stmt.excluded.updated_at,
        },
    ).returning(*(COUNTERS.c[name] for name in _PK), COUNTERS.c.used, COUNTERS.c.leased)
    return list(session.execute(stmt))


def add_deltas(
    session: Session, deltas: list[tuple[CounterKey, int, int, int]], now: int, holder: str
) -> dict[CounterKey, tuple[int, int]]:
    """Add (used, leased) deltas to counters, creating rows as needed: [(key, period_end, d_used, d_leased)];
    ``holder``'s share follows d_leased. Returns each counter's shared (used, leased) after the change."""
    rows = []
    for key, end, d_used, d_leased in sorted(deltas, key=lambda d: d[0]):
        rows.append(_row(key, end, d_used, d_leased, now))
        if d_leased:
            rows.append(_row(key, end, 0, d_leased, now, holder))
    out: dict[CounterKey, tuple[int, int]] = {}
    emptied = []
    for i in range(0, len(rows), _CHUNK_ROWS):
        for row in _upsert_adding(session, rows[i : i + _CHUNK_ROWS]):
            if row[6] == SHARED:
                out[tuple(row[:6])] = (row[7], row[8])
            elif row[8] <= 0:
                emptied.append(tuple(row[:7]))
    for i in range(0, len(emptied), _CHUNK_ROWS):  # a share given back in full: its row goes
        pks = tuple_(*(COUNTERS.c[name] for name in _PK))
        session.execute(delete(COUNTERS).where(pks.in_(emptied[i : i + _CHUNK_ROWS]), COUNTERS.c.leased <= 0))
    return out


def _ensure(session: Session, key: CounterKey, end: int, now: int) -> None:
    stmt = _insert(session)(COUNTERS).values(_row(key, end, 0, 0, now)).on_conflict_do_nothing(index_elements=list(_PK))
    session.execute(stmt)


def _snapshot(session: Session, key: CounterKey) -> tuple[int, int]:
    row = session.execute(select(COUNTERS.c.used, COUNTERS.c.leased).where(_is_row(key))).one()
    return cast("tuple[int, int]", tuple(row))


def reserve(
    session: Session, items: list[tuple[CounterKey, int, int, int, bool]], now: int, holder: str
) -> dict[CounterKey, tuple[int, int]]:
    """Exact admission: for each (key, period_end, cap, amount, count_as_used), if the counter has any
    allowance left (used + leased < cap), add ``amount`` to used (known usage, e.g. a request) or to
    leased (a reservation ``holder`` settles later). Raises Refused on the first counter at its cap."""
    out: dict[CounterKey, tuple[int, int]] = {}
    for key, end, cap, amount, count_as_used in sorted(items, key=lambda item: item[0]):
        _ensure(session, key, end, now)
        change = {"used": COUNTERS.c.used + amount} if count_as_used else {"leased": COUNTERS.c.leased + amount}
        stmt = (
            update(COUNTERS)
            .where(_is_row(key), COUNTERS.c.used + COUNTERS.c.leased < cap)
            .values(**change, updated_at=now)
            .returning(COUNTERS.c.used, COUNTERS.c.leased)
        )
        row = session.execute(stmt).first()
        if row is None:
            raise Refused(key, *_snapshot(session, key), cap)
        if amount and not count_as_used:
            _upsert_adding(session, [_row(key, end, 0, amount, now, holder)])
        out[key] = (row[0], row[1])
    return out


def grant(session: Session, key: CounterKey, end: int, cap: int, estimate: int, now: int, holder: str) -> tuple[int, int, int]:
    """Lease a share of the remaining allowance to ``holder`` with a conditional UPDATE. Returns (granted,
    used, leased); granted is 0 when the counter is near its cap (the caller switches to exact admission)."""
    _ensure(session, key, end, now)
    used, leased = _snapshot(session, key)
    for _ in range(3):  # another process may take allowance between the read and the update
        size = lease_size(cap - used - leased, cap, estimate)
        if size <= 0:
            return 0, used, leased
        stmt = (
            update(COUNTERS)
            .where(_is_row(key), COUNTERS.c.used + COUNTERS.c.leased + size <= cap)
            .values(leased=COUNTERS.c.leased + size, updated_at=now)
            .returning(COUNTERS.c.used, COUNTERS.c.leased)
        )
        row = session.execute(stmt).first()
        if row is not None:
            _upsert_adding(session, [_row(key, end, 0, size, now, holder)])
            return size, row[0], row[1]
        used, leased = _snapshot(session, key)
    return 0, used, leased


def heartbeat(session: Session, holder: str, now: float) -> None:
    """Show that ``holder`` lives: its shares are not reclaimed."""
    session.execute(update(COUNTERS).where(COUNTERS.c.holder == holder, COUNTERS.c.leased != 0).values(updated_at=int(now)))


def reclaim_stale_holders(session: Session, now: float, stale_s: float) -> int:
    """Give back the shares of holders that showed no sign of life for ``stale_s`` (a process killed with
    kill -9 or lost with its machine). Returns how many shares were given back."""
    cutoff = int(now - stale_s)
    stale = and_(COUNTERS.c.holder > SHARED, COUNTERS.c.updated_at < cutoff)
    found = list(session.execute(select(*(COUNTERS.c[name] for name in _PK)).where(stale).order_by(*_PK).limit(1000)))
    reclaimed = 0
    for pk in found:
        key, holder = tuple(pk[:6]), pk[6]
        session.execute(select(COUNTERS.c.leased).where(_is_row(key)).with_for_update())  # shared row first, as everywhere
        gone = session.execute(delete(COUNTERS).where(_is_row(key, holder), stale).returning(COUNTERS.c.leased)).first()
        if gone is not None and gone[0] > 0:
            remaining = COUNTERS.c.leased - gone[0]
            session.execute(update(COUNTERS).where(_is_row(key)).values(leased=case((remaining < 0, 0), else_=remaining)))
            reclaimed += 1
    return reclaimed


def current_counters(session: Session, project_id: str, now: float, scope: str | None = None, subject: str | None = None) -> list[Any]:
    """Shared counter rows of the current UTC minute, day and month."""
    in_current = or_(*(and_(COUNTERS.c.period == p, COUNTERS.c.period_start == period_bounds(p, now)[0]) for p in PERIODS))
    query = select(COUNTERS).where(COUNTERS.c.project_id == project_id, COUNTERS.c.holder == SHARED, in_current)
    if scope is not None:
        query = query.where(COUNTERS.c.scope == scope)
    if subject is not None:
        query = query.where(COUNTERS.c.subject == subject)
    return list(session.execute(query))


def purge_counters(session: Session, now: float) -> int:
    """Forget counters of periods that ended long ago."""
    old = or_(*(and_(COUNTERS.c.period == p, COUNTERS.c.period_end < int(now) - keep) for p, keep in _KEEP_S.items()))
    return rowcount(session.execute(delete(COUNTERS).where(old))) or 0


# -- the limits stamp: which version of a project's limits is current -----------------------------

_STAMP = ("project", "", "limits", "ever", 0)  # scope, subject, metric, period, period_start of a project's stamp row


def bump_stamp(session: Session, project_id: str, now: Any) -> None:
    """Count a change to the project's limits (in the changing transaction): every process reads them
    again before admitting once its trust in the old stamp runs out."""
    key = (project_id, *_STAMP)
    _upsert_adding(session, [_row(key, 0, 1, 0, int(now.timestamp()))])
    session.info[BUMPED] = True  # the committer waits for every process (stamps.wait_for_every_process)


def read_stamps(session: Session, project_ids: list[str]) -> dict[str, int]:
    """{project id: stamp} of the projects whose limits ever changed (others are at stamp 0)."""
    is_stamp = and_(*(COUNTERS.c[name] == value for name, value in zip(_KEY[1:], _STAMP)), COUNTERS.c.holder == SHARED)
    query = select(COUNTERS.c.project_id, COUNTERS.c.used).where(is_stamp, COUNTERS.c.project_id.in_(project_ids))
    return dict(session.execute(query).all())


# -- limit rows -----------------------------------------------------------------------------------


def spec_of(row: GatewayLimit | None) -> LimitSpec:
    if row is None:
        return LimitSpec()
    return LimitSpec(row.daily_usd, row.monthly_usd, row.rpm, row.tpm)


def load_limits(session: Session, project_id: str) -> dict[tuple[str, str], tuple[LimitSpec, str]]:
    """{(scope, subject): (spec, display name)} of a project; a key's display name is its name."""
    from stackwright.auth.models import ApiKey

    query = (
        select(GatewayLimit, ApiKey.name)
        .outerjoin(ApiKey, and_(GatewayLimit.scope == "key", ApiKey.id == GatewayLimit.subject))
        .where(GatewayLimit.project_id == project_id)
    )
    return {(row.scope, row.subject): (spec_of(row), name or row.subject) for row, name in session.execute(query)}


def write_limits(session: Session, project_id: str, scope: str, subject: str, spec: LimitSpec, now: Any) -> None:
    """Store ``spec`` (an empty one deletes the row)."""
    row = session.get(GatewayLimit, (project_id, scope, subject))
    if spec.is_empty():
        if row is not None:
            session.delete(row)
    elif row is None:
        session.add(GatewayLimit(project_id=project_id, scope=scope, subject=subject, updated_at=now, **spec.as_dict()))
    else:
        for name in FIELDS:
            setattr(row, name, getattr(spec, name))
        row.updated_at = now
    session.flush()
    bump_stamp(session, project_id, now)


def model_limit_rows(session: Session, project_id: str) -> list[GatewayLimit]:
    return list(session.scalars(select(GatewayLimit).where(GatewayLimit.project_id == project_id, GatewayLimit.scope == "model")))
