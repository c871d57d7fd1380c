"""`stackwright prompts ...`."""

from __future__ import annotations

import typer

prompts_app = typer.Typer(help="Prompt registry: push, list, show, diff, label, render.", no_args_is_help=True)
