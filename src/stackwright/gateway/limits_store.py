"""The database side of budgets and rate limits: limit rows, and the shared counters' atomic updates.

Every statement on ``gateway_counters`` is an increment or a conditional UPDATE, so processes never
read-modify-write a counter. Multi-row statements touch rows in primary-key order (no deadlocks on
Postgres). Callers keep transactions tiny: SQLite writers of every process queue on one file lock.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.orm import Session

from stackwright.gateway.limit_models import GatewayCounter, GatewayLimit
from stackwright.gateway.limits_spec import FIELDS, PERIODS, LimitSpec, lease_size, period_bounds

CounterKey = tuple[str, str, str, str, str, int]  # project_id, scope, subject, metric, period, period_start

COUNTERS = GatewayCounter.__table__
_PK = ("project_id", "scope", "subject", "metric", "period", "period_start")
_CHUNK_ROWS = 400  # rows per multi-row upsert (SQLite caps bound parameters)
_KEEP_S = {"minute": 86400, "day": 92 * 86400, "month": 800 * 86400}  # how long ended periods stay readable


class Refused(Exception):
    """A conditional reservation found the counter at its cap (the transaction rolls back)."""

    def __init__(self, key: CounterKey, used: int, leased: int):
        super().__init__(key)
        self.key, self.used, self.leased = key, used, leased


def _insert(session: Session) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def _is_key(key: CounterKey) -> Any:
    return and_(*(COUNTERS.c[name] == value for name, value in zip(_PK, key)))


def _row(key: CounterKey, end: int, used: int, leased: int, now: int) -> dict[str, Any]:
    return {**dict(zip(_PK, key)), "period_end": end, "used": used, "leased": leased, "updated_at": now}


def add_deltas(session: Session, deltas: list[tuple[CounterKey, int, int, int]], now: int) -> dict[CounterKey, tuple[int, int]]:
    """Add (used, leased) deltas to counters, creating rows as needed: [(key, period_end, d_used, d_leased)].
    Returns each counter's (used, leased) after the change."""
    insert = _insert(session)
    out: dict[CounterKey, tuple[int, int]] = {}
    ordered = sorted(deltas, key=lambda d: d[0])
    for i in range(0, len(ordered), _CHUNK_ROWS):
        stmt = insert(COUNTERS).values([_row(key, end, du, dl, now) for key, end, du, dl in ordered[i : i + _CHUNK_ROWS]])
        stmt = stmt.on_conflict_do_update(
            index_elements=list(_PK),
            set_={
                "used": COUNTERS.c.used + stmt.excluded.used,
                "leased": COUNTERS.c.leased + stmt.excluded.leased,
                "updated_at": stmt.excluded.updated_at,
            },
        ).returning(*(COUNTERS.c[name] for name in _PK), COUNTERS.c.used, COUNTERS.c.leased)
        for row in session.execute(stmt):
            out[tuple(row[:6])] = (row[6], row[7])  # type: ignore[index]
    return out


def _ensure(session: Session, key: CounterKey, end: int, now: int) -> None:
    stmt = _insert(session)(COUNTERS).values(_row(key, end, 0, 0, now)).on_conflict_do_nothing(index_elements=list(_PK))
    session.execute(stmt)


def _snapshot(session: Session, key: CounterKey) -> tuple[int, int]:
    used, leased = session.execute(select(COUNTERS.c.used, COUNTERS.c.leased).where(_is_key(key))).one()
    return used, leased


def reserve(session: Session, items: list[tuple[CounterKey, int, int, int, bool]], now: int) -> dict[CounterKey, tuple[int, int]]:
    """Exact admission: for each (key, period_end, cap, amount, count_as_used), if the counter has any
    allowance left (used + leased < cap), add ``amount`` to used (known usage, e.g. a request) or to
    leased (a reservation settled later). Raises Refused on the first counter at its cap."""
    out: dict[CounterKey, tuple[int, int]] = {}
    for key, end, cap, amount, count_as_used in sorted(items, key=lambda item: item[0]):
        _ensure(session, key, end, now)
        change = {"used": COUNTERS.c.used + amount} if count_as_used else {"leased": COUNTERS.c.leased + amount}
        stmt = (
            update(COUNTERS)
            .where(_is_key(key), COUNTERS.c.used + COUNTERS.c.leased < cap)
            .values(**change, updated_at=now)
            .returning(COUNTERS.c.used, COUNTERS.c.leased)
        )
        row = session.execute(stmt).first()
        if row is None:
            raise Refused(key, *_snapshot(session, key))
        out[key] = (row[0], row[1])
    return out


def grant(session: Session, key: CounterKey, end: int, cap: int, estimate: int, now: int) -> tuple[int, int, int]:
    """Lease a share of the remaining allowance with a conditional UPDATE. Returns (granted, used, leased);
    granted is 0 when the counter is near its cap (the caller switches to exact admission)."""
    _ensure(session, key, end, now)
    used, leased = _snapshot(session, key)
    for _ in range(3):  # another process may take allowance between the read and the update
        size = lease_size(cap - used - leased, cap, estimate)
        if size <= 0:
            return 0, used, leased
        stmt = (
            update(COUNTERS)
            .where(_is_key(key), COUNTERS.c.used + COUNTERS.c.leased + size <= cap)
            .values(leased=COUNTERS.c.leased + size, updated_at=now)
            .returning(COUNTERS.c.used, COUNTERS.c.leased)
        )
        row = session.execute(stmt).first()
        if row is not None:
            return size, row[0], row[1]
        used, leased = _snapshot(session, key)
    return 0, used, leased


def current_counters(session: Session, project_id: str, now: float, scope: str | None = None, subject: str | None = None) -> list[Any]:
    """Counter rows of the current UTC minute, day and month."""
    in_current = or_(*(and_(COUNTERS.c.period == p, COUNTERS.c.period_start == period_bounds(p, now)[0]) for p in PERIODS))
    query = select(COUNTERS).where(COUNTERS.c.project_id == project_id, in_current)
    if scope is not None:
        query = query.where(COUNTERS.c.scope == scope)
    if subject is not None:
        query = query.where(COUNTERS.c.subject == subject)
    return list(session.execute(query))


def purge_counters(session: Session, now: float) -> int:
    """Forget counters of periods that ended long ago."""
    old = or_(*(and_(COUNTERS.c.period == p, COUNTERS.c.period_end < int(now) - keep) for p, keep in _KEEP_S.items()))
    return session.execute(delete(COUNTERS).where(old)).rowcount or 0


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


def model_limit_rows(session: Session, project_id: str) -> list[GatewayLimit]:
    return list(session.scalars(select(GatewayLimit).where(GatewayLimit.project_id == project_id, GatewayLimit.scope == "model")))
