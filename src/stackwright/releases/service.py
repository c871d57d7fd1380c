"""Release logic (no HTTP): set the stable config, start a candidate, promote, roll back, rules, resolve.

Every change locks the release row (``SELECT ... FOR UPDATE`` on Postgres; SQLite writers hold the
database's write lock), optionally checks the caller's expected revision, validates everything before
writing, and records the change in the history and the audit log in the same transaction: a refused
change leaves nothing behind. ``resolve`` is the pure read the gateway and the API call per request;
``stackwright.releases.resolver`` caches it in process.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from stackwright.auth.actors import Actor
from stackwright.core.clock import new_id, utcnow
from stackwright.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from stackwright.releases import gates
from stackwright.releases.assign import Snapshot, pick
from stackwright.releases.history import (
    candidate_view,
    iso,
    record_change,
    stable_to_restore,
    state,
)
from stackwright.releases.models import Release
from stackwright.releases.schemas import (
    check_env,
    check_mapping,
    check_mode,
    check_model,
    check_required_eval,
    check_route,
    check_share,
    parse_rules,
)

UNSET: Any = object()
_SHOWN = 10


# -- reading --------------------------------------------------------------------------------------


def _query(project_id: str, route: str, env: str) -> Any:
    return select(Release).where(Release.project_id == project_id, Release.route == route, Release.environment == env)


def find_release(session: Session, project_id: str, route: str, env: str, *, lock: bool = False) -> Release | None:
    query = _query(project_id, check_route(route), check_env(env))
    return session.scalar(query.with_for_update() if lock else query)


def get_release(session: Session, project_id: str, route: str, env: str, *, lock: bool = False) -> Release:
    """The release of this route and environment, or NotFound listing what exists."""
    row = find_release(session, project_id, route, env, lock=lock)
    if row is not None:
        return row
    envs = list(session.scalars(select(Release.environment).where(Release.project_id == project_id, Release.route == route)))
    if envs:
        hint = f"Route {route!r} has releases in: {', '.join(sorted(envs))}."
    else:
        routes = sorted(set(session.scalars(select(Release.route).where(Release.project_id == project_id).limit(200))))
        shown = ", ".join(routes[:_SHOWN])
        hint = f"Routes in this project: {shown}." if routes else "This project has no releases yet."
        hint += f" Create one with `stackwright releases set {route} --env {env} --prompt NAME@VERSION --model MODEL`."
    raise NotFound(f"No release for route {route!r} in environment {env!r}.", hint=hint)


def release_view(row: Release) -> dict[str, Any]:
    return {
        "id": row.id,
        "route": row.route,
        "env": row.environment,
        "revision": row.revision,
        "stable": row.stable,
        "candidate": candidate_view(row),
        "required_eval": row.required_eval,
        "rollback_rules": row.rollback_rules,
        "last_rollback": row.last_rollback,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
        "updated_by": row.updated_by,
    }


def status_view(session: Session, row: Release) -> dict[str, Any]:
    """The release plus how fast its last rollback took effect (from the traces)."""
    from stackwright.releases.resolver import RESOLVE_CACHE_TTL_S
    from stackwright.releases.traffic import rollback_effect

    effect = rollback_effect(session, row)
    return {**release_view(row), "last_rollback_effect": effect, "resolve_cache_ttl_s": RESOLVE_CACHE_TTL_S}


def list_releases(session: Session, project_id: str, env: str | None = None) -> list[dict[str, Any]]:
    query = select(Release).where(Release.project_id == project_id).order_by(Release.route, Release.environment)
    if env is not None:
        query = query.where(Release.environment == check_env(env))
    return [release_view(row) for row in session.scalars(query)]


def load_snapshot(session: Session, project_id: str, route: str, env: str) -> Snapshot:
    return Snapshot.of(get_release(session, project_id, route, env))


def resolve(session: Session, project_id: str, route: str, env: str, subject: str | None = None) -> dict[str, Any]:
    """Which config serves this request: ``{route, env, release_id, revision, arm, config, mode, share, shadow,
    subject, bucket, varies, span_attributes}`` (see ``assign.pick``). NotFound for an unknown route or env."""
    return pick(load_snapshot(session, project_id, route, env), subject)


# -- configs --------------------------------------------------------------------------------------


def build_config(
    session: Session, project_id: str, prompt: str, model: str, params: Any = None, settings: Any = None
) -> dict[str, Any]:
    """A validated config with the prompt resolved to an exact version of this project (NotFound otherwise)."""
    from stackwright.prompts.service import find_version

    model = check_model(model)
    params, settings = check_mapping("params", params), check_mapping("settings", settings)
    version = find_version(session, project_id, prompt)
    name = version.prompt.name
    return {
        "prompt": f"{name}@{version.version}",
        "prompt_name": name,
        "prompt_version": version.version,
        "prompt_version_id": version.id,
        "prompt_ref": prompt.strip(),
        "model": model,
        "params": params,
        "settings": settings,
    }


def _same_config(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    """Equal apart from how the prompt was named (name@production and name@3 are the same config)."""
    if a is None or b is None:
        return a is b
    return {k: v for k, v in a.items() if k != "prompt_ref"} == {k: v for k, v in b.items() if k != "prompt_ref"}


def _check_revision(row: Release | None, expected: int | None) -> None:
    if expected is None:
        return
    current = row.revision if row is not None else 0
    if current != expected:
        raise Conflict(
            f"The release changed meanwhile: it is at revision {current}, not {expected}.",
            hint="Read its status again and retry with the current revision.",
        )


def _check_eval_change(actor: Actor, row: Release, new: str | None) -> None:
    """Adding a promotion requirement needs write; changing or clearing an existing one needs admin."""
    if row.required_eval and new != row.required_eval and not actor.has_scope("admin"):
        raise Forbidden(
            f"Changing or removing the promotion requirement {row.required_eval!r} needs the 'admin' scope.",
            hint="Ask an admin, or keep the requirement and make the evaluation pass.",
        )


# -- changes --------------------------------------------------------------------------------------


def _create(session: Session, project_id: str, route: str, env: str, stable: dict[str, Any]) -> Release | None:
    """Insert a new release; None if a concurrent change created it first (the caller then updates it)."""
    now = utcnow()
    row = Release(
        id=new_id("rel"), project_id=project_id, route=route, environment=env, revision=0, stable=stable,
        created_at=now, updated_at=now, updated_by="",
    )  # fmt: skip
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return None
    return row


def set_stable(
    session: Session,
    actor: Actor,
    project_id: str,
    route: str,
    env: str,
    prompt: str,
    model: str,
    params: Any = None,
    settings: Any = None,
    *,
    expected_revision: int | None = None,
) -> dict[str, Any]:
    """Point the route at this stable config (creating the release); the same config again changes nothing.

    Returns the release view plus ``changed``.
    """
    actor.require_scope("write", "Setting a release's stable config")
    check_route(route)
    check_env(env)
    config = build_config(session, project_id, prompt, model, params, settings)
    row = find_release(session, project_id, route, env, lock=True)
    _check_revision(row, expected_revision)
    if row is None:
        row = _create(session, project_id, route, env, config)
        if row is None:  # created meanwhile: lock it and carry on as an update
            row = get_release(session, project_id, route, env, lock=True)
            _check_revision(row, expected_revision)
        else:
            record_change(session, actor, row, "set", None)
            return {**release_view(row), "changed": True}
    if _same_config(row.stable, config):
        return {**release_view(row), "changed": False}
    before = state(row)
    row.stable = config
    record_change(session, actor, row, "set", before)
    return {**release_view(row), "changed": True}


def start_candidate(
    session: Session,
    actor: Actor,
    project_id: str,
    route: str,
    env: str,
    prompt: str,
    *,
    share: Any,
    mode: str = "canary",
    model: str | None = None,
    params: Any = None,
    settings: Any = None,
    require_eval: Any = UNSET,
    rollback_rules: Any = UNSET,
    expected_revision: int | None = None,
) -> dict[str, Any]:
    """Start (or adjust) the candidate: model, params and settings default to the stable ones (given values
    override). The same candidate config keeps its salt and start time, so raising the share keeps every
    subject already on the candidate there. Returns the release view plus ``changed``."""
    actor.require_scope("write", "Starting or changing a candidate")
    share, mode = check_share(share), check_mode(mode)
    row = get_release(session, project_id, route, env, lock=True)
    _check_revision(row, expected_revision)
    stable = row.stable
    config = build_config(
        session, project_id, prompt, model if model is not None else stable["model"],
        {**stable.get("params", {}), **check_mapping("params", params)},
        {**stable.get("settings", {}), **check_mapping("settings", settings)},
    )  # fmt: skip
    new_eval = check_required_eval(require_eval) if require_eval is not UNSET else row.required_eval
    new_rules = parse_rules(rollback_rules) if rollback_rules is not UNSET else row.rollback_rules
    _check_eval_change(actor, row, new_eval)
    same_candidate = _same_config(row.candidate, config)
    unchanged = (
        same_candidate and row.candidate_mode == mode and row.candidate_share == share
        and row.required_eval == new_eval and row.rollback_rules == new_rules
    )  # fmt: skip
    if unchanged:
        return {**release_view(row), "changed": False}
    before = state(row)
    if not same_candidate:
        row.candidate_salt = secrets.token_hex(8)
        row.candidate_started_at = utcnow()
    row.candidate, row.candidate_mode, row.candidate_share = config, mode, share
    row.required_eval, row.rollback_rules = new_eval, new_rules
    record_change(session, actor, row, "canary", before, {"new_candidate": not same_candidate})
    return {**release_view(row), "changed": True}


def _clear_candidate(row: Release) -> None:
    row.candidate = row.candidate_mode = row.candidate_share = row.candidate_salt = None
    row.candidate_started_at = None


def promote(
    session: Session, actor: Actor, project_id: str, route: str, env: str, *, expected_revision: int | None = None
) -> dict[str, Any]:
    """Make the candidate the stable config, if the promotion requirement (when set) has a passing result."""
    actor.require_scope("write", "Promoting a candidate")
    row = get_release(session, project_id, route, env, lock=True)
    _check_revision(row, expected_revision)
    if row.candidate is None:
        raise Conflict(
            f"Route {route!r} in {env!r} has no candidate to promote.",
            hint=f"Start one with `stackwright releases canary {route} --env {env} --prompt NAME@VERSION --share 10`.",
        )
    gate = gates.check_promotion(session, project_id, row)
    if not gate.passed:
        raise Conflict(f"Promotion refused: {gate.detail}", details={"required_eval": row.required_eval, "gate": gate.as_dict()})
    before = state(row)
    row.stable = row.candidate
    _clear_candidate(row)
    record_change(session, actor, row, "promote", before, {"gate": gate.as_dict()})
    return release_view(row)


def rollback(
    session: Session,
    actor: Actor,
    project_id: str,
    route: str,
    env: str,
    *,
    reason: str | None = None,
    automatic: bool = False,
    details: dict[str, Any] | None = None,
    expected_revision: int | None = None,
) -> dict[str, Any]:
    """Drop the candidate if there is one; otherwise return to the previous stable config from the history.

    The time, the actor and the reason are kept as the release's ``last_rollback``.
    """
    actor.require_scope("write", "Rolling back a release")
    row = get_release(session, project_id, route, env, lock=True)
    _check_revision(row, expected_revision)
    before = state(row)
    extra: dict[str, Any] = {**(details or {}), "reason": reason, "automatic": automatic}
    if row.candidate is not None:
        kind, rolled_back = "candidate", row.candidate
        _clear_candidate(row)
    else:
        restored, undone = stable_to_restore(session, row)
        kind, rolled_back = "stable", row.stable
        row.stable = restored
        extra["undid"] = undone.id
    now = utcnow()
    row.last_rollback_at = now
    change = record_change(session, actor, row, "auto_rollback" if automatic else "rollback", before, {**extra, "kind": kind})
    row.last_rollback = {
        "at": now.isoformat(), "actor": actor.label, "automatic": automatic, "kind": kind, "reason": reason,
        "history_id": change.id, "revision": row.revision, "from": rolled_back, "to": row.stable,
    }  # fmt: skip
    session.flush()
    return release_view(row)


def set_rules(
    session: Session,
    actor: Actor,
    project_id: str,
    route: str,
    env: str,
    *,
    rollback_rules: Any = UNSET,
    require_eval: Any = UNSET,
    expected_revision: int | None = None,
) -> dict[str, Any]:
    """Change the automatic-rollback rules and/or the promotion requirement (None clears either)."""
    actor.require_scope("write", "Changing a release's rules")
    if rollback_rules is UNSET and require_eval is UNSET:
        raise InvalidInput("Nothing to change.", hint="Give rollback rules, a required evaluation, or clear one of them.")
    row = get_release(session, project_id, route, env, lock=True)
    _check_revision(row, expected_revision)
    new_rules = parse_rules(rollback_rules) if rollback_rules is not UNSET else row.rollback_rules
    new_eval = check_required_eval(require_eval) if require_eval is not UNSET else row.required_eval
    _check_eval_change(actor, row, new_eval)
    if new_rules == row.rollback_rules and new_eval == row.required_eval:
        return {**release_view(row), "changed": False}
    before = state(row)
    row.rollback_rules, row.required_eval = new_rules, new_eval
    record_change(session, actor, row, "rules", before)
    return {**release_view(row), "changed": True}
