"""Configuration: arguments win, then STACKWRIGHT_BASE_URL / STACKWRIGHT_API_KEY, then the defaults."""

from __future__ import annotations

import anyio
import httpx
import pytest

from stackwright.sdk import AsyncClient, Client


def recording() -> tuple[list[httpx.Request], httpx.MockTransport]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"data": [], "next_cursor": None})

    return seen, httpx.MockTransport(handler)


def test_env_vars_are_honoured(monkeypatch):
    monkeypatch.setenv("STACKWRIGHT_BASE_URL", "http://env-host:9000/prefix/")
    monkeypatch.setenv("STACKWRIGHT_API_KEY", "sw-from-env-0123456789")
    seen, transport = recording()
    with Client(transport=transport) as sdk:
        assert sdk.base_url == "http://env-host:9000/prefix" and sdk.api_key == "sw-from-env-0123456789"
        assert sdk.projects.list() == []
    assert str(seen[0].url) == "http://env-host:9000/prefix/api/v1/projects"
    assert seen[0].headers["authorization"] == "Bearer sw-from-env-0123456789"
    assert seen[0].headers["user-agent"].startswith("stackwright-python/")


def test_async_client_reads_the_same_env(monkeypatch):
    monkeypatch.setenv("STACKWRIGHT_BASE_URL", "http://env-host:9000")
    monkeypatch.setenv("STACKWRIGHT_API_KEY", "sw-from-env-0123456789")
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"data": [{"id": 1}], "next_cursor": None})

    async def call() -> list:
        async with AsyncClient(transport=httpx.MockTransport(handler)) as sdk:
            return (await sdk.audit.list(action="key.create", limit=5)).data

    assert anyio.run(call) == [{"id": 1}]
    assert seen[0].url.host == "env-host" and seen[0].url.params["action"] == "key.create"
    assert seen[0].headers["authorization"] == "Bearer sw-from-env-0123456789"


def test_arguments_override_env(monkeypatch):
    monkeypatch.setenv("STACKWRIGHT_BASE_URL", "http://env-host:9000")
    monkeypatch.setenv("STACKWRIGHT_API_KEY", "sw-from-env-0123456789")
    seen, transport = recording()
    with Client("https://arg-host", api_key="sw-from-arg-0123456789", transport=transport) as sdk:
        sdk.keys.list()
    assert str(seen[0].url) == "https://arg-host/api/v1/keys"
    assert seen[0].headers["authorization"] == "Bearer sw-from-arg-0123456789"


def test_defaults_without_env(monkeypatch):
    monkeypatch.delenv("STACKWRIGHT_BASE_URL", raising=False)
    monkeypatch.delenv("STACKWRIGHT_API_KEY", raising=False)
    with Client() as sdk:
        assert sdk.base_url == "http://127.0.0.1:8600" and sdk.api_key is None and sdk.timeout == 30.0


def test_a_base_url_without_scheme_is_refused(monkeypatch):
    monkeypatch.setenv("STACKWRIGHT_BASE_URL", "localhost:8600")
    with pytest.raises(ValueError, match="STACKWRIGHT_BASE_URL"):
        Client()


def test_in_process_key_falls_back_to_env(settings, prepared, monkeypatch):
    from tests.conftest import TEST_API_KEY

    # Already bootstrapped (by `prepared`) and no init key in these settings: the env key is the one left.
    no_init_key = settings.model_copy(update={"init_api_key": None})
    monkeypatch.setenv("STACKWRIGHT_API_KEY", TEST_API_KEY)
    with Client.in_process(no_init_key) as sdk:
        assert sdk.api_key == TEST_API_KEY
        assert sdk.me()["project"]["name"] == "default"
