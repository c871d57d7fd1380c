"""Prompt names, labels and references (``name``, ``name@3``, ``name@production``), checked in one place."""

from __future__ import annotations

import re
from dataclasses import dataclass

from stackwright.core.errors import InvalidInput

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
LABEL_PATTERN = re.compile(r"^[a-z][a-z0-9._-]{0,63}$")
LATEST = "latest"
REF_PREFIX = "prompt:"


@dataclass(frozen=True)
class PromptRef:
    """A parsed reference: exactly one of ``version`` or ``label`` may be set (neither means latest)."""

    name: str
    version: int | None = None
    label: str | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}@{self.version}"
        return f"{self.name}@{self.label}" if self.label else self.name


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise InvalidInput(
            f"Prompt name {name!r} is not valid.",
            hint="Use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit.",
        )
    return name


def check_label(label: str) -> str:
    if not isinstance(label, str) or not LABEL_PATTERN.match(label):
        raise InvalidInput(
            f"Label {label!r} is not valid.",
            hint="Use 1-64 lower-case letters, digits, '.', '_' or '-', starting with a letter (e.g. production).",
        )
    return label


def check_version(version: int) -> int:
    if isinstance(version, bool) or not isinstance(version, int) or version < 1 or version > 2**31 - 1:
        raise InvalidInput(f"Version {version!r} is not valid.", hint="Versions are whole numbers from 1.")
    return version


def parse_ref(ref: str) -> PromptRef:
    """``name``, ``name@3`` or ``name@label`` (an optional ``prompt:`` prefix is accepted)."""
    if not isinstance(ref, str) or not ref.strip():
        raise InvalidInput("A prompt reference is empty.", hint="Use name, name@3 (a version) or name@production (a label).")
    text = ref.strip().removeprefix(REF_PREFIX)
    name, sep, selector = text.partition("@")
    check_name(name)
    if not sep:
        return PromptRef(name)
    if selector.isascii() and selector.isdigit():
        return PromptRef(name, version=check_version(int(selector)))
    if not selector:
        raise InvalidInput(f"Prompt reference {ref!r} has nothing after '@'.", hint="Use name@3 or name@production.")
    return PromptRef(name, label=check_label(selector))


def make_ref(name: str, *, version: int | None = None, label: str | None = None) -> PromptRef:
    """A reference from separate arguments (API query, CLI options); version and label are exclusive."""
    if version is not None and label is not None:
        raise InvalidInput("Give a version or a label, not both.")
    return PromptRef(
        check_name(name),
        version=check_version(version) if version is not None else None,
        label=check_label(label) if label is not None else None,
    )
