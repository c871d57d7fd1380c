"""Policy storage: put (create or replace), list, show, delete; every query is scoped to one project."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from stackwright.auth import audit
from stackwright.auth.actors import Actor
from stackwright.core.clock import utcnow
from stackwright.core.errors import Conflict, NotFound
from stackwright.guardrails.models import GuardrailPolicy
from stackwright.guardrails.policy import Policy


def payload(row: GuardrailPolicy) -> dict[str, Any]:
    return {
        "name": row.name, "route": row.route, "description": row.description, "input": row.input, "output": row.output,
        "revision": row.revision, "created_at": row.created_at, "updated_at": row.updated_at,
    }  # fmt: skip


def get_row(session: Session, project_id: str, name: str, lock: bool = False) -> GuardrailPolicy:
    query = select(GuardrailPolicy).where(GuardrailPolicy.project_id == project_id, GuardrailPolicy.name == name)
    row = session.scalar(query.with_for_update() if lock else query)
    if row is None:
        raise NotFound(f"The guardrail policy {name!r} does not exist in this project.",
                       hint="List them with `stackwright guardrails list` or GET /api/v1/guardrails/policies.")  # fmt: skip
    return row


def _audited(row: GuardrailPolicy) -> dict[str, Any]:
    """What the audit entry keeps of a policy: its route, revision and check:action pairs (no check parameters)."""
    checks = {d: [f"{c['check']}:{c['action']}" for c in getattr(row, d)] for d in ("input", "output")}
    return {"route": row.route, "revision": row.revision, **checks}


def put_policy(session: Session, actor: Actor, project_id: str, policy: Policy,
               expected_revision: int | None = None) -> tuple[dict[str, Any], str]:  # fmt: skip
    """Create or replace; returns (payload, 'created' | 'updated' | 'unchanged'). A change is audited; 'unchanged' is not.
    ``expected_revision``: the revision the caller edited (0: a new policy); Conflict when the stored one differs."""
    actor.require_scope("write", "Saving a guardrail policy")
    data = policy.as_dict()
    row = session.scalar(
        select(GuardrailPolicy).where(GuardrailPolicy.project_id == project_id, GuardrailPolicy.name == policy.name).with_for_update()
    )
    if expected_revision is not None and (row.revision if row else 0) != expected_revision:
        now = f"is at revision {row.revision}" if row else "was deleted"
        raise Conflict(f"The policy {policy.name!r} changed while you edited it: it {now}, you edited revision {expected_revision}."
                       if expected_revision else f"A policy named {policy.name!r} already exists.",
                       hint="Reload it, then make your change again.")  # fmt: skip
    if row is None:
        row = GuardrailPolicy(project_id=project_id, name=policy.name, route=data["route"], description=data["description"],
                              input=data["input"], output=data["output"], revision=1)  # fmt: skip
        session.add(row)
        session.flush()
        audit.record(session, actor, "guardrail_policy.create", "guardrail_policy", row.name, project_id=project_id, after=_audited(row))
        return payload(row), "created"
    same = (row.route, row.description, row.input, row.output) == (data["route"], data["description"], data["input"], data["output"])
    if same:
        return payload(row), "unchanged"
    before = _audited(row)
    row.route, row.description, row.input, row.output = data["route"], data["description"], data["input"], data["output"]
    row.revision += 1
    row.updated_at = utcnow()
    session.flush()
    audit.record(session, actor, "guardrail_policy.update", "guardrail_policy", row.name, project_id=project_id, before=before, after=_audited(row))
    return payload(row), "updated"


def list_policies(session: Session, project_id: str) -> list[dict[str, Any]]:
    rows = session.scalars(select(GuardrailPolicy).where(GuardrailPolicy.project_id == project_id).order_by(GuardrailPolicy.name))
    return [payload(r) for r in rows]


def delete_policy(session: Session, actor: Actor, project_id: str, name: str, expected_revision: int | None = None) -> None:
    """Delete and audit. ``expected_revision``: the revision the caller saw; Conflict when the stored one differs."""
    actor.require_scope("write", "Deleting a guardrail policy")
    row = get_row(session, project_id, name, lock=True)
    if expected_revision is not None and row.revision != expected_revision:
        raise Conflict(f"The policy {name!r} changed after you opened it: it is at revision {row.revision}, you saw revision {expected_revision}.",
                       hint="Reload it and check the change before you delete it.")  # fmt: skip
    audit.record(session, actor, "guardrail_policy.delete", "guardrail_policy", name, project_id=project_id, before=_audited(row))
    session.delete(row)
    session.flush()


def load_policies(session: Session, project_id: str) -> list[Policy]:
    """A project's policies, built (checks constructed) for running."""
    from stackwright.guardrails.policy import from_stored

    rows = session.scalars(select(GuardrailPolicy).where(GuardrailPolicy.project_id == project_id).order_by(GuardrailPolicy.name))
    return [from_stored(payload(r)) for r in rows]


def get_policy(session: Session, project_id: str, name: str) -> Policy:
    from stackwright.guardrails.policy import from_stored

    return from_stored(payload(get_row(session, project_id, name)))
