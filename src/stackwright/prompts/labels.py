"""Moving, removing and protecting labels. Every move is kept in ``prompt_label_history`` and audited.

Protected labels (``production`` unless the prompt says otherwise) move only with the admin scope.
The caller holds the prompt's row lock (``service.lock_prompt``) so concurrent moves never interleave.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from stackwright.auth import audit
from stackwright.auth.actors import Actor
from stackwright.core.clock import utcnow
from stackwright.core.errors import Conflict, Forbidden, InvalidInput
from stackwright.prompts import service
from stackwright.prompts.models import Prompt, PromptLabel, PromptLabelMove, PromptVersion
from stackwright.prompts.refs import LATEST, check_label, check_version


def check_may_move(actor: Actor, prompt: Prompt, label: str) -> None:
    """Forbidden unless ``label`` is unprotected or the actor has the admin scope."""
    if label in (prompt.protected_labels or []) and not actor.has_scope("admin"):
        raise Forbidden(
            f"Label {label!r} of prompt {prompt.name!r} is protected: moving it needs the 'admin' scope.",
            hint="Ask an admin, or use a key with the admin scope (`stackwright keys create --scope admin`).",
        )


def move(session: Session, actor: Actor, prompt: Prompt, label: str, target: PromptVersion) -> int | None:
    """Point ``label`` at ``target``; returns the version it pointed at before (the same one: nothing moved)."""
    row = session.get(PromptLabel, (prompt.id, label), populate_existing=True)
    before: int | None = None
    if row is not None:
        before = session.get_one(PromptVersion, row.version_id).version
        if row.version_id == target.id:
            return before
        row.version_id, row.updated_by, row.updated_at = target.id, actor.label, utcnow()
    else:
        session.add(PromptLabel(prompt_id=prompt.id, label=label, version_id=target.id, updated_by=actor.label, updated_at=utcnow()))
    session.add(PromptLabelMove(prompt_id=prompt.id, label=label, from_version=before, to_version=target.version,
                                actor=actor.label, created_at=utcnow()))  # fmt: skip
    prompt.updated_at = utcnow()
    session.flush()
    return before


def _check_expected(session: Session, prompt: Prompt, label: str, expected_from: int | None) -> None:
    """Conflict when the label no longer points where the caller saw it (``expected_from``; 0: it did not exist)."""
    if expected_from is None:
        return
    row = session.get(PromptLabel, (prompt.id, label), populate_existing=True)
    now = session.get_one(PromptVersion, row.version_id).version if row is not None else 0
    if now != expected_from:
        where = f"version {now}" if now else "no version (it was removed)"
        raise Conflict(f"Label {label!r} of prompt {prompt.name!r} was changed meanwhile: it now points at {where}.",
                       hint="Look at the labels again, then repeat the change if it is still wanted.")  # fmt: skip


def set_label(
    session: Session, actor: Actor, project_id: str, name: str, label: str, version: int, *, expected_from: int | None = None
) -> dict[str, Any]:
    """Move ``label`` of prompt ``name`` to ``version`` (audited); NotFound for another project's prompt.

    ``expected_from``: the version the caller saw the label on (0: not set); a Conflict if it moved since.
    """
    actor.require_scope("write", "Moving a prompt label")
    check_label(label)
    check_version(version)
    prompt = service.get_locked(session, project_id, name)
    target = service.resolve(session, project_id, service.PromptRef(prompt.name, version=version))
    check_may_move(actor, prompt, label)
    _check_expected(session, prompt, label, expected_from)
    before = move(session, actor, prompt, label, target)
    moved = before != version
    if moved:
        audit.record(session, actor, "prompt.label.move", "prompt", prompt.name, project_id=project_id,
                     before={"label": label, "version": before}, after={"label": label, "version": version})  # fmt: skip
    return {"name": prompt.name, "label": label, "version": version, "previous_version": before, "moved": moved}


def remove_label(
    session: Session, actor: Actor, project_id: str, name: str, label: str, *, expected_from: int | None = None
) -> dict[str, Any]:
    """Remove ``label`` (never ``latest``); NotFound if the prompt does not have it, Conflict if it no longer
    points at ``expected_from`` (the version the caller saw it on)."""
    actor.require_scope("write", "Removing a prompt label")
    check_label(label)
    if label == LATEST:
        raise InvalidInput("The `latest` label cannot be removed: it follows every new version.")
    prompt = service.get_locked(session, project_id, name)
    row = session.get(PromptLabel, (prompt.id, label), populate_existing=True)
    if row is None:
        service.resolve(session, project_id, service.PromptRef(prompt.name, label=label))  # raises NotFound listing labels
    assert row is not None
    check_may_move(actor, prompt, label)
    _check_expected(session, prompt, label, expected_from)
    before = session.get_one(PromptVersion, row.version_id).version
    session.delete(row)
    session.add(PromptLabelMove(prompt_id=prompt.id, label=label, from_version=before, to_version=None,
                                actor=actor.label, created_at=utcnow()))  # fmt: skip
    prompt.updated_at = utcnow()
    session.flush()
    audit.record(session, actor, "prompt.label.remove", "prompt", prompt.name, project_id=project_id,
                 before={"label": label, "version": before})  # fmt: skip
    return {"name": prompt.name, "label": label, "previous_version": before, "removed": True}


def check_protected(labels: list[str]) -> list[str]:
    labels = list(dict.fromkeys(check_label(label) for label in labels))
    if LATEST in labels:
        raise InvalidInput("`latest` moves with every push and cannot be protected.")
    return labels


def protect(session: Session, actor: Actor, project_id: str, name: str, labels: list[str]) -> dict[str, Any]:
    """Replace the prompt's protected labels (admin only: the caller checks the scope)."""
    labels = check_protected(labels)
    prompt = service.get_locked(session, project_id, name)
    before = list(prompt.protected_labels or [])
    if not actor.has_scope("admin"):
        raise Forbidden("Changing protected labels needs the 'admin' scope.")
    if before != labels:
        prompt.protected_labels, prompt.updated_at = labels, utcnow()
        session.flush()
        audit.record(session, actor, "prompt.protect", "prompt", prompt.name, project_id=project_id,
                     before={"protected_labels": before}, after={"protected_labels": labels})  # fmt: skip
    return {"name": prompt.name, "protected_labels": labels, "changed": before != labels}
