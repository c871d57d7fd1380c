"""The guardrails layer's registration: policies, checks, and the gateway's before- and after-call guard."""

from __future__ import annotations

from typing import Any

from stackwright.core.layers import Layer


def _routers() -> list[Any]:
    from stackwright.guardrails.api import router

    return [router]


def _commands(root: Any) -> None:
    from stackwright.guardrails.cli import guardrails_app

    root.add_typer(guardrails_app, name="guardrails")


def _extend_gateway(hooks: Any) -> None:
    from stackwright.guardrails.hook import CallGuard

    hooks.call_guard = CallGuard


layer = Layer(
    name="guardrails",
    rank=100,
    tables=("stackwright.guardrails.models",),
    routers=_routers,
    commands=_commands,
    extends={"gateway": _extend_gateway},
)
