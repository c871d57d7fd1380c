"""`stackwright traces stats|delete|settings|purge`: on the store directly, through the API's service functions.

Heavy imports stay inside the commands (`stackwright --help` stays fast).
"""

from __future__ import annotations

from typing import Any

import typer

from stackwright.auth.commands import project_for
from stackwright.core import command_helpers as common

STATS_COLUMNS = ["group", "bucket_start", "count", "error_rate", "p50_ms", "p95_ms", "p99_ms", "total_tokens", "cost", "scores"]


def _stats_table_row(row: dict[str, Any]) -> dict[str, Any]:
    latency = row["latency_ms"]
    scores = ", ".join(
        f"{name}={a['mean']:.3g} (n={a['count']})" if a["mean"] is not None else f"{name} (n={a['count']})"
        for name, a in row["scores"].items()
    )
    return {
        **row,
        "error_rate": f"{row['error_rate']:.1%}",
        "p50_ms": f"{latency['p50']:.1f}",
        "p95_ms": f"{latency['p95']:.1f}",
        "p99_ms": f"{latency['p99']:.1f}",
        "cost": f"{row['cost']:.6f}",
        "scores": scores,
    }


def stats_command(
    ctx: typer.Context,
    project: str | None = common.PROJECT_OPTION,
    group_by: str = typer.Option("none", help="none, model, route, prompt_version, environment, user_id or span_name."),
    bucket: str = typer.Option(None, help="Time buckets, e.g. 1m, 5m, 1h, 1d."),
    since: str = typer.Option(None, help="Only traces started at or after this ISO 8601 time (or unix ns)."),
    until: str = typer.Option(None, help="Only traces started before this ISO 8601 time (or unix ns)."),
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Trace stats: count, error rate, p50/p95/p99 latency, tokens, cost, scores; by group and time bucket."""
    from stackwright.tracing.admin.schemas import StatsOut
    from stackwright.tracing.admin.stats import StatsQuery, compute_stats, parse_time

    query = StatsQuery(
        group_by=group_by, bucket=bucket, start_ns=parse_time(since, "--since"), end_ns=parse_time(until, "--until")
    )
    with common.database(ctx).read() as session:
        target = project_for(ctx, session, project)
        result = StatsOut.model_validate(compute_stats(session, target.id, query)).model_dump(mode="json")
    if as_json:
        common.print_json(result)
        return
    columns = STATS_COLUMNS if bucket else [c for c in STATS_COLUMNS if c != "bucket_start"]
    if group_by == "none":
        columns = [c for c in columns if c != "group"]
    title = f"trace stats of {target.name}" + (f" by {group_by}" if group_by != "none" else "")
    common.print_table([_stats_table_row(r) for r in result["data"]], columns, title=title)


def delete_command(
    ctx: typer.Context,
    user_id: str = typer.Option(..., "--user-id", help="The end user's id (span attribute user.id)."),
    project: str | None = common.PROJECT_OPTION,
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Privacy request: delete every trace (spans, scores) of one end user in a project."""
    from stackwright.auth.actors import cli_actor
    from stackwright.core.errors import InvalidInput
    from stackwright.tracing.admin import retention

    if not user_id:
        raise InvalidInput("--user-id is empty.", hint="Pass the end user's id.")
    db = common.database(ctx)
    with db.read() as session:
        target = project_for(ctx, session, project)
        found = retention.count_user_traces(session, target.id, user_id)
    if not yes and found:
        typer.confirm(f"Delete {found} trace(s) of user {user_id!r} in project {target.name}?", abort=True, err=True)
    with db.write() as session:
        result = retention.delete_user_traces(session, cli_actor(), target.id, user_id)
    if as_json:
        common.print_json(result)
    else:
        typer.echo(
            f"Deleted {result['deleted_traces']} trace(s), {result['deleted_spans']} span(s) and "
            f"{result['deleted_scores']} score(s) of user {user_id!r} in {target.name}."
        )


def settings_command(
    ctx: typer.Context,
    project: str | None = common.PROJECT_OPTION,
    retention_days: int = typer.Option(None, "--retention-days", min=1, max=3650, help="Keep traces this many days."),
    no_retention: bool = typer.Option(False, "--no-retention", help="Keep traces forever."),
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Show or change a project's trace settings (retention, price overrides)."""
    from stackwright.auth.actors import cli_actor
    from stackwright.core.errors import InvalidInput
    from stackwright.tracing.admin import retention

    if retention_days is not None and no_retention:
        raise InvalidInput("--retention-days and --no-retention contradict each other.", hint="Pass one of them.")
    db = common.database(ctx)
    if retention_days is None and not no_retention:
        with db.read() as session:
            target = project_for(ctx, session, project)
            result = retention.get_settings(session, target.id)
    else:
        with db.write() as session:
            target = project_for(ctx, session, project)
            result = retention.update_settings(session, cli_actor(), target.id, retention_days=retention_days)
    if as_json:
        common.print_json({"project": target.name, **result})
        return
    kept = f"{result['retention_days']} days" if result["retention_days"] else "forever"
    typer.echo(f"Project {target.name}: traces are kept {kept}.")
    for model, price in sorted(result["prices"].items()):
        typer.echo(f"  price of {model}: ${price['input_per_mtok']}/M input, ${price['output_per_mtok']}/M output tokens")


def purge_command(ctx: typer.Context, as_json: bool = common.JSON_OPTION) -> None:
    """Run one retention pass now: delete traces older than each project's retention."""
    from stackwright.auth import service
    from stackwright.tracing.admin.retention import purge_expired

    db = common.database(ctx)
    results = purge_expired(db)
    with db.read() as session:
        names = {p.id: p.name for p in service.list_projects(session)}
    rows = [{"project": names.get(pid, pid), "project_id": pid, **r} for pid, r in sorted(results.items())]
    if as_json:
        common.print_json(rows)
    elif not rows:
        typer.echo("No project has a retention period; nothing to purge.")
    else:
        for row in rows:
            typer.echo(f"{row['project']}: deleted {row['deleted_traces']} trace(s), {row['deleted_spans']} span(s).")


def register(app: typer.Typer) -> None:
    """Add the admin commands to the `traces` group."""
    app.command("stats")(stats_command)
    app.command("delete")(delete_command)
    app.command("settings")(settings_command)
    app.command("purge")(purge_command)
