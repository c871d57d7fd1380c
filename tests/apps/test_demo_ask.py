"""`stackwright demo ask`: without the seeded support demo it refuses with what to run (exit 1); the
`demo` group carries the support app's own commands when that app registers them."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner


@pytest.fixture
def env(settings: Any, prepared: Any) -> dict[str, str]:
    return {"STACKWRIGHT_HOME": str(settings.home), "STACKWRIGHT_DATABASE_URL": settings.database_url}


def run(env: dict[str, str], *args: str) -> Any:
    from stackwright.cli.main import app

    return CliRunner().invoke(app, list(args), env=env)


def test_ask_without_seed_says_to_seed_first(env) -> None:
    for extra in ([], ["--json"], ["--user", "u-1"]):
        result = run(env, "demo", "ask", "How do I reset my password?", *extra)
        assert result.exit_code == 1, result.output
        assert "not seeded" in result.stderr and "stackwright demo seed" in result.stderr
        assert result.stdout == ""


def test_ask_in_a_named_project_without_seed_says_so(env) -> None:
    result = run(env, "demo", "ask", "How do I reset my password?", "--project", "default")
    assert result.exit_code == 1 and "project 'default'" in result.stderr and "stackwright demo seed" in result.stderr
    missing = run(env, "demo", "ask", "hi", "--project", "nope")
    assert missing.exit_code == 1 and "No project 'nope'" in missing.stderr


def test_explain_of_an_unknown_trace_is_a_clear_error(env) -> None:
    result = run(env, "demo", "explain", "0" * 31 + "1")
    assert result.exit_code == 1 and "No trace" in result.stderr and "stackwright traces list" in result.stderr


def test_demo_group_lists_its_commands(env) -> None:
    result = run(env, "demo", "--help")
    assert result.exit_code == 0 and "ask" in result.stdout and "explain" in result.stdout
