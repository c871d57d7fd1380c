"""`stackwright prompts ...`: push prompt files, list, show, diff, label and render, on the store directly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from stackwright.auth.commands import project_for
from stackwright.core import command_helpers as common

prompts_app = typer.Typer(help="Prompt registry: push, list, show, diff, label, render.", no_args_is_help=True)
LABEL_OPTION = typer.Option(None, "--label", help="A label (default: latest).")
VERSION_OPTION = typer.Option(None, "--version", help="A version number.")
LIMIT_OPTION = typer.Option(50, "--limit", min=1, max=500, help="How many rows.")


def _labels_text(labels: dict[str, int]) -> str:
    return ", ".join(f"{label}={version}" for label, version in labels.items())


def _push_all(session: Any, project_id: str, files: list[tuple[Path, Any]]) -> list[dict[str, Any]]:
    """Push every file in one transaction; a file whose include is not pushed yet waits for the others."""
    from stackwright.auth.actors import cli_actor
    from stackwright.core.errors import NotFound, StackwrightError
    from stackwright.prompts.push import push

    actor = cli_actor()
    results: dict[Path, dict[str, Any]] = {}
    pending = list(files)
    while pending:
        waiting: list[tuple[Path, Any, NotFound]] = []
        for path, raw in pending:
            try:
                with session.begin_nested():
                    results[path] = push(session, actor, project_id, raw, source=str(path))
            except NotFound as exc:
                waiting.append((path, raw, exc))
            except StackwrightError as exc:
                if str(path) in exc.message:
                    raise
                raise type(exc)(f"{path}: {exc.message}", details=exc.details) from None
        if len(waiting) == len(pending):
            path, _, first_error = waiting[0]
            raise NotFound(f"{path}: {first_error.message}")
        pending = [(path, raw) for path, raw, _ in waiting]
    return [{"file": str(path), **results[path]} for path, _ in files]


@prompts_app.command("push")
def push(
    ctx: typer.Context,
    files: list[Path] = typer.Argument(..., help="Prompt YAML files (name, type, messages or template, model, labels)."),
    project: str | None = common.PROJECT_OPTION,
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Push prompt files (idempotent: unchanged content keeps its version). All or nothing."""
    from stackwright.prompts.spec import load_file

    loaded = [(path, load_file(path)) for path in files]
    with common.database(ctx).write() as session:
        results = _push_all(session, project_for(ctx, session, project).id, loaded)
    if as_json:
        common.print_json(results)
        return
    for r in results:
        state = "new version" if r["created"] else "unchanged"
        moved = f"; moved {', '.join(r['moved'])}" if r["moved"] else ""
        typer.echo(f"{r['name']}@{r['version']}: {state} ({r['file']}){moved}.")


@prompts_app.command("list")
def list_(ctx: typer.Context, project: str | None = common.PROJECT_OPTION, limit: int = LIMIT_OPTION, as_json: bool = common.JSON_OPTION) -> None:
    """List the project's prompts with their latest version and labels."""
    from stackwright.prompts import service

    with common.database(ctx).read() as session:
        rows, _ = service.list_prompts(session, project_for(ctx, session, project).id, limit=limit)
    if as_json:
        common.print_json(rows)
        return
    table = [{**r, "labels": _labels_text(r["labels"]), "protected": ", ".join(r["protected_labels"])} for r in rows]
    common.print_table(table, ["name", "latest_version", "type", "model", "labels", "protected", "updated_at"], title="prompts")


