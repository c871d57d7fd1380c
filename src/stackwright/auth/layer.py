"""The auth layer's registration: projects, users, keys, invitations and the audit log."""

from __future__ import annotations

from typing import Any

from stackwright.core.layers import Layer


def _routers() -> list[Any]:
    from stackwright.auth.api import router

    return [router]


def _commands(root: Any) -> None:
    from stackwright.auth.cli import audit_app, invitations_app, keys_app, projects_app, users_app
    from stackwright.core.layers import extend

    extend("auth.keys_commands", keys_app)  # e.g. the gateway's `keys budget` and `keys limits`
    root.add_typer(projects_app, name="projects")
    root.add_typer(users_app, name="users")
    root.add_typer(keys_app, name="keys")
    root.add_typer(audit_app, name="audit")
    root.add_typer(invitations_app, name="invitations")


layer = Layer(name="auth", rank=10, tables=("stackwright.auth.models",), routers=_routers, commands=_commands)
