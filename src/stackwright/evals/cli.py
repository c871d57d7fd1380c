"""`stackwright eval ...`."""

from __future__ import annotations

import typer

eval_app = typer.Typer(help="Evaluations: run specs, resume, show, compare, gate.", no_args_is_help=True)