@prompts_app.command("show")
def show(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Prompt name."),
    label: str | None = LABEL_OPTION,
    version: int | None = VERSION_OPTION,
    project: str | None = common.PROJECT_OPTION,
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Show one version: templates, model, parameters, variables and labels."""
    from stackwright.prompts import service
    from stackwright.prompts.refs import make_ref

    ref = make_ref(name, version=version, label=label)
    with common.database(ctx).read() as session:
        payload = service.show(session, project_for(ctx, session, project).id, ref)
    if as_json:
        common.print_json(payload)
        return
    typer.echo(f"{payload['name']}@{payload['version']} ({payload['type']})  labels: {', '.join(payload['labels']) or '-'}")
    typer.echo(f"model: {payload['model'] or '-'}  params: {payload['params'] or {}}")
    typer.echo(f"variables: {', '.join(payload['variables'].get('properties', {})) or '-'}  by {payload['author']} at {payload['created_at'].isoformat()}")
    if payload["message"]:
        typer.echo(f"message: {payload['message']}")
    if payload["type"] == "text":
        typer.echo("---\n" + (payload["template"] or ""))
    for index, message in enumerate(payload["messages"] or []):
        typer.echo(f"--- message {index + 1} ({message['role']})\n{message['content']}")


@prompts_app.command("versions")
def versions(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Prompt name."),
    project: str | None = common.PROJECT_OPTION,
    limit: int = LIMIT_OPTION,
    as_json: bool = common.JSON_OPTION,
) -> None:
    """List a prompt's versions, newest first."""
    from stackwright.prompts import service

    with common.database(ctx).read() as session:
        rows, _ = service.list_versions(session, project_for(ctx, session, project).id, name, limit=limit)
    if as_json:
        common.print_json(rows)
        return
    table = [{**r, "labels": ", ".join(r["labels"])} for r in rows]
    common.print_table(table, ["version", "type", "model", "labels", "message", "author", "created_at"], title=f"{name} versions")


@prompts_app.command("diff")
def diff(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Prompt name."),
    old: str = typer.Argument(..., metavar="FROM", help="Version number or label."),
    new: str = typer.Argument(..., metavar="TO", help="Version number or label."),
    project: str | None = common.PROJECT_OPTION,
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Unified diff of two versions' templates, then the other fields that changed."""
    from stackwright.prompts.diff import diff as diff_versions

    with common.database(ctx).read() as session:
        result = diff_versions(session, project_for(ctx, session, project).id, name, old, new)
    if as_json:
        common.print_json(result)
        return
    if result["identical"]:
        typer.echo(f"{name}@{result['from']['version']} and {name}@{result['to']['version']} are identical.")
        return
    typer.echo(result["diff"], nl=False)
    for change in result["changes"]:
        typer.echo(f"{change['field']}: {change['from']!r} -> {change['to']!r}")


@prompts_app.command("label")
def label(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Prompt name."),
    label_name: str = typer.Argument(..., metavar="LABEL", help="Label, e.g. production."),
    version: int = typer.Argument(..., help="The version the label should point at."),
    project: str | None = common.PROJECT_OPTION,
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Point a label at a version (audited, kept in the label history)."""
    from stackwright.auth.actors import cli_actor
    from stackwright.prompts.labels import set_label

    with common.database(ctx).write() as session:
        result = set_label(session, cli_actor(), project_for(ctx, session, project).id, name, label_name, version)
    if as_json:
        common.print_json(result)
    elif result["moved"]:
        typer.echo(f"{name}: {label_name} -> {version} (was {result['previous_version'] or 'unset'}).")
    else:
        typer.echo(f"{name}: {label_name} already points at {version}.")


@prompts_app.command("unlabel")
def unlabel(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Prompt name."),
    label_name: str = typer.Argument(..., metavar="LABEL", help="Label to remove (not latest)."),
    project: str | None = common.PROJECT_OPTION,
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Remove a label from a prompt."""
    from stackwright.auth.actors import cli_actor
    from stackwright.prompts.labels import remove_label

    with common.database(ctx).write() as session:
        result = remove_label(session, cli_actor(), project_for(ctx, session, project).id, name, label_name)
    if as_json:
        common.print_json(result)
    else:
        typer.echo(f"{name}: removed {label_name} (was {result['previous_version']}).")


@prompts_app.command("history")
def history(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Prompt name."),
    label_name: str | None = typer.Option(None, "--label", help="Only this label's moves."),
    project: str | None = common.PROJECT_OPTION,
    limit: int = LIMIT_OPTION,
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Label moves of a prompt, newest first."""
    from stackwright.prompts import service

    with common.database(ctx).read() as session:
        rows, _ = service.label_history(session, project_for(ctx, session, project).id, name, label=label_name, limit=limit)
    common.emit(rows, ["created_at", "label", "from_version", "to_version", "actor"], as_json, title=f"{name} label history")


@prompts_app.command("protect")
def protect(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Prompt name."),
    labels: list[str] = typer.Argument(None, metavar="[LABEL]...", help="Labels only admins may move; none: no protection."),
    project: str | None = common.PROJECT_OPTION,
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Set the labels that only admin keys may move (replaces the list; default: production)."""
    from stackwright.auth.actors import cli_actor
    from stackwright.prompts.labels import protect as set_protected

    with common.database(ctx).write() as session:
        result = set_protected(session, cli_actor(), project_for(ctx, session, project).id, name, labels or [])
    if as_json:
        common.print_json(result)
    else:
        typer.echo(f"{name}: protected labels: {', '.join(result['protected_labels']) or 'none'}.")


def parse_vars(pairs: list[str], vars_file: Path | None) -> dict[str, Any]:
    """Variables from a YAML/JSON file, then ``k=v`` pairs (strings) on top."""
    from stackwright.core.errors import InvalidInput
    from stackwright.prompts.spec import load_file

    values: dict[str, Any] = {}
    if vars_file is not None:
        loaded = load_file(vars_file)
        if not isinstance(loaded, dict):
            raise InvalidInput(f"{vars_file} must hold a mapping of variable names to values.")
        values.update(loaded)
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"--var {pair!r} is not of the form name=value.", hint="e.g. --var product=Acme")
        values[key.strip()] = value
    return values


@prompts_app.command("render")
def render(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Prompt name."),
    label: str | None = LABEL_OPTION,
    version: int | None = VERSION_OPTION,
    var: list[str] = typer.Option([], "--var", help="A variable as name=value (repeat)."),
    vars_file: Path | None = typer.Option(None, "--vars", help="A YAML or JSON file of variables."),
    project: str | None = common.PROJECT_OPTION,
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Render a version with variables: the messages or text, and the model config."""
    from stackwright.prompts import service
    from stackwright.prompts.refs import make_ref

    ref = make_ref(name, version=version, label=label)
    values = parse_vars(var, vars_file)
    db = common.database(ctx)
    with db.read() as session:
        result = service.render(session, project_for(ctx, session, project).id, ref, values, db.settings)
    if as_json:
        common.print_json(result)
        return
    typer.echo(f"# {result['prompt_name']}@{result['prompt_version']}  model: {result['model'] or '-'}  params: {result['params']}")
    if "text" in result:
        typer.echo(result["text"])
    for message in result.get("messages", []):
        typer.echo(f"[{message['role']}]\n{message['content']}")
