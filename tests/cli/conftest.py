"""The `cli` fixture: runs `stackwright ...` in process (typer's CliRunner) against the test database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner, Result

from stackwright.core.config import Settings
from stackwright.core.db import Database


class Cli:
    def __init__(self, home: Path, database_url: str):
        self.home = home
        self.database_url = database_url
        self.env = {"STACKWRIGHT_HOME": str(home), "STACKWRIGHT_DATABASE_URL": database_url}
        self.runner = CliRunner()
        self._db: Database | None = None

    def __call__(self, *args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
        from stackwright.cli.main import app

        return self.runner.invoke(app, list(args), input=input, env={**self.env, **(env or {})}, catch_exceptions=False)

    def ok(self, *args: str, **kwargs: Any) -> Result:
        result = self(*args, **kwargs)
        assert result.exit_code == 0, f"{args} exited {result.exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
        return result

    def json(self, *args: str, **kwargs: Any) -> Any:
        """Run a command with --json; its stdout must be one JSON document."""
        return json.loads(self.ok(*args, "--json", **kwargs).stdout)

    def fails(self, *args: str, code: int = 1, needle: str | None = None, **kwargs: Any) -> str:
        """The command exits with ``code`` and one `error: ...` message on stderr; returns that message."""
        result = self(*args, **kwargs)
        assert result.exit_code == code, f"{args} exited {result.exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
        assert result.stderr.startswith("error: "), result.stderr
        assert "Traceback" not in result.stderr
        if needle:
            assert needle.lower() in result.stderr.lower(), result.stderr
        return result.stderr

    @property
    def db(self) -> Database:
        if self._db is None:
            self._db = Database(Settings(home=self.home, database_url=self.database_url))
        return self._db

    def count(self, model: Any, *where: Any) -> int:
        with self.db.read() as session:
            return session.scalar(select(func.count()).select_from(model).where(*where)) or 0

    def close(self) -> None:
        if self._db is not None:
            self._db.dispose()


@pytest.fixture
def cli(tmp_path: Path, database_url: str):
    runner = Cli(tmp_path / "home", database_url)
    yield runner
    runner.close()


@pytest.fixture
def cli_ready(cli: Cli) -> Cli:
    """`stackwright init` done with known credentials: project `default`, admin@example.com."""
    from tests.conftest import TEST_ADMIN_EMAIL, TEST_ADMIN_PASSWORD, TEST_API_KEY

    cli.ok(
        "init",
        env={
            "STACKWRIGHT_INIT_API_KEY": TEST_API_KEY,
            "STACKWRIGHT_INIT_ADMIN_EMAIL": TEST_ADMIN_EMAIL,
            "STACKWRIGHT_INIT_ADMIN_PASSWORD": TEST_ADMIN_PASSWORD,
        },
    )
    return cli
