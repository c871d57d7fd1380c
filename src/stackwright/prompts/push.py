"""Pushing a prompt file: idempotent by content hash, a new immutable version number otherwise.

Concurrency: the prompt row is locked (Postgres ``FOR UPDATE``; SQLite serializes writers) before the
next number is taken, and a new prompt is inserted in a savepoint so that a concurrent first push of the
same name falls back to locking the winner's row. ``(prompt_id, version)`` and ``(prompt_id,
content_hash)`` are unique, so no two pushes can ever store the same number or the same content twice.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from stackwright.auth import audit
from stackwright.auth.actors import Actor
from stackwright.core.clock import utcnow
from stackwright.core.errors import Conflict, Forbidden
from stackwright.prompts import labels as label_ops
from stackwright.prompts import service
from stackwright.prompts.models import DEFAULT_PROTECTED, Prompt, PromptVersion
from stackwright.prompts.refs import LATEST
from stackwright.prompts.spec import analyze_content, content_hash, content_of, parse_file


def _lock_or_create(session: Session, project_id: str, name: str) -> tuple[Prompt, bool]:
    prompt = service.lock_prompt(session, project_id, name)
    if prompt is not None:
        return prompt, False
    now = utcnow()
    try:
        with session.begin_nested():
            prompt = Prompt(project_id=project_id, name=name, latest_version=0, protected_labels=list(DEFAULT_PROTECTED),
                            created_at=now, updated_at=now)  # fmt: skip
            session.add(prompt)
        return prompt, True
    except IntegrityError:  # another push created it first: wait for its lock instead
        prompt = service.lock_prompt(session, project_id, name)
        if prompt is None:
            raise
        return prompt, False


def _stale(prompt: Prompt, expected: int) -> Conflict:
    if expected == 0:
        return Conflict(f"A prompt named {prompt.name!r} already exists (latest version {prompt.latest_version}).",
                        hint="Pick another name, or open that prompt's editor.")  # fmt: skip
    return Conflict(
        f"Prompt {prompt.name!r} has a newer version ({prompt.latest_version}) than the one you started from ({expected}).",
        hint="Look at the newer version first; save again to push yours on top of it.",
    )


def push(
    session: Session, actor: Actor, project_id: str, raw: Any, *, source: str = "The prompt", expected_latest: int | None = None
) -> dict[str, Any]:
    """Store the prompt file ``raw`` (a dict of the push format); the caller commits.

    Returns {name, version, created, content_hash, labels (all labels now on that version), moved
    (labels this push moved), variables}. Errors leave nothing written: InvalidInput for a bad file or
    template (with line and column), NotFound/InvalidInput for a bad include, Forbidden without the write
    scope or for a protected label, Conflict when ``expected_latest`` (the latest version the editor saw;
    0: the prompt did not exist) is no longer the prompt's latest version.
    """
    actor.require_scope("write", "Pushing a prompt version")
    spec = parse_file(raw, source)
    content = content_of(spec)
    schema, includes = analyze_content(content)
    digest = content_hash(content)
    if spec.protected_labels is not None and not actor.has_scope("admin"):
        current = session.scalar(select(Prompt.protected_labels).where(Prompt.project_id == project_id, Prompt.name == spec.name))
        if (current if current is not None else DEFAULT_PROTECTED) != spec.protected_labels:
            raise Forbidden("Changing protected_labels needs the 'admin' scope.", hint="Remove the key from the file or use an admin key.")

    prompt, _ = _lock_or_create(session, project_id, spec.name)
    if expected_latest is not None and prompt.latest_version != expected_latest:
        raise _stale(prompt, expected_latest)
    service.resolve_includes(session, project_id, spec.name, includes)  # missing includes and cycles are refused
    protected_before = list(prompt.protected_labels or [])
    if spec.protected_labels is not None:
        prompt.protected_labels = spec.protected_labels
    for label in spec.labels:
        label_ops.check_may_move(actor, prompt, label)

    version = session.scalar(select(PromptVersion).where(PromptVersion.prompt_id == prompt.id, PromptVersion.content_hash == digest))
    created = version is None
    if version is None:
        prompt.latest_version += 1
        version = PromptVersion(
            prompt_id=prompt.id, version=prompt.latest_version, type=content["type"], content_hash=digest,
            messages=content["messages"], template=content["template"], model=content["model"], params=content["params"],
            tools=content["tools"], response_format=content["response_format"], variables=schema, includes=includes,
            message=spec.message, author=actor.label, created_at=utcnow(),
        )  # fmt: skip
        session.add(version)
        session.flush()
        version.prompt = prompt
    moved = [label for label in ([LATEST] if created else []) + spec.labels if label_ops.move(session, actor, prompt, label, version) != version.version]
    moved = list(dict.fromkeys(moved))
    if created or moved or protected_before != prompt.protected_labels:
        prompt.updated_at = utcnow()
        session.flush()
        audit.record(session, actor, "prompt.push", "prompt", prompt.name, project_id=project_id,
                     before={"protected_labels": protected_before} if protected_before != prompt.protected_labels else None,
                     after={"version": version.version, "created": created, "content_hash": digest, "labels_moved": moved,
                            "protected_labels": prompt.protected_labels})  # fmt: skip
    return {
        "name": prompt.name,
        "version": version.version,
        "created": created,
        "content_hash": digest,
        "labels": service.labels_of_version(session, version),
        "moved": moved,
        "variables": list(schema["properties"]),
    }
