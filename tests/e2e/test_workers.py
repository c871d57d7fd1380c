"""`serve` with several worker processes on one database (STACKWRIGHT_WORKERS)."""

from __future__ import annotations

import pytest

from tests.conftest import TEST_API_KEY
from tests.e2e.serverproc import ServerProcess, clean_env, free_ports

pytestmark = pytest.mark.e2e


def test_two_workers_serve_one_store_and_stop_on_ctrl_c(tmp_path, database_url):
    env = clean_env(home=tmp_path / "home", database_url=database_url, init_api_key=TEST_API_KEY, workers="2")
    server = ServerProcess(tmp_path / "run", env, free_ports()[0])
    with server:
        server.wait_ready()
        with server.client(TEST_API_KEY) as api:
            created = [api.post("/api/v1/keys", json={"name": f"k{i}", "scopes": ["read"]}) for i in range(6)]
            assert all(r.status_code == 201 for r in created), [r.text for r in created]
            # whichever worker answers, every key is there: the workers share the database
            for _ in range(4):
                names = {k["name"] for k in api.get("/api/v1/keys").json()["data"]}
                assert {f"k{i}" for i in range(6)} <= names
        assert server.stderr.count("Started server process") == 2
        assert server.interrupt() == 0
