"""The README documents every setting and every CLI command (datasette-style docs test)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackwright.cli.main import HIDDEN_ALIASES
from stackwright.core.config import Settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def _command_paths() -> list[str]:
    """Every command under its documented name: hidden aliases (cli.main.HIDDEN_ALIASES) are not in the tree."""
    import typer.main

    from stackwright.cli.main import app

    paths: list[str] = []

    def walk(command, path: list[str]) -> None:
        subcommands = getattr(command, "commands", None)
        if subcommands:
            for name, sub in subcommands.items():
                walk(sub, [*path, name])
        else:
            paths.append(" ".join(path))

    walk(typer.main.get_command(app), [])
    return paths


@pytest.mark.parametrize("field", sorted(Settings.model_fields))
def test_every_setting_is_in_the_readme(field: str) -> None:
    env = f"STACKWRIGHT_{field.upper()}"
    assert f"`{env}`" in README, f"document {env} in the README's configuration table"
    assert Settings.model_fields[field].description, f"give Settings.{field} a description"


def test_cli_has_commands() -> None:
    assert {"serve", "db upgrade", "projects create", "users create", "keys create", "keys revoke"} <= set(_command_paths())


@pytest.mark.parametrize("command", _command_paths())
def test_every_command_is_in_the_readme(command: str) -> None:
    assert f"stackwright {command}" in README, f"document `stackwright {command}` in the README's CLI reference"


@pytest.mark.parametrize(("old", "new"), sorted(HIDDEN_ALIASES.items()))
def test_hidden_aliases_are_documented_under_the_plural_name(old: str, new: str) -> None:
    top_level = {path.split()[0] for path in _command_paths()}
    assert new in top_level and old not in top_level, f"`{old}` is a hidden alias of the `{new}` group"
    assert f"`stackwright {old} ...`" in README, f"say in the README's CLI section that `stackwright {old}` still works"


def test_help_does_not_import_heavy_modules() -> None:
    """`stackwright --help` stays fast: the CLI's modules import no web, database or HTTP stack at import time."""
    import subprocess
    import sys

    code = (
        "import sys; import stackwright.cli.main; "
        "heavy = [m for m in ('fastapi', 'sqlalchemy', 'alembic', 'httpx', 'uvicorn', 'argon2', 'pydantic_settings') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"imported at CLI start: {out}"
