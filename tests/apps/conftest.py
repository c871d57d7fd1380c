"""Support app fixtures: one demo seeded once per module in a real SQLite data dir (small traffic, both
eval runs), and a SupportApp driving the real Stackwright app in process over it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stackwright.core.config import Settings

SEED_REQUESTS = 12


def demo_settings(home: Path) -> Settings:
    return Settings(home=home, database_url=f"sqlite:///{home / 'stackwright.db'}", log_format="text")


@pytest.fixture(scope="package")
def support_demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, object]:
    """(settings, seed report) of a demo seeded once for the whole tests/apps package."""
    from stackwright.apps.support.seed import seed

    settings = demo_settings(tmp_path_factory.mktemp("demo") / "home")
    report = seed(settings, requests=SEED_REQUESTS)
    return settings, report


@pytest.fixture
def support_app(support_demo) -> Iterator[object]:
    from stackwright.apps.support.app import SupportApp

    settings, _ = support_demo
    app = SupportApp.in_process(settings)
    yield app
    app.close()


def spans_of(support, trace_id: str) -> list[dict]:
    response = support.http.get(f"/api/v1/traces/{trace_id}")
    assert response.status_code == 200, response.text
    return response.json()["spans"]
