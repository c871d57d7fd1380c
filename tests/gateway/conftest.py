"""Gateway fixtures: one fake LLM upstream per test session, reset before each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.gateway.fake_upstream import FakeUpstream


@pytest.fixture(scope="session")
def fake_upstream_server() -> Iterator[FakeUpstream]:
    with FakeUpstream() as fake:
        yield fake


@pytest.fixture
def fake_upstream(fake_upstream_server: FakeUpstream) -> FakeUpstream:
    """The shared fake upstream, with no scripts and no recorded requests."""
    fake_upstream_server.reset()
    return fake_upstream_server
