"""`stackwright guardrails ...`: apply policy files, list, show, delete, and check a text, on the store directly."""

from __future__ import annotations

from pathlib import Path

import typer

from stackwright.auth.commands import project_for
from stackwright.core import command_helpers as common

guardrails_app = typer.Typer(help="Guardrails: policies (input/output checks per route) and ad-hoc checks.", no_args_is_help=True)


@guardrails_app.command("apply")
def apply(
    ctx: typer.Context,
    files: list[Path] = typer.Argument(..., help="Policy YAML files (name, route, input, output)."),
    project: str | None = common.PROJECT_OPTION,
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Create or replace policies from YAML files. All or nothing; errors name the file, line and key."""
    from stackwright.auth.actors import cli_actor
    from stackwright.guardrails.policy import load_file
    from stackwright.guardrails.service import put_policy

    policies = [load_file(path) for path in files]
    with common.database(ctx).write() as session:
        project_id = project_for(ctx, session, project).id
        results = []
        for p in policies:
            data, state = put_policy(session, cli_actor(), project_id, p)
            results.append({**data, "state": state})
    if as_json:
        common.print_json(results)
        return
    for policy, result in zip(policies, results, strict=True):
        typer.echo(f"{policy.name} (route {policy.route}): {result['state']}, revision {result['revision']}, "
                   f"{len(policy.input)} input and {len(policy.output)} output checks.")  # fmt: skip


@guardrails_app.command("list")
def list_(ctx: typer.Context, project: str | None = common.PROJECT_OPTION, as_json: bool = common.JSON_OPTION) -> None:
    """The project's policies."""
    from stackwright.guardrails.service import list_policies

    with common.database(ctx).read() as session:
        rows = list_policies(session, project_for(ctx, session, project).id)
    for row in rows:
        row["input_checks"] = ", ".join(f"{c['check']}:{c['action']}" for c in row["input"])
        row["output_checks"] = ", ".join(f"{c['check']}:{c['action']}" for c in row["output"])
    if as_json:
        common.print_json(rows)
        return
    common.emit(rows, ["name", "route", "revision", "input_checks", "output_checks", "updated_at"], False, title="Guardrail policies")


@guardrails_app.command("show")
def show(ctx: typer.Context, name: str = typer.Argument(..., help="Policy name."), project: str | None = common.PROJECT_OPTION,
         as_json: bool = common.JSON_OPTION) -> None:  # fmt: skip
    """One policy, as YAML (or JSON)."""
    from stackwright.guardrails.service import get_row, payload

    with common.database(ctx).read() as session:
        data = payload(get_row(session, project_for(ctx, session, project).id, name))
    if as_json:
        common.print_json(data)
        return
    import yaml

    shown = {k: data[k] for k in ("name", "route", "description", "input", "output")}
    typer.echo(f"# revision {data['revision']}, updated {data['updated_at'].isoformat()}")
    typer.echo(yaml.safe_dump(shown, sort_keys=False).rstrip())


@guardrails_app.command("delete")
def delete(ctx: typer.Context, name: str = typer.Argument(..., help="Policy name."), project: str | None = common.PROJECT_OPTION,
           yes: bool = typer.Option(False, "--yes", help="Confirm the deletion.")) -> None:  # fmt: skip
    """Delete a policy (needs --yes)."""
    from stackwright.auth.actors import cli_actor
    from stackwright.guardrails.service import delete_policy

    if not yes:
        typer.echo(f"Refusing to delete policy {name!r} without --yes.", err=True)
        raise typer.Exit(2)
    with common.database(ctx).write() as session:
        delete_policy(session, cli_actor(), project_for(ctx, session, project).id, name)
    typer.echo(f"Deleted policy {name}.")


@guardrails_app.command("check")
def check(
    ctx: typer.Context,
    text: str = typer.Argument(..., help="The text to check ('-' reads standard input)."),
    policy: str = typer.Option(None, "--policy", help="Run this stored policy's checks."),
    checks: list[str] = typer.Option(None, "--check", help="A check to run, NAME or NAME:ACTION (repeatable), e.g. --check pii:redact."),
    direction: str = typer.Option("input", "--direction", help="input or output."),
    context: str = typer.Option(None, "--context", help="Grounding context (groundedness)."),
    project: str | None = common.PROJECT_OPTION,
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Run checks on a text: decisions, the final (redacted) text, and whether it is blocked (exit 1)."""
    import asyncio
    import sys

    from stackwright.core.errors import InvalidInput
    from stackwright.guardrails import acheck_text
    from stackwright.guardrails.policy import checks_from_list

    if direction not in ("input", "output"):
        raise InvalidInput(f"--direction must be input or output, not {direction!r}.")
    if bool(policy) == bool(checks):
        raise InvalidInput("Give either --policy NAME or one or more --check NAME, not both and not neither.")
    if text == "-":
        text = sys.stdin.read()
    if policy:
        from stackwright.guardrails.service import get_policy

        with common.database(ctx).read() as session:
            found = get_policy(session, project_for(ctx, session, project).id, policy)
        specs = found.input if direction == "input" else found.output
    else:
        entries = [dict(zip(("check", "action"), c.split(":", 1), strict=False)) for c in checks]
        specs = checks_from_list(entries, direction)
    result = asyncio.run(acheck_text(specs, text, direction, context))
    if as_json:
        common.print_json(result)
    else:
        for d in result["decisions"]:
            state = "TRIGGERED" if d["triggered"] else "ok"
            why = f": {'; '.join(d['reasons'])}" if d["reasons"] and d["triggered"] else ""
            typer.echo(f"{d['check']:<17} {state:<9} action={d['action']} score={d['score']:.2f}{why}")
        typer.echo("BLOCKED" if result["blocked"] else f"text: {result['text']}")
    if result["blocked"]:
        raise typer.Exit(1)
