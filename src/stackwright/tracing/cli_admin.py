"""`stackwright traces stats|delete|settings`."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the admin commands to the `traces` group."""
