"""The prompt registry's logic (no HTTP): look up, push, label, list and render prompt versions.

Every query is scoped by ``project_id``: another project's prompt answers NotFound, never its data.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

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
    """The stored version a parsed reference points at (label ``latest`` when it names neither)."""
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
