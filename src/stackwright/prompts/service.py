"""The prompt registry's logic (no HTTP): look up, push, label, list and render prompt versions.

Every query is scoped by ``project_id``: another project's prompt answers NotFound, never its data.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from stackwright.core.config import Settings
from stackwright.core.errors import NotFound
from stackwright.prompts.models import Prompt, PromptLabel, PromptVersion
from stackwright.prompts.refs import LATEST, PromptRef, make_ref, parse_ref

_SHOWN = 10  # how many versions or labels a NotFound message lists


def get_prompt(session: Session, project_id: str, name: str) -> Prompt:
    """The project's prompt called ``name``, or NotFound."""
    prompt = session.scalar(select(Prompt).where(Prompt.project_id == project_id, Prompt.name == name))
    if prompt is None:
        known = list(session.scalars(select(Prompt.name).where(Prompt.project_id == project_id).order_by(Prompt.name).limit(_SHOWN)))
        hint = f"Prompts in this project: {', '.join(known)}." if known else "This project has no prompts yet; push one first."
        raise NotFound(f"No prompt named {name!r}.", hint=hint)
    return prompt


def label_map(session: Session, prompt_id: int) -> dict[str, int]:
    """label -> version number, for one prompt."""
    query = (
        select(PromptLabel.label, PromptVersion.version)
        .join(PromptVersion, PromptVersion.id == PromptLabel.version_id)
        .where(PromptLabel.prompt_id == prompt_id)
        .order_by(PromptLabel.label)
    )
    return {label: version for label, version in session.execute(query)}


def _by_version(session: Session, prompt: Prompt, version: int) -> PromptVersion:
    row = session.scalar(select(PromptVersion).where(PromptVersion.prompt_id == prompt.id, PromptVersion.version == version))
    if row is None:
        latest = prompt.latest_version
        hint = f"It has versions 1 to {latest}." if latest else "It has no versions yet."
        raise NotFound(f"Prompt {prompt.name!r} has no version {version}.", hint=hint)
    return row


def _by_label(session: Session, prompt: Prompt, label: str) -> PromptVersion:
    query = (
        select(PromptVersion)
        .join(PromptLabel, PromptLabel.version_id == PromptVersion.id)
        .where(PromptLabel.prompt_id == prompt.id, PromptLabel.label == label)
    )
    row = session.scalar(query)
    if row is None:
        if label == LATEST and prompt.latest_version:
            return _by_version(session, prompt, prompt.latest_version)
        labels = label_map(session, prompt.id)
        shown = ", ".join(f"{name} -> {version}" for name, version in list(labels.items())[:_SHOWN])
        hint = f"Its labels: {shown}." if labels else "It has no labels yet."
        raise NotFound(f"Prompt {prompt.name!r} has no label {label!r}.", hint=hint)
    return row


def resolve(session: Session, project_id: str, ref: PromptRef) -> PromptVersion:
    """The stored version a parsed reference points at (label ``latest`` when it names neither).

    One query when it exists; the lookups that explain a miss run only then.
    """
    from sqlalchemy.orm import contains_eager

    query = (
        select(PromptVersion)
        .join(Prompt, Prompt.id == PromptVersion.prompt_id)
        .where(Prompt.project_id == project_id, Prompt.name == ref.name)
        .options(contains_eager(PromptVersion.prompt))
    )
    if ref.version is not None:
        query = query.where(PromptVersion.version == ref.version)
    else:
        query = query.join(PromptLabel, PromptLabel.version_id == PromptVersion.id).where(PromptLabel.label == (ref.label or LATEST))
    row = session.scalar(query)
    if row is not None:
        return row
    prompt = get_prompt(session, project_id, ref.name)
    if ref.version is not None:
        return _by_version(session, prompt, ref.version)
    return _by_label(session, prompt, ref.label or LATEST)


