"""`stackwright traces explain TRACE_ID [--json]`: the eight answers for a stored trace, from the store.

``register(traces_app)`` adds the command to the tracing layer's `traces` group (this layer sits above
tracing, so it adds itself; tracing never imports it). Heavy imports stay inside the command
(`stackwright --help` stays fast).
"""

from __future__ import annotations

from typing import Any

import typer

from stackwright.core import command_helpers as common

PROJECT_HELP = "Project name or id (default: STACKWRIGHT_PROJECT, else the project holding the trace)."


def read_answers(ctx: typer.Context, trace_id: str, *, project_id: str | None = None, project_ref: str | None = None) -> dict[str, Any]:
    """The eight answers for ``trace_id`` in the given project (id, else name or id), else the project holding it."""
    from stackwright.insights.service import explain, find_trace_project

    with common.database(ctx).read() as session:
        return explain(session, project_id or find_trace_project(session, trace_id, project_ref), trace_id)


def explain_command(
    ctx: typer.Context,
    trace_id: str = typer.Argument(..., help="A trace id (32 hex characters)."),
    project: str | None = typer.Option(None, "--project", help=PROJECT_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object with the eight answers."),
) -> None:
    """Print the eight answers (prompt, model, context, failure, eval delta, cost, latency, rollback) for a stored trace."""
    from stackwright.insights.render import show

    show(read_answers(ctx, trace_id, project_ref=project or common.settings(ctx).project), as_json)


def register(traces_app: typer.Typer) -> None:
    traces_app.command("explain")(explain_command)
