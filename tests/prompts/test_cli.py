"""`stackwright prompts ...`: every command with --json and as text, and bad input (error: ..., exit 1)."""

from __future__ import annotations

import yaml

from stackwright.prompts.models import PromptVersion
from tests.cli.conftest import cli, cli_ready  # noqa: F401  (fixtures)
from tests.prompts.conftest import SUPPORT, TONE, VARIABLES, support


def _write(path, content) -> str:
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False))
    return str(path)


def test_push_list_show_versions(cli_ready, tmp_path):  # noqa: F811
    path = _write(tmp_path / "support-answer.yaml", SUPPORT)
    result = cli_ready.json("prompts", "push", path)
    assert [(r["name"], r["version"], r["created"], r["file"]) for r in result] == [("support-answer", 1, True, path)]
    assert "support-answer@1: unchanged" in cli_ready.ok("prompts", "push", path).stdout
    _write(tmp_path / "support-answer.yaml", support(system="v2 {{ product }}", message="shorter"))
    assert "support-answer@2: new version" in cli_ready.ok("prompts", "push", path).stdout
    listed = cli_ready.json("prompts", "list")
    assert listed[0]["name"] == "support-answer" and listed[0]["labels"] == {"latest": 2, "staging": 2}
    assert "latest=2, staging=2" in cli_ready.ok("prompts", "list").stdout
    shown = cli_ready.json("prompts", "show", "support-answer", "--version", "1")
    assert shown["version"] == 1 and shown["messages"] == SUPPORT["messages"] and shown["author"].startswith("cli:")
    text = cli_ready.ok("prompts", "show", "support-answer", "--label", "staging").stdout
    assert "support-answer@2 (chat)" in text and "message: shorter" in text and "--- message 1 (system)\nv2 {{ product }}" in text
    versions = cli_ready.json("prompts", "versions", "support-answer")
    assert [(v["version"], v["labels"]) for v in versions] == [(2, ["latest", "staging"]), (1, [])]
    assert "shorter" in cli_ready.ok("prompts", "versions", "support-answer").stdout


def test_push_many_files_in_dependency_order(cli_ready, tmp_path):  # noqa: F811
    main = _write(tmp_path / "main.yaml", support(system="{{ product }} {% include 'prompt:tone' %}"))
    tone = _write(tmp_path / "tone.yaml", TONE)
    result = cli_ready.json("prompts", "push", main, tone)  # main includes tone, listed first
    assert [(r["name"], r["version"]) for r in result] == [("support-answer", 1), ("tone", 1)]
    rendered = cli_ready.json("prompts", "render", "support-answer", *sum((["--var", f"{k}={v}"] for k, v in VARIABLES.items()), []))
    assert rendered["messages"][0]["content"] == "Acme Be kind and brief."


def test_label_unlabel_history_protect_diff(cli_ready, tmp_path):  # noqa: F811
    path = _write(tmp_path / "p.yaml", SUPPORT)
    cli_ready.ok("prompts", "push", path)
    _write(tmp_path / "p.yaml", support(system="changed {{ product }}", model={"name": "gpt-4o"}))
    cli_ready.ok("prompts", "push", path)
    moved = cli_ready.json("prompts", "label", "support-answer", "production", "1")
    assert moved["moved"] is True and moved["previous_version"] is None
    assert "production -> 2 (was 1)" in cli_ready.ok("prompts", "label", "support-answer", "production", "2").stdout
    assert "already points at 2" in cli_ready.ok("prompts", "label", "support-answer", "production", "2").stdout
    assert cli_ready.json("prompts", "unlabel", "support-answer", "staging")["previous_version"] == 2
    history = cli_ready.json("prompts", "history", "support-answer", "--label", "production")
    assert [(h["from_version"], h["to_version"]) for h in history] == [(1, 2), (None, 1)]
    assert "production" in cli_ready.ok("prompts", "history", "support-answer").stdout
    assert cli_ready.json("prompts", "protect", "support-answer", "production", "eu")["protected_labels"] == ["production", "eu"]
    assert "protected labels: none" in cli_ready.ok("prompts", "protect", "support-answer").stdout
    diff = cli_ready.json("prompts", "diff", "support-answer", "1", "production")
    assert diff["to"]["version"] == 2 and "+changed {{ product }}" in diff["diff"]
    text = cli_ready.ok("prompts", "diff", "support-answer", "1", "2").stdout
    assert "--- support-answer@1" in text and "model: 'gpt-4o-mini' -> 'gpt-4o'" in text
    assert "are identical" in cli_ready.ok("prompts", "diff", "support-answer", "2", "latest").stdout


