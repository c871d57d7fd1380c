"""The datasets layer's registration: datasets, immutable versions and items."""

from __future__ import annotations

from typing import Any

from stackwright.core.layers import Layer


def _routers() -> list[Any]:
    from stackwright.datasets.api import router

    return [router]


def _commands(root: Any) -> None:
    from stackwright.datasets.cli import datasets_app

    root.add_typer(datasets_app, name="datasets")


layer = Layer(name="datasets", rank=70, tables=("stackwright.datasets.models",), routers=_routers, commands=_commands)
