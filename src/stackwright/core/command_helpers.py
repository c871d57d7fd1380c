"""Helpers every layer's commands share: settings, the database, JSON and table output."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

import typer

JSON_OPTION = typer.Option(False, "--json", help="Print JSON instead of a table.")
PROJECT_OPTION = typer.Option(
    None, "--project", help="Project name or id (default: STACKWRIGHT_PROJECT, else the only project, else 'default')."
)  # resolved by stackwright.auth.commands.project_for


def settings(ctx: typer.Context | None = None, **overrides: Any) -> Any:
    """Settings from --config, env and TOML; ``overrides`` (command options that were given) win."""
    from stackwright.core.config import load_settings

    config_file = (ctx.find_root().obj or {}).get("config_file") if ctx else None
    if config_file:
        overrides["config_file"] = config_file
    return load_settings(**{k: v for k, v in overrides.items() if v is not None})


def database(ctx: typer.Context | None = None) -> Any:
    """An open, migrated database for a command that works on the store directly."""
    from stackwright.core.runtime import open_database

    return open_database(settings(ctx))


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def print_json(value: Any) -> None:
    import orjson

    sys.stdout.write(orjson.dumps(jsonable(value), option=orjson.OPT_INDENT_2).decode() + "\n")


def print_table(rows: list[dict[str, Any]], columns: list[str], title: str | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold")  # never cut ids short with "…": they are used in commands
    for row in rows:
        table.add_row(*["" if row.get(c) is None else str(jsonable(row.get(c))) for c in columns])
    # Piped output (grep, less, files) gets full-width rows instead of rich's 80-column default.
    Console(width=None if sys.stdout.isatty() else 1000).print(table)


def emit(rows: list[dict[str, Any]], columns: list[str], as_json: bool, title: str | None = None) -> None:
    if as_json:
        print_json(rows)
    else:
        print_table(rows, columns, title)
