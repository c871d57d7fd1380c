"""The core layer's registration: the schema's own bookkeeping table and the `db` and `plugins` commands."""

from __future__ import annotations

from typing import Any

from stackwright.core.layers import Layer


def _commands(root: Any) -> None:
    from stackwright.core.cli import db_app, plugins_app

    root.add_typer(db_app, name="db")
    root.add_typer(plugins_app, name="plugins")


layer = Layer(name="core", rank=0, tables=("stackwright.core.meta",), commands=_commands)
