"""Two `stackwright serve` processes on one Postgres database, started together."""

from __future__ import annotations

import json

import pytest

from tests.conftest import TEST_API_KEY
from tests.e2e.serverproc import ServerProcess, clean_env, free_ports, run

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


def test_two_servers_on_one_postgres(tmp_path, new_postgres_db):
    ports = free_ports(2)
    servers = [
        ServerProcess(
            tmp_path / name,
            clean_env(home=tmp_path / name / "home", database_url=new_postgres_db, init_api_key=TEST_API_KEY),
            port,
            name=name,
        )
        for name, port in zip(("a", "b"), ports, strict=True)
    ]
    try:
        for server in servers:  # both start at once: concurrent migrate + bootstrap on an empty database
            server.start()
        for server in servers:
            server.wait_ready()
        a, b = servers

        # exactly one of them ran the first-start bootstrap
        assert sum("first start" in s.stderr for s in servers) == 1
        env = clean_env(home=tmp_path / "cli", database_url=new_postgres_db)
        users = json.loads(run(["users", "list", "--json"], env).stdout)
        assert len(users) == 1
        assert len(json.loads(run(["keys", "list", "--project", "default", "--json"], env).stdout)) == 1

        with a.client(TEST_API_KEY) as api_a, b.client(TEST_API_KEY) as api_b:
            assert api_a.get("/api/v1/me").status_code == 200 and api_b.get("/api/v1/me").status_code == 200
            created = api_a.post("/api/v1/projects", json={"name": "shared", "description": "made on a"})
            assert created.status_code == 201, created.text
            new_key = created.json()["api_key"]["key"]

        with b.client(new_key) as on_b:
            me = on_b.get("/api/v1/me")
            assert me.status_code == 200, me.text
            assert me.json()["project"]["name"] == "shared"
            extra = on_b.post("/api/v1/keys", json={"name": "made on b"})
            assert extra.status_code == 201, extra.text
        with a.client(new_key) as on_a:
            names = [k["name"] for k in on_a.get("/api/v1/keys").json()["data"]]
            assert names == ["first admin key", "made on b"]
            revoked = on_a.delete(f"/api/v1/keys/{extra.json()['id']}")
            assert revoked.status_code == 200
        with b.client(extra.json()["key"]) as revoked_on_b:
            assert revoked_on_b.get("/api/v1/me").status_code == 401

        projects = json.loads(run(["projects", "list", "--json"], env).stdout)
        assert [p["name"] for p in projects] == ["default", "shared"]
        assert [s.interrupt() for s in servers] == [0, 0]
    finally:
        for server in servers:
            server.kill()
