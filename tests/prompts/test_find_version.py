"""find_version: versions, labels, latest, NotFound listing what exists, other projects' prompts."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from stackwright.auth.models import Project
from stackwright.core.clock import utcnow
from stackwright.core.errors import InvalidInput, NotFound
from stackwright.prompts.models import Prompt, PromptLabel, PromptVersion
from stackwright.prompts.service import find_version
from tests.auth.conftest import other  # noqa: F401  (fixture)


def _store(session, project_id: str, name: str, versions: int, labels: dict[str, int]) -> None:
    """Rows written directly, so this test needs nothing but the tables."""
    prompt = Prompt(project_id=project_id, name=name, latest_version=versions, protected_labels=["production"])
    session.add(prompt)
    session.flush()
    rows = {}
    for number in range(1, versions + 1):
        rows[number] = PromptVersion(
            prompt_id=prompt.id, version=number, type="text", content_hash=f"{name}-{number}", template=f"v{number}",
            params={}, variables={}, includes=[], message="", author="test", created_at=utcnow(),
        )  # fmt: skip
        session.add(rows[number])
    session.flush()
    for label, number in labels.items():
        session.add(PromptLabel(prompt_id=prompt.id, label=label, version_id=rows[number].id, updated_by="test"))
    session.flush()


@pytest.fixture
def stored(prepared, other):
    with prepared.write() as s:
        default_id = s.scalar(select(Project.id).where(Project.name == "default"))
        _store(s, default_id, "support-answer", 3, {"latest": 3, "production": 2})
        _store(s, other.project_id, "secret-prompt", 1, {"latest": 1})
    return default_id


def test_version_label_and_latest(prepared, stored):
    with prepared.read() as s:
        assert find_version(s, stored, "support-answer@1").version == 1
        row = find_version(s, stored, "support-answer@production")
        assert (row.version, row.prompt.name, row.template) == (2, "support-answer", "v2")
        assert find_version(s, stored, "support-answer").version == 3
        assert find_version(s, stored, "prompt:support-answer@latest").version == 3
    assert row.prompt.name == "support-answer" and isinstance(row.id, int)  # usable after the session closed


def test_unknown_prompt_version_and_label_say_what_exists(prepared, stored):
    with prepared.read() as s:
        with pytest.raises(NotFound, match=r"No prompt named 'nope'.*support-answer"):
            find_version(s, stored, "nope@1")
        with pytest.raises(NotFound, match=r"no version 9.*versions 1 to 3"):
            find_version(s, stored, "support-answer@9")
        with pytest.raises(NotFound, match=r"no label 'staging'.*latest -> 3, production -> 2"):
            find_version(s, stored, "support-answer@staging")


def test_another_projects_prompt_is_not_found(prepared, stored, other):
    with prepared.read() as s:
        with pytest.raises(NotFound) as info:
            find_version(s, stored, "secret-prompt")
        assert "secret-prompt" in info.value.message and "support-answer" in info.value.message
        assert find_version(s, other.project_id, "secret-prompt").version == 1


@pytest.mark.parametrize("ref", ["", "@3", "bad name", "x@", "x@Prod", "x@0", "x@-1"])
def test_malformed_references_are_invalid(prepared, stored, ref):
    with prepared.read() as s, pytest.raises(InvalidInput):
        find_version(s, stored, ref)
