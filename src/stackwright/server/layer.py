"""The server's registration: health checks and the `serve` and `init` commands."""

from __future__ import annotations

from typing import Any

from stackwright.core.layers import Layer


def _routers() -> list[Any]:
    from stackwright.server.health import router

    return [router]


def _commands(root: Any) -> None:
    from stackwright.server.cli import register

    register(root)


layer = Layer(name="server", rank=130, routers=_routers, route_priority=0, commands=_commands)
