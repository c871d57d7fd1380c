"""`stackwright datasets ...`: import, export, list, show, versions, edit items, add from traces, on the store directly."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from stackwright.auth.commands import project_for
from stackwright.core import command_helpers as common

datasets_app = typer.Typer(help="Datasets: import, export, versions, items, add from traces.", no_args_is_help=True)
MESSAGE_OPTION = typer.Option("", "--message", "-m", help="A note stored with the new version.")
FORMAT_OPTION = typer.Option(None, "--format", help="jsonl or csv (default: from the file name).")


def _json_option(value: str, option: str) -> Any:
    import orjson

    from stackwright.core.errors import InvalidInput

    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"{option} {value[:80]!r} is not valid JSON: {exc}.", hint=f"Quote text as JSON, e.g. {option} '\"hello\"' or {option} '{{\"question\": \"...\"}}'.") from None


def _read(path: Path) -> str:
    from stackwright.core.errors import InvalidInput

    if str(path) == "-":
        return sys.stdin.read()
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"{path} does not exist.", hint="Give the path of a .jsonl or .csv file.") from None
    except IsADirectoryError:
        raise InvalidInput(f"{path} is a directory.", hint="Give the path of a .jsonl or .csv file.") from None
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path} is not UTF-8 text (byte {exc.start}).") from None
    except OSError as exc:
        raise InvalidInput(f"{path} cannot be read: {exc.strerror}.") from None


def _say(result: dict[str, Any], as_json: bool, what: str) -> None:
    if as_json:
        common.print_json(result)
    elif result.get("version") is None:
        typer.echo(f"{result['name']}: {what}; no version yet.")
    else:
        state = "new version" if result["created"] else "unchanged"
        typer.echo(f"{result['ref']}: {state}, {result['item_count']} items ({what}).")


@datasets_app.command("import")
def import_(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Dataset name (created if new)."),
    file: Path = typer.Argument(..., help="A .jsonl file ({input, expected, metadata} per line) or .csv file; - for stdin."),
    append: bool = typer.Option(False, "--append/--replace", help="Append to the latest items, or replace them (default: the file is the new content)."),
    fmt: str | None = FORMAT_OPTION,
    message: str = MESSAGE_OPTION,
    project: str | None = common.PROJECT_OPTION,
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Import a JSONL or CSV file as a new version (the same content keeps its version). All or nothing."""
    from stackwright.auth.actors import cli_actor
    from stackwright.datasets import editing, importing
    from stackwright.datasets.items import check_name

    check_name(name)
    items, places = importing.parse(_read(file), importing.format_of(str(file), fmt if str(file) != "-" else fmt or "jsonl"), str(file))
    with common.database(ctx).write() as session:
        result = editing.import_items(session, cli_actor(), project_for(ctx, session, project).id, name, items, places,
                                      mode="append" if append else "replace", message=message)  # fmt: skip
    skipped = f", {result['skipped']} already there" if result["skipped"] else ""
    _say(result, as_json, f"{result['imported']} imported from {file}{skipped}")


