"""What every layer's commands share that needs the auth layer: which project a command acts on."""

from __future__ import annotations

from typing import Any

import typer

from stackwright.core import command_helpers


def project_for(ctx: typer.Context | None, session: Any, flag: str | None) -> Any:
    """The project a command acts on: the --project flag, then STACKWRIGHT_PROJECT, then the only project, then
    the one named ``default``; otherwise an error that lists the projects."""
    from stackwright.auth.service import choose_project

    return choose_project(session, flag, command_helpers.settings(ctx).project)
