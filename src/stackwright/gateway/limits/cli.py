"""The work behind `stackwright keys budget|limits`: parse the options, change the key's limits (audited
as cli:<os user>), print the limits with the usage so far. Commands are declared in auth/cli.py."""

from __future__ import annotations

import math
import time
from typing import Any

import typer

from stackwright.core import command_helpers as common

_CLEAR_WORDS = {"none", "off", "null", "unlimited"}
_LABELS = {
    "daily_usd": ("budget per UTC day", "usd", "day"),
    "monthly_usd": ("budget per UTC month", "usd", "month"),
    "rpm": ("requests per minute", "requests", "minute"),
    "tpm": ("tokens per minute", "tokens", "minute"),
}


def parse_value(option: str, raw: str, *, whole: bool) -> float | int | None:
    """A limit from the command line: a number (0 or more), or none/off to remove it."""
    from stackwright.core.errors import InvalidInput
    from stackwright.gateway.limits.spec import MAX_RATE, MAX_USD

    text = raw.strip().lower().lstrip("$")
    if text in _CLEAR_WORDS:
        return None
    what = "a whole number" if whole else "a number of USD"
    problem = f"{option} must be {what} from 0 to {MAX_RATE if whole else MAX_USD:.0f}, or 'none' to remove it; got {raw!r}."
    try:
        value: float | int = int(text.replace("_", "")) if whole else float(text.replace("_", ""))
    except ValueError:
        raise InvalidInput(problem) from None
    if not math.isfinite(value) or value < 0 or value > (MAX_RATE if whole else MAX_USD):
        raise InvalidInput(problem)
    return value


def parse_changes(options: dict[str, tuple[str, str | None]], clear: bool, *, whole: bool) -> dict[str, Any]:
    """{field: value or None} from {field: (option name, raw value or None)}; --clear removes every field."""
    from stackwright.core.errors import InvalidInput

    given = {field: (option, raw) for field, (option, raw) in options.items() if raw is not None}
    if clear and given:
        names = "/".join(option for option, _ in options.values())
        raise InvalidInput(f"--clear removes the key's {names} limits; give it alone, or give values without it.")
    if clear:
        return dict.fromkeys(options)
    return {field: parse_value(option, raw, whole=whole) for field, (option, raw) in given.items()}


def _shown(field: str, value: Any) -> str:
    from stackwright.gateway.limits.spec import describe_amount, to_nano

    if value is None:
        return "none"
    return describe_amount("usd", to_nano(value)) if field.endswith("_usd") else f"{value:,}"


def _table(limits: dict[str, Any], use: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for field, (label, metric, period) in _LABELS.items():
        used = use[period][metric]
        rows.append({
            "limit": label,
            "value": _shown(field, limits[field]),
            "used": _shown("spent_usd" if metric == "usd" else metric, used),
            "resets_at": use[period]["resets_at"],
        })  # fmt: skip
    return rows


def limits_command(ctx: typer.Context, ref: str, project: str | None, as_json: bool, changes: dict[str, Any]) -> None:
    """Apply ``changes`` (none: just show) to the key ``ref`` and print its limits and current usage."""
    from stackwright.auth import service
    from stackwright.auth.actors import cli_actor
    from stackwright.gateway.limits.service import find_key_by_ref, key_limits, set_key_limits, usage
    from stackwright.gateway.limits.stamps import wait_for_every_process

    db = common.database(ctx)
    with (db.write() if changes else db.read()) as session:
        project_id = service.find_project(session, project).id if project else None
        key = find_key_by_ref(session, ref, project_id)
        before = key_limits(session, key)
        spec = set_key_limits(session, cli_actor(), key, changes) if changes else before
        current = usage(session, key.project_id, time.time(), "key", key.id)[0]
    wait_for_every_process(session)
    row = {"key_id": key.id, "name": key.name, "project_id": key.project_id, "limits": spec.as_dict(), "usage": current["usage"]}
    if as_json:
        common.print_json(row)
        return
    changed = bool(changes) and spec != before
    typer.echo(f"Key {key.name} ({key.id}){': limits updated' if changed else ''}.")
    common.print_table(_table(row["limits"], row["usage"]), ["limit", "value", "used", "resets_at"])
    if changed:
        typer.echo("Every running server applies the new limits from now on.")


# -- `keys budget` and `keys limits`: added to the auth layer's `keys` group (a hook in gateway/layer.py) --


def keys_budget(
    ctx: typer.Context,
    key: str = typer.Argument(..., help="Key id (key_...), the key's first 12 characters, or its name."),
    daily: str = typer.Option(None, "--daily", metavar="USD", help="Budget per UTC day in USD; 'none' removes it."),
    monthly: str = typer.Option(None, "--monthly", metavar="USD", help="Budget per UTC month in USD; 'none' removes it."),
    clear: bool = typer.Option(False, "--clear", help="Remove both budgets."),
    project: str = typer.Option(None, help="Only a key of this project (name or id)."),
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Show or set a key's budgets (USD per UTC day and month) and its spend so far.

    Over budget, the key's model calls answer 429 until the period resets. 0 blocks the key's calls.
    """
    changes = parse_changes({"daily_usd": ("--daily", daily), "monthly_usd": ("--monthly", monthly)}, clear, whole=False)
    limits_command(ctx, key, project, as_json, changes)


def keys_limits(
    ctx: typer.Context,
    key: str = typer.Argument(..., help="Key id (key_...), the key's first 12 characters, or its name."),
    rpm: str = typer.Option(None, "--rpm", metavar="N", help="Requests per UTC minute; 'none' removes it."),
    tpm: str = typer.Option(None, "--tpm", metavar="N", help="Tokens (prompt + completion) per UTC minute; 'none' removes it."),
    clear: bool = typer.Option(False, "--clear", help="Remove both rate limits."),
    project: str = typer.Option(None, help="Only a key of this project (name or id)."),
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Show or set a key's rate limits (requests and tokens per minute) and its usage so far."""
    changes = parse_changes({"rpm": ("--rpm", rpm), "tpm": ("--tpm", tpm)}, clear, whole=True)
    limits_command(ctx, key, project, as_json, changes)


def add_key_commands(keys_app: typer.Typer) -> None:
    keys_app.command("budget")(keys_budget)
    keys_app.command("limits")(keys_limits)
