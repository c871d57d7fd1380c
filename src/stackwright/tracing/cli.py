"""`stackwright traces list|show` (and, from cli_admin, stats|delete|settings)."""

from __future__ import annotations

import typer

from stackwright.tracing import cli_admin

traces_app = typer.Typer(help="Traces: list, show, stats, delete.", no_args_is_help=True)
cli_admin.register(traces_app)
