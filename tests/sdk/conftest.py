"""SDK fixtures: clients driving the app in process, on the SQLite and Postgres backends of tests/conftest.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from stackwright.sdk import Client


@pytest.fixture
def client(settings) -> Iterator[Client]:
    """``Client.in_process`` with the bootstrapped admin key (settings.init_api_key)."""
    with Client.in_process(settings) as sdk:
        yield sdk


@pytest.fixture
def connect(app) -> Iterator[Callable[[str], Client]]:
    """Make more in-process clients on the same app, each with its own key; all closed afterwards."""
    from stackwright.sdk.transport import InProcessTransport

    made: list[Client] = []

    def make(api_key: str) -> Client:
        made.append(Client("http://stackwright.test", api_key, transport=InProcessTransport(app)))
        return made[-1]

    yield make
    for sdk in made:
        sdk.close()
