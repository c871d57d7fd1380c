"""Command groups are plural nouns; the old singular names still run the same commands but stay out of --help."""

from __future__ import annotations

import re

import pytest

from stackwright.cli.main import HIDDEN_ALIASES


def _listed_commands(help_text: str) -> set[str]:
    """The command names in rich's `Commands` panel: one `│ name  description` row each."""
    return set(re.findall(r"^│ (\S+) ", help_text, flags=re.MULTILINE))


def test_help_lists_only_the_plural_names(cli):
    listed = _listed_commands(cli.ok("--help").stdout)
    assert {"releases", "evals", "traces", "prompts", "datasets"} <= listed
    assert not set(HIDDEN_ALIASES) & listed


@pytest.mark.parametrize(("old", "new"), sorted(HIDDEN_ALIASES.items()))
def test_old_and_new_names_run_the_same_command(cli_ready, old, new):
    assert cli_ready.json(old, "list") == cli_ready.json(new, "list") == []
    assert f"Usage: stackwright {old} list" in cli_ready.ok(old, "list", "--help").stdout


def test_a_change_made_under_the_old_name_is_seen_under_the_new_one(cli_ready, tmp_path):
    prompt = tmp_path / "prompt.yaml"
    prompt.write_text('{"name": "greet", "type": "text", "template": "Hello {{ who }}"}')
    cli_ready.ok("prompts", "push", str(prompt))
    cli_ready.ok("release", "set", "greet.route", "--env", "prod", "--prompt", "greet@1", "--model", "m")
    assert [r["route"] for r in cli_ready.json("releases", "list")] == ["greet.route"]
    assert cli_ready.json("eval", "online", "list") == cli_ready.json("evals", "online", "list") == []


def test_aliases_apply_to_top_level_groups_only(cli):
    assert "Run the support eval spec" in cli.ok("demo", "eval", "--help").stdout
    assert "Evaluate retrieval" in cli.ok("retrieval", "eval", "--help").stdout
    result = cli("evalz", "list")
    assert result.exit_code == 2 and "No such command 'evalz'" in result.stderr