@datasets_app.command("export")
def export(
    ctx: typer.Context,
    ref: str = typer.Argument(..., metavar="NAME[@N]", help="Dataset, optionally at a version (default: latest)."),
    fmt: str = typer.Option("jsonl", "--format", help="jsonl or csv."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to this file (default: stdout)."),
    project: str | None = common.PROJECT_OPTION,
) -> None:
    """Write a version's items as JSONL or CSV (the import formats: export, edit, import round-trips)."""
    from stackwright.datasets import importing, service

    fmt = importing.format_of("", fmt)
    with common.database(ctx).read() as session:
        view = service.get_dataset_version(session, project_for(ctx, session, project).id, ref)
    text = importing.to_csv(view.items) if fmt == "csv" else importing.to_jsonl(view.items)
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        from stackwright.core.errors import InvalidInput

        raise InvalidInput(f"Cannot write {output}: {exc.strerror}.") from None
    typer.echo(f"{view.ref}: {len(view.items)} items written to {output}.", err=True)


@datasets_app.command("list")
def list_(ctx: typer.Context, project: str | None = common.PROJECT_OPTION, limit: int = typer.Option(50, "--limit", min=1, max=500, help="How many rows."), as_json: bool = common.JSON_OPTION) -> None:
    """List the project's datasets with their latest version and item count."""
    from stackwright.datasets import service

    with common.database(ctx).read() as session:
        rows, _ = service.list_datasets(session, project_for(ctx, session, project).id, limit=limit)
    common.emit(rows, ["name", "latest_version", "item_count", "description", "updated_at"], as_json, title="datasets")


@datasets_app.command("show")
def show(
    ctx: typer.Context,
    ref: str = typer.Argument(..., metavar="NAME[@N]", help="Dataset, optionally at a version (default: latest)."),
    limit: int = typer.Option(20, "--limit", min=1, max=100_000, help="How many items to list."),
    project: str | None = common.PROJECT_OPTION,
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Show a version: its summary and its first items (ids for update-item and remove-item)."""
    import orjson

    from stackwright.datasets import service

    with common.database(ctx).read() as session:
        summary, items, next_cursor = service.items_page(session, project_for(ctx, session, project).id, ref, limit=limit)
    if as_json:
        common.print_json({"version": summary, "items": items, "more": next_cursor is not None})
        return
    typer.echo(f"{summary['ref']}{' (latest)' if summary['latest'] else ''}: {summary['item_count']} items, by {summary['author']} at {summary['created_at'].isoformat()}")
    if summary["message"]:
        typer.echo(f"message: {summary['message']}")
    rows = [{"id": i["id"], "input": orjson.dumps(i["input"]).decode()[:80], "expected": orjson.dumps(i["expected"]).decode()[:60],
             "metadata": orjson.dumps(i["metadata"]).decode()[:60]} for i in items]  # fmt: skip
    common.print_table(rows, ["id", "input", "expected", "metadata"])
    if next_cursor:
        typer.echo(f"... {summary['item_count'] - len(items)} more (--limit, or export the version).")


@datasets_app.command("versions")
def versions(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Dataset name."),
    project: str | None = common.PROJECT_OPTION,
    limit: int = typer.Option(50, "--limit", min=1, max=500, help="How many rows."),
    as_json: bool = common.JSON_OPTION,
) -> None:
    """List a dataset's versions, newest first."""
    from stackwright.datasets import service

    with common.database(ctx).read() as session:
        rows, _ = service.list_versions(session, project_for(ctx, session, project).id, name, limit=limit)
    table = [{**r, "latest": "yes" if r["latest"] else ""} for r in rows]
    common.emit(table if not as_json else rows, ["version", "latest", "item_count", "parent_version", "message", "author", "created_at"], as_json, title=f"{name} versions")


@datasets_app.command("add-item")
def add_item(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Dataset name (created if new)."),
    input_json: str = typer.Option(..., "--input", help='The input as JSON, e.g. \'{"question": "..."}\'.'),
    expected_json: str | None = typer.Option(None, "--expected", help="The expected output as JSON."),
    metadata_json: str | None = typer.Option(None, "--metadata", help="Metadata as a JSON object."),
    message: str = MESSAGE_OPTION,
    project: str | None = common.PROJECT_OPTION,
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Add one item: a new version."""
    from stackwright.auth.actors import cli_actor
    from stackwright.datasets import editing

    raw = {"input": _json_option(input_json, "--input")}
    if expected_json is not None:
        raw["expected"] = _json_option(expected_json, "--expected")
    if metadata_json is not None:
        raw["metadata"] = _json_option(metadata_json, "--metadata")
    with common.database(ctx).write() as session:
        result = editing.add_item(session, cli_actor(), project_for(ctx, session, project).id, name, raw, message=message)
    _say(result, as_json, f"added {result['item_id']}")


@datasets_app.command("update-item")
def update_item(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Dataset name."),
    item_id: str = typer.Argument(..., help="Item id (from `datasets show`)."),
    input_json: str | None = typer.Option(None, "--input", help="New input as JSON."),
    expected_json: str | None = typer.Option(None, "--expected", help="New expected output as JSON (null clears it)."),
    metadata_json: str | None = typer.Option(None, "--metadata", help="New metadata as a JSON object (replaces it)."),
    message: str = MESSAGE_OPTION,
    project: str | None = common.PROJECT_OPTION,
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Change an item's input, expected or metadata: a new version (the item keeps its place, gets a new id)."""
    from stackwright.auth.actors import cli_actor
    from stackwright.datasets import editing

    changes = {}
    for key, value, option in (("input", input_json, "--input"), ("expected", expected_json, "--expected"), ("metadata", metadata_json, "--metadata")):
        if value is not None:
            changes[key] = _json_option(value, option)
    with common.database(ctx).write() as session:
        result = editing.update_item(session, cli_actor(), project_for(ctx, session, project).id, name, item_id, changes, message=message)
    _say(result, as_json, f"{result['old_item_id']} is now {result['item_id']}")


@datasets_app.command("remove-item")
def remove_item(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Dataset name."),
    item_id: str = typer.Argument(..., help="Item id (from `datasets show`)."),
    message: str = MESSAGE_OPTION,
    project: str | None = common.PROJECT_OPTION,
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Remove an item: a new version (older versions keep it)."""
    from stackwright.auth.actors import cli_actor
    from stackwright.datasets import editing

    with common.database(ctx).write() as session:
        result = editing.remove_item(session, cli_actor(), project_for(ctx, session, project).id, name, item_id, message=message)
    _say(result, as_json, f"removed {result['item_id']}")


@datasets_app.command("add-from-traces")
def add_from_traces(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Dataset name (created if new)."),
    filters: list[str] = typer.Option([], "--filter", help="A trace filter KEY=VALUE (repeat): route, status, model, prompt_name, environment, user_id, session_id, start, end, q..."),
    limit: int = typer.Option(100, "--limit", min=1, max=10_000, help="At most this many traces, newest first."),
    mask: bool = typer.Option(True, "--mask/--no-mask", help="Mask personal data and secrets (default) or copy as they are."),
    message: str = MESSAGE_OPTION,
    project: str | None = common.PROJECT_OPTION,
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Append matching traces' root inputs (as input) and outputs (as expected), PII masked, as a new version."""
    from stackwright.auth.actors import cli_actor
    from stackwright.datasets import from_traces

    parsed = from_traces.parse_filter_pairs(filters)
    with common.database(ctx).write() as session:
        result = from_traces.add_from_traces(session, cli_actor(), project_for(ctx, session, project).id, name, parsed, limit=limit, mask=mask, message=message)
    masked = ", ".join(f"{kind} {count}" for kind, count in result["pii"].items()) or "nothing"
    what = f"{result['matched']} traces matched, {result['added']} added, {result['skipped']} already there; masked: {masked if mask else 'off'}"
    _say(result, as_json, what)
