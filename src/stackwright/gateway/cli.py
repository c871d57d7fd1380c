"""`stackwright gateway models|apply|test`: configure and check the model gateway from a shell."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer

from stackwright.auth.commands import project_for
from stackwright.core import command_helpers as common

gateway_app = typer.Typer(help="Configure the model gateway: models, deployments, fallbacks, cache, limits.", no_args_is_help=True)


def load_yaml(path: Path) -> Any:
    """The file's content, or InvalidInput naming the line and column of a syntax error."""
    import yaml

    from stackwright.core.errors import InvalidInput

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"{path} does not exist.", hint="Give the path of your gateway.yaml.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path} cannot be read: {exc}.") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InvalidInput(f"{path} is not valid YAML{where}: {problem}.") from None


def _env_secrets(raw: Any) -> dict[str, str]:
    """Values of every api_key_env the config names that this shell has set."""
    names = set()
    for model in (raw or {}).get("models", []) if isinstance(raw, dict) else []:
        for deployment in (model or {}).get("deployments", []) if isinstance(model, dict) else []:
            if isinstance(deployment, dict) and isinstance(deployment.get("api_key_env"), str):
                names.add(deployment["api_key_env"])
    return {name: os.environ[name] for name in names if os.environ.get(name)}


@gateway_app.command("apply")
def apply(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="gateway.yaml"),
    project: str | None = common.PROJECT_OPTION,
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Apply a gateway.yaml (idempotent) as the operator: keys named by api_key_env are read from this shell and
    stored encrypted, and its deployments may reach any address (API-written configs obey the egress policy)."""
    from stackwright.auth.actors import cli_actor
    from stackwright.gateway.limits.stamps import wait_for_every_process
    from stackwright.gateway.service import apply_config

    raw = load_yaml(path)
    settings = common.settings(ctx)
    with common.database(ctx).write() as session:
        target = project_for(ctx, session, project)
        result = apply_config(session, settings, cli_actor(), target.id, raw, _env_secrets(raw), operator=True)
    wait_for_every_process(session)  # changed model limits apply on every server once this returns
    if as_json:
        common.print_json(result)
        return
    state = "applied" if result["changed"] else "unchanged"
    typer.echo(f"Gateway config {state}: revision {result['revision']}, models: {', '.join(result['models']) or 'none'}.")
    if result["secrets_stored"]:
        typer.echo(f"Secrets stored (encrypted): {', '.join(result['secrets_stored'])}.")


@gateway_app.command("models")
def models(ctx: typer.Context, project: str | None = common.PROJECT_OPTION, as_json: bool = common.JSON_OPTION) -> None:
    """List the models a project serves, with their deployments (never their keys)."""
    from stackwright.gateway.catalog import describe, resolve
    from stackwright.gateway.secrets import project_secrets
    from stackwright.gateway.service import read_config

    settings = common.settings(ctx)
    with common.database(ctx).read() as session:
        target = project_for(ctx, session, project)
        spec, revision = read_config(session, target.id)
        secrets = project_secrets(session, settings, target.id)
        rows = describe(resolve(target.id, spec, revision, secrets, env_allow=settings.gateway_env_allow))
    if as_json:
        common.print_json(rows)
        return
    table = [
        {"model": r["name"], "kind": r["kind"], "deployments": ", ".join(f"{d['provider']}:{d['model']}" for d in r["deployments"]),
         "retries": r["retries"], "fallbacks": ", ".join(r["fallbacks"])}
        for r in rows
    ]  # fmt: skip
    common.emit(table, ["model", "kind", "deployments", "retries", "fallbacks"], False, title=f"gateway models (revision {revision})")


@gateway_app.command("test")
def test(
    ctx: typer.Context,
    model: str = typer.Argument(..., help="Model name as clients ask for it, e.g. gpt-4o-mini or local/extractive."),
    project: str | None = common.PROJECT_OPTION,
    prompt: str = typer.Option("Say hello in five words.", help="The user message to send."),
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Send one chat request through the gateway (in this process) and report the answer, latency and route."""
    import asyncio

    from stackwright.auth.actors import Caller
    from stackwright.gateway.admin_api import run_test
    from stackwright.gateway.client import GatewayClient

    settings = common.settings(ctx)
    db = common.database(ctx)
    with db.read() as session:
        target = project_for(ctx, session, project)
    actor = Caller(label="cli:gateway-test", project_id=target.id, scopes=("admin",))

    async def run() -> dict[str, Any]:
        async with GatewayClient(settings, db) as client:
            return await run_test(client.gateway, actor, model, prompt)

    result = asyncio.run(run())
    if as_json:
        common.print_json(result)
    elif result["ok"]:
        typer.echo(f"ok: {model} answered via {result['served_by']} in {result['latency_ms']} ms "
                   f"({result['attempts']} attempt(s), cost {result['cost_usd']}).")  # fmt: skip
        typer.echo(result["output"] or "")
    else:
        typer.echo(f"error: {model} failed: {result['error']}", err=True)
    if not result["ok"]:
        raise typer.Exit(1)
