"""The web UI's registration: its pages under /ui (and the browser's way in from /)."""

from __future__ import annotations

from typing import Any

from stackwright.core.layers import AppContext, Layer

HOME = "/ui/traces"


def _routers() -> list[Any]:
    from stackwright.ui.account import router as account_router
    from stackwright.ui.pages import fallback_router, static_router
    from stackwright.ui.traces import router as traces_router

    return [static_router, account_router, traces_router, fallback_router]


def _setup(ctx: AppContext) -> None:
    ctx.publish("browser_home", HOME)  # the server's `/` sends browsers here


layer = Layer(name="ui", rank=140, routers=_routers, setup=_setup)
