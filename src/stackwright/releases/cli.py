"""`stackwright release ...`."""

from __future__ import annotations

import typer

release_app = typer.Typer(help="Releases: set, canary, promote, rollback, status, history.", no_args_is_help=True)
