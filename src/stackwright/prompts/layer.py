"""The prompts layer's registration: versioned prompts, and the gateway's `prompt:` models."""

from __future__ import annotations

from typing import Any

from stackwright.core.layers import Layer


def _routers() -> list[Any]:
    from stackwright.prompts.api import router

    return [router]


def _commands(root: Any) -> None:
    from stackwright.prompts.cli import prompts_app

    root.add_typer(prompts_app, name="prompts")


def _extend_gateway(hooks: Any) -> None:
    from stackwright.prompts.service import render_for_gateway

    hooks.prompt_renderer = render_for_gateway


layer = Layer(
    name="prompts",
    rank=60,
    tables=("stackwright.prompts.models",),
    routers=_routers,
    route_priority=5,  # early: routes match in order, and SDKs fetch prompts often
    commands=_commands,
    extends={"gateway": _extend_gateway},
)
