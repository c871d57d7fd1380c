"""The SDK over real HTTP against a `stackwright serve` process."""

from __future__ import annotations

import pytest

from stackwright.sdk import Client, NotFoundError
from tests.sdk.server import running_server

E2E_KEY = "sw-e2e-admin-key-0123456789abcdef"


@pytest.mark.e2e
def test_sdk_against_a_real_server(tmp_path):
    with running_server(tmp_path / "home", E2E_KEY) as server:
        with Client(base_url=server.base_url, api_key=E2E_KEY, timeout=10) as sdk:
            assert sdk.ready()["status"] == "ok"
            assert sdk.me()["project"]["name"] == "default"
            created = sdk.keys.create("e2e", scopes=["read"])
            assert created["key"].startswith("sw-")
            with Client(base_url=server.base_url, api_key=created["key"]) as reader:
                assert reader.me()["key"]["id"] == created["id"]
            with pytest.raises(NotFoundError) as caught:
                sdk.keys.get("key_missing")
            assert caught.value.request_id and caught.value.code == "not_found"
            actions = [e["action"] for e in sdk.audit.iter(limit=1)]
            assert actions[0] == "key.create" and "project.create" in actions
    assert server.returncode == 0, server.log()[-2000:]
    assert (tmp_path / "home" / "stackwright.db").exists()
