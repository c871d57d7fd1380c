"""Flows fixtures: spans recorded in memory through the SDK's real tracing pipeline."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stackwright.sdk.observe import InMemoryExporter, configure_tracing, flush
from stackwright.sdk.observe.state import STATE


@pytest.fixture(autouse=True)
def _tracing_off_afterwards() -> Iterator[None]:
    yield
    configure_tracing(enabled=False)
    STATE.config = None
    STATE.active = True


@pytest.fixture
def sink() -> InMemoryExporter:
    exporter = InMemoryExporter()
    assert configure_tracing(exporter=exporter, schedule_delay=0.05) is True
    return exporter


def finished(sink: InMemoryExporter) -> list:
    assert flush(5) is True
    return list(sink.spans)
