"""`stackwright search` (owned by the search work)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the top-level `search` command to the root app."""