def test_render(cli_ready, tmp_path):  # noqa: F811
    cli_ready.ok("prompts", "push", _write(tmp_path / "p.yaml", SUPPORT))
    vars_file = _write(tmp_path / "vars.yaml", {"product": "Acme", "context": "ctx"})
    out = cli_ready.ok("prompts", "render", "support-answer", "--vars", vars_file, "--var", "question=Why?", "--var", "product=Other").stdout
    assert "# support-answer@1  model: gpt-4o-mini" in out and "[system]\nYou are the support assistant for Other." in out
    assert "Question: Why?" in out
    cli_ready.ok("prompts", "push", _write(tmp_path / "t.yaml", TONE))
    assert cli_ready.ok("prompts", "render", "tone", "--var", "mood=calm").stdout.endswith("Be calm and brief.\n")


def test_bad_input(cli_ready, tmp_path):  # noqa: F811
    fails = cli_ready.fails
    fails("prompts", "push", str(tmp_path / "missing.yaml"), needle="does not exist")
    fails("prompts", "push", _write(tmp_path / "broken.yaml", "name: x\nmessages: [\n"), needle="not valid YAML at line 3")
    fails("prompts", "push", _write(tmp_path / "list.yaml", "- a\n- b\n"), needle="must be a mapping")
    bad_template = _write(tmp_path / "bad.yaml", support(system="Hi {{ product }"))
    fails("prompts", "push", bad_template, needle="bad.yaml: Template syntax error in message 1 (system) at line 1, column 15")
    good = _write(tmp_path / "good.yaml", TONE)
    fails("prompts", "push", good, bad_template)  # all or nothing: the good file is not stored either
    assert cli_ready.count(PromptVersion) == 0
    fails("prompts", "push", _write(tmp_path / "inc.yaml", {"name": "x", "template": "{% include 'prompt:nothing' %}"}), needle="nothing")
    fails("prompts", "push", good, "--project", "nope", needle="No project 'nope'")
    cli_ready.ok("prompts", "push", _write(tmp_path / "p.yaml", SUPPORT))
    fails("prompts", "show", "nope", needle="No prompt named 'nope'")
    fails("prompts", "show", "support-answer", "--version", "3", needle="no version 3")
    fails("prompts", "show", "support-answer", "--label", "prod", needle="no label 'prod'")
    fails("prompts", "show", "support-answer", "--label", "latest", "--version", "1", needle="not both")
    fails("prompts", "show", "bad name", needle="not valid")
    fails("prompts", "versions", "nope", needle="No prompt")
    fails("prompts", "history", "support-answer", "--label", "Bad", needle="not valid")
    fails("prompts", "diff", "support-answer", "1", "9", needle="no version 9")
    fails("prompts", "diff", "support-answer", "1", "Bad!", needle="not valid")
    fails("prompts", "label", "support-answer", "production", "4", needle="no version 4")
    fails("prompts", "label", "support-answer", "Prod", "1", needle="not valid")
    fails("prompts", "label", "nope", "production", "1", needle="No prompt")
    fails("prompts", "unlabel", "support-answer", "latest", needle="cannot be removed")
    fails("prompts", "unlabel", "support-answer", "production", needle="no label 'production'")
    fails("prompts", "protect", "support-answer", "latest", needle="cannot be protected")
    fails("prompts", "render", "support-answer", "--var", "product=Acme", needle="'context', 'question'")
    fails("prompts", "render", "support-answer", "--var", "noequals", needle="name=value")
    fails("prompts", "render", "support-answer", "--vars", str(tmp_path / "none.yaml"), needle="does not exist")
    fails("prompts", "render", "support-answer", "--vars", _write(tmp_path / "l.yaml", "- 1\n"), needle="mapping")
    assert cli_ready("prompts", "label", "support-answer", "production", "x").exit_code == 2  # usage error from typer
