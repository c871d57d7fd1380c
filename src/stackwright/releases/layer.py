"""The releases layer's registration: routes, canaries and rollbacks, the rollback guard, and the gateway's
`route:` models."""

from __future__ import annotations

from typing import Any

from stackwright.core.layers import AppContext, Layer


def _routers() -> list[Any]:
    from stackwright.releases.api import router

    return [router]


def _commands(root: Any) -> None:
    from stackwright.releases.cli import release_app

    root.add_typer(release_app, name="releases")


def _setup(ctx: AppContext) -> None:
    from stackwright.releases.guard import RollbackTask

    ctx.tasks.append(ctx.publish("release_guard", RollbackTask(ctx.db)))


async def _resolve(db: Any, project_id: str, route: str, env: str, subject: str | None) -> dict[str, Any]:
    from stackwright.releases.resolver import resolve_for_gateway  # on the first route: model, not at start

    return await resolve_for_gateway(db, project_id, route, env, subject)


def _extend_gateway(hooks: Any) -> None:
    hooks.route_resolver = _resolve


layer = Layer(
    name="releases",
    rank=90,
    tables=("stackwright.releases.models",),
    routers=_routers,
    commands=_commands,
    setup=_setup,
    extends={"gateway": _extend_gateway},
)
