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


def _render(db: Any, project_id: str, ref: str, variables: dict[str, Any]) -> dict[str, Any]:
    from stackwright.prompts.service import render_for_gateway  # on the first prompt: model, not at start

    return render_for_gateway(db, project_id, ref, variables)


def _extend_gateway(hooks: Any) -> None:
    hooks.prompt_renderer = _render


layer = Layer(
    name="prompts",
    rank=60,
    tables=("stackwright.prompts.models",),
    routers=_routers,
    route_priority=5,  # early: routes match in order, and SDKs fetch prompts often
    commands=_commands,
    extends={"gateway": _extend_gateway},
)
