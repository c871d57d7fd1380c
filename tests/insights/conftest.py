"""The support demo seeded once for tests/insights (few requests, both eval runs), and one question asked
through it with `stackwright demo ask --json`: the reference answers the other interfaces must match."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from stackwright.core.config import Settings

SEED_REQUESTS = 2


def cli_env(settings: Settings) -> dict[str, str]:
    return {"STACKWRIGHT_HOME": str(settings.home), "STACKWRIGHT_DATABASE_URL": settings.database_url}


def run_cli(settings: Settings, *args: str) -> Any:
    from stackwright.cli.main import app

    return CliRunner().invoke(app, list(args), env=cli_env(settings))


@pytest.fixture(scope="package")
def seeded_demo(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    from stackwright.apps.support.seed import seed

    home: Path = tmp_path_factory.mktemp("insights-demo") / "home"
    settings = Settings(home=home, database_url=f"sqlite:///{home / 'stackwright.db'}", log_format="text")
    seed(settings, requests=SEED_REQUESTS)
    return settings


@pytest.fixture(scope="package")
def demo_answers(seeded_demo: Settings) -> dict[str, Any]:
    """`demo ask --json` for one question: the eight answers of a fresh demo trace."""
    result = run_cli(seeded_demo, "demo", "ask", "How do I reset my password?", "--user", "acct-1001", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def demo_api_key(settings: Settings) -> str:
    from stackwright.apps.support.seed import read_demo_credentials

    return read_demo_credentials(settings.home)["STACKWRIGHT_API_KEY"]
