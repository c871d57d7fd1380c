"""One `--project` for every command that works in a project: the flag, then STACKWRIGHT_PROJECT, then the only
project, then the one named `default`; otherwise an error that lists the projects."""

from __future__ import annotations

import typer.main

from stackwright.core import command_helpers as common

# A command from each group that works in a project, none needing more than an empty project.
REPRESENTATIVE = [
    ("traces", "list"),
    ("traces", "settings"),
    ("gateway", "models"),
    ("prompts", "list"),
    ("releases", "list"),
    ("collections", "list"),
    ("search", "refund", "--collection", "kb"),
    ("datasets", "list"),
    ("evals", "list"),
    ("evals", "online", "list"),
    ("jobs", "list"),
    ("jobs", "schedules"),
    ("guardrails", "list"),
]
# Where --project names whom access is granted to (required) or filters (optional): never defaulted.
ACCESS_GROUPS = {"users", "keys", "invitations", "audit"}
# After the flag and STACKWRIGHT_PROJECT, these fall back to the project their argument lives in.
OWN_FALLBACK = {"traces explain", "demo ask", "demo explain"}


def _projects_env(cli, *names: str) -> None:
    cli.ok("init", env={"STACKWRIGHT_INIT_PROJECT": names[0]})
    for name in names[1:]:
        cli.ok("projects", "create", name)


def _retention_of(cli, project: str) -> int | None:
    return cli.json("traces", "settings", "--project", project)["retention_days"]


def test_a_first_start_with_another_project_name_needs_no_project_flag(cli):
    _projects_env(cli, "support")
    assert cli.json("collections", "create", "kb")["name"] == "kb"
    for command in REPRESENTATIVE:
        result = cli.ok(*command, "--json")
        assert "error" not in result.stderr
    assert cli.json("traces", "settings")["project"] == "support"
    assert [c["name"] for c in cli.json("collections", "list")] == ["kb"]


def test_stackwright_project_selects_among_projects_and_the_flag_wins(cli):
    _projects_env(cli, "alpha", "beta")
    for chosen in ("alpha", "beta"):
        assert cli.json("traces", "settings", env={"STACKWRIGHT_PROJECT": chosen})["project"] == chosen
    cli.ok("traces", "settings", "--retention-days", "9", env={"STACKWRIGHT_PROJECT": "beta"})
    assert (_retention_of(cli, "alpha"), _retention_of(cli, "beta")) == (None, 9)
    flagged = cli.json("traces", "settings", "--project", "alpha", env={"STACKWRIGHT_PROJECT": "beta"})
    assert flagged["project"] == "alpha"
    cli.ok("collections", "create", "kb", "--project", "alpha", env={"STACKWRIGHT_PROJECT": "beta"})
    assert [c["name"] for c in cli.json("collections", "list", env={"STACKWRIGHT_PROJECT": "alpha"})] == ["kb"]
    assert cli.json("collections", "list", env={"STACKWRIGHT_PROJECT": "beta"}) == []


def test_an_unknown_project_is_refused_with_the_projects_listed(cli):
    _projects_env(cli, "alpha", "beta")
    from_flag = cli.fails("prompts", "list", "--project", "nope", needle="No project 'nope' (from --project)")
    assert "the projects are: alpha, beta" in from_flag and "STACKWRIGHT_PROJECT" in from_flag
    from_env = cli.fails("jobs", "list", env={"STACKWRIGHT_PROJECT": "gone"}, needle="No project 'gone' (from STACKWRIGHT_PROJECT)")
    assert "alpha, beta" in from_env
    assert from_flag.count("\n") == from_env.count("\n") == 1  # one line, no traceback


def test_two_projects_and_neither_flag_env_nor_default_is_an_error_listing_them(cli):
    _projects_env(cli, "alpha", "beta")
    for command in REPRESENTATIVE[:6]:
        message = cli.fails(*command, needle="none is named 'default'")
        assert "the projects are: alpha, beta" in message and "--project" in message
    cli.ok("projects", "create", "default")
    assert cli.json("traces", "settings")["project"] == "default"


def test_every_project_command_outside_the_access_groups_uses_the_shared_option():
    from stackwright.cli.main import app

    shared = common.PROJECT_OPTION
    seen = []

    def walk(command, path):
        for name, sub in (getattr(command, "commands", None) or {}).items():
            walk(sub, [*path, name])
        option = next((p for p in command.params if p.name == "project"), None)
        if option is None or path[0] in ACCESS_GROUPS or " ".join(path) in OWN_FALLBACK:
            return
        seen.append(" ".join(path))
        assert option.opts == ["--project"] and option.default is None and not option.required, path
        assert option.help == shared.help, f"`stackwright {' '.join(path)}` must use common.PROJECT_OPTION"

    walk(typer.main.get_command(app), [])
    assert {"traces list", "gateway apply", "prompts push", "releases set", "ingest", "search", "datasets import",
            "evals run", "jobs run", "guardrails apply", "retrieval eval"} <= set(seen)  # fmt: skip
