"""The reference application's registration: the `demo` commands of the support assistant. It uses the
platform like any outside package; nothing in the platform imports it."""

from __future__ import annotations

from typing import Any

from stackwright.core.layers import Layer


def _commands(root: Any) -> None:
    from stackwright.apps.demo_cli import demo_app

    root.add_typer(demo_app, name="demo")


layer = Layer(name="apps", rank=200, commands=_commands)
