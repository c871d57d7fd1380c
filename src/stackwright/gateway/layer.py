"""The gateway layer's registration: the OpenAI-compatible API, its configuration, and budgets and rate
limits (with `keys budget` and `keys limits` added to the auth layer's `keys` commands)."""

from __future__ import annotations

from typing import Any

from stackwright.core.layers import AppContext, Layer


def _routers() -> list[Any]:
    from stackwright.gateway.admin_api import router as admin_router
    from stackwright.gateway.api import router as gateway_router
    from stackwright.gateway.limits.api import router as limits_router

    return [limits_router, admin_router, gateway_router]


def _commands(root: Any) -> None:
    from stackwright.gateway.cli import gateway_app

    root.add_typer(gateway_app, name="gateway")


def _extend_keys_commands(keys_app: Any) -> None:
    from stackwright.gateway.limits.cli import add_key_commands

    add_key_commands(keys_app)


def _setup(ctx: AppContext) -> None:
    from stackwright.gateway.limits.enforcer import Enforcer
    from stackwright.gateway.proxy import Gateway

    state = ctx.state
    limits = ctx.publish("limits", Enforcer(ctx.db))
    ctx.closers.append(limits.aclose)
    gateway = Gateway(ctx.settings, ctx.db, state.span_writer, state.pricers, state.metrics, limits=limits)
    ctx.closers.append(ctx.publish("gateway", gateway).aclose)  # closed first: it settles with the enforcer


layer = Layer(
    name="gateway",
    rank=40,
    tables=("stackwright.gateway.models", "stackwright.gateway.limits.models"),
    routers=_routers,
    commands=_commands,
    setup=_setup,
    extends={"auth.keys_commands": _extend_keys_commands},
)