def find_version(session: Session, project_id: str, ref: str) -> PromptVersion:
    """The version row for ``name@3`` (version), ``name@production`` (label) or ``name`` (label ``latest``).

    The row carries ``.id``, ``.version`` and ``.prompt`` (``.prompt.name``). Raises InvalidInput for a
    malformed reference and NotFound (listing what exists) for an unknown prompt, version or label,
    including any prompt of another project.
    """
    return resolve(session, project_id, parse_ref(ref))


def get_version(session: Session, project_id: str, name: str, *, version: int | None = None, label: str | None = None) -> PromptVersion:
    """Like find_version, with the version or label given separately (API query, CLI options)."""
    return resolve(session, project_id, make_ref(name, version=version, label=label))


def lock_prompt(session: Session, project_id: str, name: str) -> Prompt | None:
    """The prompt row, locked until commit (Postgres ``FOR UPDATE``; SQLite writers are serialized anyway).

    Pushes and label moves of one prompt take this lock first, so version numbers and label moves
    never interleave.
    """
    query = (
        select(Prompt)
        .where(Prompt.project_id == project_id, Prompt.name == name)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.scalar(query)


def get_locked(session: Session, project_id: str, name: str) -> Prompt:
    prompt = lock_prompt(session, project_id, name)
    return prompt if prompt is not None else get_prompt(session, project_id, name)  # raises NotFound


# -- includes -----------------------------------------------------------------------------------------

MAX_INCLUDES = 50


def resolve_includes(session: Session, project_id: str, root: str, refs: list[str]) -> dict[str, str]:
    """{reference: template} for every prompt ``refs`` include, transitively, as the labels point now.

    InvalidInput for a cycle (a prompt reached again through its own includes), an included chat prompt,
    or more than MAX_INCLUDES includes; NotFound (naming the including prompt) for a missing one.
    """
    from stackwright.core.errors import InvalidInput

    included: dict[str, str] = {}

    def visit(references: list[str], chain: list[str]) -> None:
        for ref in references:
            target = parse_ref(ref)
            if target.name in chain:
                cycle = " -> ".join([*chain, target.name])
                raise InvalidInput(f"Include cycle: {cycle}.", hint="A prompt may not include itself, directly or through others.")
            try:
                row = resolve(session, project_id, target)
            except NotFound as exc:
                raise NotFound(f"{chain[-1]} includes {ref!r}, which does not resolve: {exc.message}") from None
            if row.type != "text":
                raise InvalidInput(f"{chain[-1]} includes {ref!r}, a chat prompt; only text prompts can be included.")
            included.setdefault(ref, row.template or "")
            if len(included) > MAX_INCLUDES:
                raise InvalidInput(f"Prompt {root} includes more than {MAX_INCLUDES} prompts.")
            visit(list(row.includes or []), [*chain, row.prompt.name])

    visit(refs, [root])
    return included


# -- reading ------------------------------------------------------------------------------------------


def labels_of_version(session: Session, version: PromptVersion) -> list[str]:
    return sorted(session.scalars(select(PromptLabel.label).where(PromptLabel.version_id == version.id)))


def version_payload(row: PromptVersion, labels: list[str], included: dict[str, str] | None = None) -> dict[str, Any]:
    """A version as the API returns it (``included`` only where the caller resolved the includes)."""
    payload = {
        "id": row.id,
        "name": row.prompt.name,
        "version": row.version,
        "type": row.type,
        "messages": row.messages,
        "template": row.template,
        "model": row.model,
        "params": row.params or {},
        "tools": row.tools,
        "response_format": row.response_format,
        "variables": row.variables,
        "includes": list(row.includes or []),
        "labels": labels,
        "message": row.message,
        "author": row.author,
        "content_hash": row.content_hash,
        "created_at": row.created_at,
    }
    if included is not None:
        payload["included"] = included
    return payload


def show(session: Session, project_id: str, ref: PromptRef) -> dict[str, Any]:
    """One version with its labels and resolved includes (what the SDK caches and renders).

    The SDK's fetch path: two prepared Core statements when the version exists; misses go through
    ``resolve`` for the message that says what exists.
    """
    by_label, by_version, labels = _show_statements()
    if ref.version is not None:
        found = session.execute(by_version, {"project_id": project_id, "name": ref.name, "version": ref.version}).first()
    else:
        found = session.execute(by_label, {"project_id": project_id, "name": ref.name, "label": ref.label or LATEST}).first()
    if found is None:
        row = resolve(session, project_id, ref)
        included = resolve_includes(session, project_id, row.prompt.name, list(row.includes or []))
        return version_payload(row, labels_of_version(session, row), included)
    payload = dict(found._mapping)
    payload["labels"] = list(session.scalars(labels, {"version_id": payload["id"]}))
    payload["includes"] = list(payload["includes"] or [])
    payload["params"] = payload["params"] or {}
    payload["included"] = resolve_includes(session, project_id, ref.name, payload["includes"]) if payload["includes"] else {}
    return payload


@lru_cache(maxsize=1)
def _show_statements() -> tuple[Any, Any, Any]:
    """(by label, by version, labels of a version): built once, parameters bound per call."""
    from sqlalchemy import bindparam

    columns = [
        PromptVersion.id, Prompt.name, PromptVersion.version, PromptVersion.type, PromptVersion.messages,
        PromptVersion.template, PromptVersion.model, PromptVersion.params, PromptVersion.tools,
        PromptVersion.response_format, PromptVersion.variables, PromptVersion.includes, PromptVersion.message,
        PromptVersion.author, PromptVersion.content_hash, PromptVersion.created_at,
    ]  # fmt: skip
    base = (
        select(*columns)
        .join(Prompt, Prompt.id == PromptVersion.prompt_id)
        .where(Prompt.project_id == bindparam("project_id"), Prompt.name == bindparam("name"))
    )
    by_label = base.join(PromptLabel, PromptLabel.version_id == PromptVersion.id).where(PromptLabel.label == bindparam("label"))
    by_version = base.where(PromptVersion.version == bindparam("version"))
    labels = select(PromptLabel.label).where(PromptLabel.version_id == bindparam("version_id")).order_by(PromptLabel.label)
    return by_label, by_version, labels


def render_ref(
    session: Session, project_id: str, ref: str, variables: dict[str, Any] | None = None, settings: Settings | None = None
) -> dict[str, Any]:
    """Render the version ``ref`` names (``name``, ``name@3``, ``name@production``) with ``variables``,
    within the render limits of ``settings`` (default: the settings' defaults).

    Returns ``messages`` (chat) or ``text`` (text prompts), ``model`` (name or None), ``params`` (dict:
    temperature...), ``tools``, ``response_format``, ``prompt_name`` and ``prompt_version``. Raises
    NotFound for an unknown prompt/version/label, InvalidInput naming a missing variable or a limit.
    """
    return render(session, project_id, parse_ref(ref), variables or {}, settings)


def render(
    session: Session, project_id: str, ref: PromptRef, variables: dict[str, Any], settings: Settings | None = None
) -> dict[str, Any]:
    from stackwright.prompts.limits import RenderLimits
    from stackwright.prompts.templates import render_payload

    limits = RenderLimits.from_settings(settings) if settings is not None else None
    return render_payload(show(session, project_id, ref), variables, limits)


def list_prompts(session: Session, project_id: str, *, cursor: str | None = None, limit: int = 50) -> tuple[list[dict[str, Any]], str | None]:
    """The project's prompts, newest first, with their labels and latest version's type and model."""
    from stackwright.core.cursors import decode_id_cursor, encode_id_cursor

    query = select(Prompt).where(Prompt.project_id == project_id).order_by(Prompt.id.desc()).limit(limit + 1)
    before = decode_id_cursor("p", cursor)
    if before is not None:
        query = query.where(Prompt.id < before)
    prompts = list(session.scalars(query))
    next_cursor = encode_id_cursor("p", prompts[limit - 1].id) if len(prompts) > limit else None
    prompts = prompts[:limit]
    ids = [p.id for p in prompts]
    heads = session.execute(
        select(PromptVersion.prompt_id, PromptVersion.type, PromptVersion.model)
        .join(Prompt, Prompt.id == PromptVersion.prompt_id)
        .where(PromptVersion.prompt_id.in_(ids), PromptVersion.version == Prompt.latest_version)
    )
    latest = {row.prompt_id: row for row in heads}
    labels: dict[int, dict[str, int]] = {}
    label_rows = session.execute(
        select(PromptLabel.prompt_id, PromptLabel.label, PromptVersion.version)
        .join(PromptVersion, PromptVersion.id == PromptLabel.version_id)
        .where(PromptLabel.prompt_id.in_(ids))
        .order_by(PromptLabel.label)
    )
    for prompt_id, label, version in label_rows:
        labels.setdefault(prompt_id, {})[label] = version
    data = []
    for prompt in prompts:
        head = latest.get(prompt.id)
        data.append({
            "name": prompt.name,
            "latest_version": prompt.latest_version,
            "type": head.type if head else None,
            "model": head.model if head else None,
            "labels": labels.get(prompt.id, {}),
            "protected_labels": list(prompt.protected_labels or []),
            "created_at": prompt.created_at,
            "updated_at": prompt.updated_at,
        })  # fmt: skip
    return data, next_cursor


def list_versions(
    session: Session, project_id: str, name: str, *, cursor: str | None = None, limit: int = 50
) -> tuple[list[dict[str, Any]], str | None]:
    """One prompt's versions, newest first, with the labels pointing at each."""
    from stackwright.core.cursors import decode_id_cursor, encode_id_cursor

    prompt = get_prompt(session, project_id, name)
    query = select(PromptVersion).where(PromptVersion.prompt_id == prompt.id).order_by(PromptVersion.version.desc()).limit(limit + 1)
    before = decode_id_cursor("v", cursor)
    if before is not None:
        query = query.where(PromptVersion.version < before)
    rows = list(session.scalars(query))
    next_cursor = encode_id_cursor("v", rows[limit - 1].version) if len(rows) > limit else None
    by_version: dict[int, list[str]] = {}
    for label, version in label_map(session, prompt.id).items():
        by_version.setdefault(version, []).append(label)
    data = [
        {"name": prompt.name, "version": r.version, "type": r.type, "model": r.model, "labels": by_version.get(r.version, []),
         "message": r.message, "author": r.author, "content_hash": r.content_hash, "created_at": r.created_at}
        for r in rows[:limit]
    ]  # fmt: skip
    return data, next_cursor


def label_history(
    session: Session, project_id: str, name: str, *, label: str | None = None, cursor: str | None = None, limit: int = 50
) -> tuple[list[dict[str, Any]], str | None]:
    """Every label move of one prompt, newest first (``to_version`` None: the label was removed)."""
    from stackwright.core.cursors import decode_id_cursor, encode_id_cursor
    from stackwright.prompts.models import PromptLabelMove
    from stackwright.prompts.refs import check_label

    if label is not None:
        check_label(label)
    prompt = get_prompt(session, project_id, name)
    query = select(PromptLabelMove).where(PromptLabelMove.prompt_id == prompt.id).order_by(PromptLabelMove.id.desc()).limit(limit + 1)
    if label is not None:
        query = query.where(PromptLabelMove.label == label)
    before = decode_id_cursor("h", cursor)
    if before is not None:
        query = query.where(PromptLabelMove.id < before)
    rows = list(session.scalars(query))
    next_cursor = encode_id_cursor("h", rows[limit - 1].id) if len(rows) > limit else None
    data = [
        {"name": prompt.name, "label": r.label, "from_version": r.from_version, "to_version": r.to_version,
         "actor": r.actor, "created_at": r.created_at}
        for r in rows[:limit]
    ]  # fmt: skip
    return data, next_cursor


def render_for_gateway(db: Any, project_id: str, ref: str, variables: dict[str, Any]) -> dict[str, Any]:
    """The gateway's prompt renderer (installed as a gateway hook): ``"model": "prompt:REF"`` requests."""
    with db.read() as session:
        return render_ref(session, project_id, ref, variables, db.settings)
