"""`stackwright traces list|show` (and, from admin.cli, stats|delete|settings).

These work on the store directly and call the same ``queries`` functions as the API, so `--json`
prints the API's shapes. Heavy imports stay inside the commands (`stackwright --help` stays fast).
"""

from __future__ import annotations

from typing import Any

import typer

from stackwright.auth.commands import project_for
from stackwright.core import command_helpers as common
from stackwright.tracing.admin import cli as admin_cli

traces_app = typer.Typer(help="Traces: list, show, stats, delete.", no_args_is_help=True)
admin_cli.register(traces_app)

LIST_COLUMNS = ["trace_id", "start_time", "name", "status", "duration_ms", "span_count", "model", "total_tokens", "cost"]


@traces_app.command("list")
def traces_list(
    ctx: typer.Context,
    project: str | None = common.PROJECT_OPTION,
    model: str = typer.Option(None, help="Only traces that used this model."),
    status: str = typer.Option(None, help="ok or error."),
    session: str = typer.Option(None, "--session", help="Only this session id."),
    user: str = typer.Option(None, "--user", help="Only this user id."),
    name: str = typer.Option(None, help="Only traces whose root span has this name."),
    since: str = typer.Option(None, help="Started at or after this ISO time (or UNIX nanoseconds)."),
    sort: str = typer.Option("-start_time", help="start_time, duration or cost; prefix '-' for descending."),
    limit: int = typer.Option(50, min=1, max=10_000, help="How many traces."),
    as_json: bool = common.JSON_OPTION,
) -> None:
    """List traces, newest first, with their model, tokens and cost."""
    from stackwright.tracing import queries

    filters = queries.parse_filters(start=since, status=status, model=model, session_id=session, user_id=user, name=name)
    rows: list[dict[str, Any]] = []
    with common.database(ctx).read() as db_session:
        project_id = project_for(ctx, db_session, project).id
        cursor = None
        while len(rows) < limit:
            page, cursor = queries.list_traces(
                db_session, project_id, filters, sort=sort, limit=min(500, limit - len(rows)), cursor=cursor
            )
            rows.extend(page)
            if cursor is None:
                break
    if as_json:
        common.print_json(rows)
        return
    for row in rows:
        row["duration_ms"] = f"{row['duration_ms']:.1f}"
        row["cost"] = f"{row['cost']:.6f}"
    common.print_table(rows, LIST_COLUMNS, title="traces")


@traces_app.command("show")
def traces_show(
    ctx: typer.Context,
    trace_id: str = typer.Argument(..., help="The trace id (32 hex characters)."),
    project: str | None = common.PROJECT_OPTION,
    max_spans: int = typer.Option(10_000, min=1, max=200_000, help="Show at most this many spans (earliest first)."),
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Show one trace as a tree: each span's duration, self time, share of the trace, model, tokens, cost."""
    from stackwright.tracing import queries

    with common.database(ctx).read() as db_session:
        project_id = project_for(ctx, db_session, project).id
        detail = queries.get_trace(db_session, project_id, trace_id, max_spans=max_spans)
    if as_json:
        common.print_json(detail)
        return
    _print_tree(detail)
    typer.echo(f"open in the web UI: {common.settings(ctx).base_url}/ui/traces/{detail['trace']['trace_id']}")


def _span_label(span: dict[str, Any]) -> str:
    from rich.markup import escape

    style = "red" if span["status"] == "error" else "bold"
    parts = [
        f"[{style}]{escape(span['name'])}[/{style}] [dim]{escape(span['kind'])} {span['span_id']}[/dim]",
        f"{span['duration_ms']:.1f} ms",
        f"self {span['self_time_ms']:.1f} ms",
        f"{span['share'] * 100:.1f}%",
    ]
    if span["model"]:
        parts.append(escape(span["model"]))
    if span["total_tokens"] is not None:
        parts.append(f"{span['input_tokens'] or 0}→{span['output_tokens'] or 0} tok")
    if span["cost"] is not None:
        parts.append(f"${span['cost']:.6f}")
    if span["orphan"]:
        parts.append(f"[yellow](parent {span['parent_span_id']} missing)[/yellow]")
    if span["status"] == "error" and span["status_message"]:
        parts.append(f"[red]{escape(span['status_message'][:200])}[/red]")
    return "  ".join(parts)


def _print_tree(detail: dict[str, Any]) -> None:
    import sys

    from rich.console import Console
    from rich.markup import escape
    from rich.tree import Tree

    t = detail["trace"]
    header = (
        f"[bold]{escape(t['name'])}[/bold]  {t['trace_id']}  {t['status']}  {t['start_time']}  "
        f"{t['duration_ms']:.1f} ms  {t['span_count']} spans  {t['total_tokens']} tok  ${t['cost']:.6f}"
    )
    root = Tree(header)
    stack: list[Tree] = [root]  # stack[d] is the node spans at depth d hang under
    for span in detail["spans"]:
        del stack[span["depth"] + 1 :]
        stack.append(stack[-1].add(_span_label(span)))
    console = Console(width=None if sys.stdout.isatty() else 200)
    console.print(root)
    if detail["truncated"]:
        console.print(f"[yellow]Showing the first {len(detail['spans'])} spans; raise --max-spans to see more.[/yellow]")
    for score in detail["scores"]:
        value = score["value"] if score["string_value"] is None else score["string_value"]
        where = f" on span {score['span_id']}" if score["span_id"] else ""
        console.print(f"score {escape(score['name'])} = {value} ({score['source']}{where})")
