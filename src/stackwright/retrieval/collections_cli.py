"""`stackwright collections ...` and `stackwright ingest` (owned by the ingest work)."""

from __future__ import annotations

import typer

collections_app = typer.Typer(help="Collections: create, list, show, delete.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the top-level `ingest` command to the root app."""
