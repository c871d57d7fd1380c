"""`stackwright demo ask|explain`: one question through the whole stack, then the eight answers for it.

``demo_app`` is the `demo` Typer group (mounted by ``stackwright.cli.main``). The support app adds its own
commands (``demo seed``) to it: this module imports ``stackwright.apps.support.cli`` when that module
exists and calls its ``register(demo_app)`` function. Keep heavy imports inside the commands there too,
so `stackwright --help` stays fast.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
from typing import Any

import typer

from stackwright.core import command_helpers as common
from stackwright.insights.cli import explain_command as explain_trace
from stackwright.insights.cli import read_answers
from stackwright.insights.render import show

demo_app = typer.Typer(help="The reference support assistant: seed it, ask it, explain a request.", no_args_is_help=True)

DEMO_ROUTE = "support.answer"
DEMO_ENV = "production"
PROJECT_HELP = "Project name or id (default: STACKWRIGHT_PROJECT, else the project where the support demo is seeded)."


def _register_support_commands() -> None:
    """`demo seed` and friends, from the support app, when it is installed."""
    name = "stackwright.apps.support.cli"
    try:
        if importlib.util.find_spec(name) is None:
            return
    except ModuleNotFoundError:
        return
    register = getattr(importlib.import_module(name), "register", None)
    if callable(register):
        register(demo_app)


def _not_seeded(where: str) -> typer.Exit:
    typer.echo(f"error: the support demo is not seeded{where}: run `stackwright demo seed` first.", err=True)
    return typer.Exit(1)


def _demo_project(session: Any, ref: str | None) -> str:
    """The project with the demo's release route (the named one must have it)."""
    from stackwright.auth import service
    from stackwright.releases.service import find_release

    if ref:
        project = service.find_project(session, ref)
        if find_release(session, project.id, DEMO_ROUTE, DEMO_ENV) is None:
            raise _not_seeded(f" in project {project.name!r} (no release {DEMO_ROUTE}@{DEMO_ENV})")
        return project.id
    seeded = [p for p in service.list_projects(session) if find_release(session, p.id, DEMO_ROUTE, DEMO_ENV) is not None]
    if not seeded:
        raise _not_seeded(f" (no project has a release {DEMO_ROUTE}@{DEMO_ENV})")
    named_default = [p for p in seeded if p.name == "default"]
    return (named_default or seeded)[0].id


def _call_ask(question: str, user: str | None, settings: Any, base_url: str | None, api_key: str | None) -> str:
    """Run the question through ``stackwright.apps.support.ask`` (in this process, or against the server at
    ``base_url``); its trace id, once its spans are stored."""
    from stackwright.apps.support import ask

    with contextlib.redirect_stdout(sys.stderr):  # stdout carries only the answers (one JSON object with --json)
        result = ask(question, user_id=user, settings=settings, base_url=base_url, api_key=api_key)
    trace_id = getattr(result, "trace_id", None)
    if not trace_id:
        typer.echo(f"error: the support app answered without a trace id ({result!r:.200}).", err=True)
        raise typer.Exit(1)
    return str(trace_id)


def _api_key(settings: Any, api_key: str | None) -> str:
    """--api-key, else STACKWRIGHT_API_KEY, else the key `stackwright demo seed` saved in the data dir."""
    import os

    from stackwright.core.errors import InvalidInput

    key = api_key or os.environ.get("STACKWRIGHT_API_KEY")
    if not key:
        from stackwright.apps.support.seed import read_demo_credentials

        key = read_demo_credentials(settings.home).get("STACKWRIGHT_API_KEY")
    if not key:
        raise InvalidInput("No API key for the server.", hint="Pass --api-key, set STACKWRIGHT_API_KEY, or run `stackwright demo seed` first.")
    return key


def _explain_remote(base_url: str, key: str, trace_id: str) -> dict[str, Any]:
    """``GET /api/v1/traces/{trace_id}/explain`` on a running server, with the key's project."""
    import httpx

    from stackwright.core.errors import NotFound, StackwrightError

    try:
        response = httpx.get(f"{base_url.rstrip('/')}/api/v1/traces/{trace_id}/explain",
                             headers={"Authorization": f"Bearer {key}"}, timeout=60)  # fmt: skip
    except httpx.HTTPError as exc:
        raise StackwrightError(f"Cannot reach {base_url}: {exc}.", hint="Start it with `stackwright serve`, or leave out --base-url.") from None
    if response.status_code == 200:
        return response.json()
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = response.text[:300]
    error = NotFound if response.status_code == 404 else StackwrightError
    raise error(f"{base_url} answered {response.status_code}: {message}")


BASE_URL_HELP = "A running server to ask and read from (default: this process, on the configured database)."
API_KEY_HELP = "API key for --base-url (default: STACKWRIGHT_API_KEY, else the key `stackwright demo seed` saved)."


@demo_app.command("ask")
def ask_command(
    ctx: typer.Context,
    question: str = typer.Argument(..., help="The customer's question, e.g. \"How do I reset my password?\""),
    user: str = typer.Option(None, "--user", help="The customer's user id or demo account (account lookup, sticky release arm)."),
    project: str = typer.Option(None, help=PROJECT_HELP),
    base_url: str = typer.Option(None, "--base-url", help=BASE_URL_HELP),
    api_key: str = typer.Option(None, "--api-key", help=API_KEY_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object with the eight answers."),
) -> None:
    """Ask the support assistant one question through the whole stack, then print the eight answers for that request."""
    settings = common.settings(ctx)
    if base_url:
        key = _api_key(settings, api_key)
        trace_id = _call_ask(question, user, settings, base_url, key)
        show(_explain_remote(base_url, key, trace_id), as_json)
    else:
        with common.database(ctx).read() as session:
            project_id = _demo_project(session, project or settings.project)
        trace_id = _call_ask(question, user, settings, None, api_key)
        show(read_answers(ctx, trace_id, project_id=project_id), as_json)
    if not as_json:  # the JSON's ten keys stay as they are
        typer.echo(f"\nopen in the web UI: {(base_url or settings.base_url).rstrip('/')}/ui/traces/{trace_id}")


@demo_app.command("explain")
def explain_command(
    ctx: typer.Context,
    trace_id: str = typer.Argument(..., help="A trace id (32 hex characters)."),
    project: str = typer.Option(None, help="Project name or id (default: STACKWRIGHT_PROJECT, else the project holding the trace)."),
    base_url: str = typer.Option(None, "--base-url", help="A running server to read from (the API key's project)."),
    api_key: str = typer.Option(None, "--api-key", help=API_KEY_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object with the eight answers."),
) -> None:
    """Print the eight answers (prompt, model, context, failure, eval delta, cost, latency, rollback) for a stored trace."""
    if base_url:
        show(_explain_remote(base_url, _api_key(common.settings(ctx), api_key), trace_id), as_json)
        return
    explain_trace(ctx, trace_id, project, as_json)


_register_support_commands()
