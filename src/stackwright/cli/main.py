"""Entry point of the `stackwright` command. Imports stay light so `--help` is fast."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperGroup

from stackwright import __version__

if TYPE_CHECKING:
    from typer._click import Command, Context  # the click that typer vendors, as TyperGroup's methods name it


def exit_code(exc: Exception) -> int:
    """2 for bad settings or an unreachable database (nothing was tried), 1 for a refused command."""
    return 2 if getattr(exc, "code", None) in ("config_error", "database_unavailable") else 1


# Old singular group names still work (scripts keep running) but are not listed in --help or walked by tools.
HIDDEN_ALIASES = {"eval": "evals", "release": "releases"}


class _StackwrightGroup(TyperGroup):
    """Turns a StackwrightError from any command into `error: ...` on stderr and a non-zero exit code,
    inside the command itself, so the behaviour is the same from the console script and from CliRunner.
    Resolves the hidden aliases of the top-level groups (`stackwright eval` runs `stackwright evals`)."""

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and ctx.parent is None:
            command = super().get_command(ctx, HIDDEN_ALIASES.get(cmd_name, cmd_name))
        return command

    def invoke(self, ctx: Context) -> Any:
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
    """Every registered layer adds its commands (``core.layers``), lowest layer first."""
    from stackwright.core.layers import layers

    for layer in layers():
        if layer.commands is not None:
            layer.commands(app)


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
