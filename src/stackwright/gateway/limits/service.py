"""Limits and usage as the API and CLI see them: set a key's limits (audited), replace model limits from
gateway.yaml, read current usage per key and model. No HTTP here; callers own the transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from stackwright.auth import audit
from stackwright.auth.actors import Actor
from stackwright.auth.models import ApiKey
from stackwright.core.clock import utcnow
from stackwright.core.errors import InvalidInput, NotFound
from stackwright.gateway.limits.models import GatewayLimit
from stackwright.gateway.limits.spec import FIELDS, METRICS, PERIODS, LimitSpec, iso, period_bounds, to_usd
from stackwright.gateway.limits.store import bump_stamp, current_counters, load_limits, model_limit_rows, spec_of, write_limits


def replace_model_limits(session: Session, project_id: str, specs: dict[str, Any]) -> None:
    """Make the project's model limits exactly ``specs`` ({model name: LimitSpec, gateway.yaml LimitsSpec,
    mapping or None}); models left out (or with no caps) lose their limits. In the caller's transaction."""
    wanted = {name: LimitSpec.of(spec) for name, spec in specs.items()}
    stored = model_limit_rows(session, project_id)
    if {row.subject: spec_of(row) for row in stored} == {name: spec for name, spec in wanted.items() if not spec.is_empty()}:
        return  # unchanged: the stamp stays, and nobody waits for processes to see it
    now = utcnow()
    for row in stored:
        if row.subject not in wanted or wanted[row.subject].is_empty():
            session.delete(row)
    session.flush()
    bump_stamp(session, project_id, now)
    for name, spec in wanted.items():
        if not spec.is_empty():
            write_limits(session, project_id, "model", name, spec, now)


def key_limits(session: Session, key: ApiKey) -> LimitSpec:
    return spec_of(session.get(GatewayLimit, (key.project_id, "key", key.id)))


def set_key_limits(session: Session, actor: Actor, key: ApiKey, changes: dict[str, Any]) -> LimitSpec:
    """Apply ``changes`` ({field: value, or None to remove it}); fields left out keep their value. Audited."""
    unknown = sorted(set(changes) - set(FIELDS))
    if unknown:
        raise InvalidInput(f"Unknown limit(s): {', '.join(unknown)}.", hint=f"Use {', '.join(FIELDS)}.")
    before = key_limits(session, key)
    after = LimitSpec(**{**before.as_dict(), **changes})
    after.check()
    if after != before:
        write_limits(session, key.project_id, "key", key.id, after, utcnow())
        audit.record(session, actor, "key.limits", "api_key", key.id, project_id=key.project_id,
                     before=before.as_dict(), after=after.as_dict())  # fmt: skip
    return after


def find_key_by_ref(session: Session, ref: str, project_id: str | None = None) -> ApiKey:
    """A key by id, by its first 12 characters, or by its name (if that names one key)."""
    from stackwright.auth import keys

    try:
        return keys.find_key(session, ref, project_id)
    except NotFound:
        query = select(ApiKey).where(ApiKey.name == ref)
        if project_id is not None:
            query = query.where(ApiKey.project_id == project_id)
        named = list(session.scalars(query))
        active = [k for k in named if k.revoked_at is None] or named
        if len(active) == 1:
            return active[0]
        if len(active) > 1:
            raise InvalidInput(
                f"{len(active)} keys are named {ref!r}: {', '.join(k.id for k in active)}.",
                hint="Give the key id (key_...) instead, or --project.",
            ) from None
        raise


def _empty_usage(now: float) -> dict[str, dict[str, Any]]:
    out = {}
    for period in PERIODS:
        start, end = period_bounds(period, now)
        out[period] = {"start": iso(start), "resets_at": iso(end), "usd": 0.0, "requests": 0, "tokens": 0}
    return out


def usage(session: Session, project_id: str, now: float, scope: str | None = None, subject: str | None = None) -> list[dict[str, Any]]:
    """Current usage (UTC minute, day, month) and limits of every key and model with either, or of one
    subject (always listed, with zeros if unused). Keys first, then models, by name."""
    limits = load_limits(session, project_id)
    entries: dict[tuple[str, str], dict[str, Any]] = {}

    def entry(s: str, subj: str) -> dict[str, Any]:
        if (s, subj) not in entries:
            spec, name = limits.get((s, subj), (LimitSpec(), subj))
            entries[(s, subj)] = {"scope": s, "subject": subj, "name": name, "limits": spec.as_dict(), "usage": _empty_usage(now)}
        return entries[(s, subj)]

    if subject is not None and scope is not None:
        entry(scope, subject)
    for (s, subj) in limits:
        if (scope is None or s == scope) and (subject is None or subj == subject):
            entry(s, subj)
    for row in current_counters(session, project_id, now, scope, subject):
        if row.metric in METRICS:
            value = to_usd(row.used) if row.metric == "usd" else int(row.used)
            entry(row.scope, row.subject)["usage"][row.period][row.metric] = value
    _name_keys(session, [e for e in entries.values() if e["scope"] == "key" and e["name"] == e["subject"]])
    return sorted(entries.values(), key=lambda e: (e["scope"], e["name"], e["subject"]))


def _name_keys(session: Session, unnamed: list[dict[str, Any]]) -> None:
    if not unnamed:
        return
    names = dict(session.execute(select(ApiKey.id, ApiKey.name).where(ApiKey.id.in_([e["subject"] for e in unnamed]))).all())
    for e in unnamed:
        e["name"] = names.get(e["subject"], e["subject"])
