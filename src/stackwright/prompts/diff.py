"""Diffing two versions of a prompt: a unified diff of the templates plus the other fields that changed."""

from __future__ import annotations

import difflib
from typing import Any

from sqlalchemy.orm import Session

from stackwright.core.errors import InvalidInput
from stackwright.prompts import service
from stackwright.prompts.models import PromptVersion
from stackwright.prompts.refs import PromptRef, check_label, check_name, check_version

FIELDS = ("type", "model", "params", "tools", "response_format", "variables", "includes")


def selector(name: str, value: str | int) -> PromptRef:
    """A version number (``3``) or a label (``production``) of prompt ``name``."""
    text = str(value).strip()
    if not text:
        raise InvalidInput("Give a version number or a label to compare.", hint="e.g. diff support-answer 1 2, or production staging.")
    if text.isascii() and text.isdigit():
        return PromptRef(name, version=check_version(int(text)))
    return PromptRef(name, label=check_label(text))


def template_text(row: PromptVersion) -> str:
    """The version's templates as one text: the template, or each message under a header line."""
    if row.type == "text":
        return row.template or ""
    parts = []
    for index, message in enumerate(row.messages or []):
        parts.append(f"### message {index + 1} ({message.get('role', '?')})")
        parts.append(message.get("content") or "")
    return "\n".join(parts)


def diff(session: Session, project_id: str, name: str, old: str | int, new: str | int) -> dict[str, Any]:
    """{name, from, to, identical, diff (unified text), changes [{field, from, to}]}."""
    check_name(name)
    before = service.resolve(session, project_id, selector(name, old))
    after = service.resolve(session, project_id, selector(name, new))
    lines = difflib.unified_diff(
        template_text(before).splitlines(keepends=True),
        template_text(after).splitlines(keepends=True),
        fromfile=f"{name}@{before.version}",
        tofile=f"{name}@{after.version}",
    )
    text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
    changes = [
        {"field": field, "from": getattr(before, field), "to": getattr(after, field)}
        for field in FIELDS
        if getattr(before, field) != getattr(after, field)
    ]
    return {
        "name": name,
        "from": {"version": before.version, "selector": str(old)},
        "to": {"version": after.version, "selector": str(new)},
        "identical": not text and not changes,
        "diff": text,
        "changes": changes,
    }
