"""`stackwright datasets ...`."""

from __future__ import annotations

import typer

datasets_app = typer.Typer(help="Datasets: import, export, versions, items, add from traces.", no_args_is_help=True)
