"""Entry point of the `stackwright` command. Imports stay light so `--help` is fast."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from typer.core import TyperGroup

from stackwright import __version__


def exit_code(exc: Exception) -> int:
    """2 for bad settings or an unreachable database (nothing was tried), 1 for a refused command."""
    return 2 if getattr(exc, "code", None) in ("config_error", "database_unavailable") else 1


# Old singular group names still work (scripts keep running) but are not listed in --help or walked by tools.
HIDDEN_ALIASES = {"eval": "evals", "release": "releases"}


class _StackwrightGroup(TyperGroup):
    """Turns a StackwrightError from any command into `error: ...` on stderr and a non-zero exit code,
    inside the command itself, so the behaviour is the same from the console script and from CliRunner.
    Resolves the hidden aliases of the top-level groups (`stackwright eval` runs `stackwright evals`)."""

    def get_command(self, ctx: typer.Context, cmd_name: str) -> object:
        command = super().get_command(ctx, cmd_name)
        if command is None and ctx.parent is None:
            command = super().get_command(ctx, HIDDEN_ALIASES.get(cmd_name, cmd_name))
        return command

    def invoke(self, ctx: typer.Context) -> object:
        from stackwright.core.errors import StackwrightError

        try:
            return super().invoke(ctx)
        except StackwrightError as exc:
            typer.echo(f"error: {exc.message}", err=True)
            raise typer.Exit(exit_code(exc)) from None


app = typer.Typer(
    cls=_StackwrightGroup,
    name="stackwright",
    help="Stackwright: the AI engineering stack for LLM applications, in one process.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(
    ctx: typer.Context,
    config: Path = typer.Option(None, "--config", help="TOML settings file (else STACKWRIGHT_CONFIG_FILE)."),
) -> None:
    ctx.obj = {"config_file": config}


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def _mount() -> None:
    from stackwright.apps.demo_cli import demo_app
    from stackwright.auth.cli import audit_app, invitations_app, keys_app, projects_app, users_app
    from stackwright.core.cli import db_app, plugins_app
    from stackwright.datasets.cli import datasets_app
    from stackwright.evals.cli import eval_app
    from stackwright.gateway.cli import gateway_app
    from stackwright.guardrails.cli import guardrails_app
    from stackwright.insights.cli import register as register_insights
    from stackwright.jobs.cli import jobs_app
    from stackwright.prompts.cli import prompts_app
    from stackwright.releases.cli import release_app
    from stackwright.retrieval.collections_cli import collections_app
    from stackwright.retrieval.collections_cli import register as register_ingest
    from stackwright.retrieval.eval_cli import retrieval_app
    from stackwright.retrieval.search_cli import register as register_search
    from stackwright.server.cli import register as register_server
    from stackwright.tracing.cli import traces_app

    register_server(app)
    app.add_typer(db_app, name="db")
    app.add_typer(projects_app, name="projects")
    app.add_typer(users_app, name="users")
    app.add_typer(keys_app, name="keys")
    app.add_typer(audit_app, name="audit")
    app.add_typer(invitations_app, name="invitations")
    app.add_typer(plugins_app, name="plugins")
    register_insights(traces_app)
    app.add_typer(traces_app, name="traces")
    app.add_typer(gateway_app, name="gateway")
    app.add_typer(prompts_app, name="prompts")
    app.add_typer(release_app, name="releases")
    app.add_typer(collections_app, name="collections")
    app.add_typer(retrieval_app, name="retrieval")
    app.add_typer(datasets_app, name="datasets")
    app.add_typer(eval_app, name="evals")
    app.add_typer(jobs_app, name="jobs")
    app.add_typer(guardrails_app, name="guardrails")
    app.add_typer(demo_app, name="demo")
    register_ingest(app)
    register_search(app)


_mount()


def main() -> None:
    from stackwright.core.errors import StackwrightError

    try:
        app()
    except StackwrightError as exc:
        sys.stderr.write(f"error: {exc.message}\n")
        sys.exit(exit_code(exc))


if __name__ == "__main__":
    main()
