"""The real `stackwright serve` on a loopback port, driven over HTTP."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.conftest import TEST_API_KEY
from tests.e2e.serverproc import ServerProcess, clean_env, free_ports, read_env_file

pytestmark = pytest.mark.e2e


def _listen_addresses(port: int) -> set[str]:
    """Local addresses with a listening TCP socket on ``port`` (Linux /proc)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if int(hex_port, 16) == port and fields[3] == "0A":  # 0A = LISTEN
                found.add(address)
    return found


def test_serve_answers_over_http_and_stops_on_ctrl_c(tmp_path, database_url):
    env = clean_env(home=tmp_path / "home", database_url=database_url, init_api_key=TEST_API_KEY)
    server = ServerProcess(tmp_path / "run", env, free_ports()[0])
    with server:
        server.wait_ready()
        with server.client() as anon:
            health = anon.get("/healthz")
            assert health.status_code == 200 and health.json()["status"] == "ok"
            ready = anon.get("/readyz").json()
            assert ready["status"] == "ok" and ready["database"] == "reachable"
            assert anon.get("/api/v1/me").status_code == 401
        with server.client("sw-not-the-right-key-0123456789") as wrong:
            assert wrong.get("/api/v1/me").json()["error"]["code"] == "unauthenticated"
        with server.client(TEST_API_KEY) as api:
            me = api.get("/api/v1/me")
            assert me.status_code == 200, me.text
            assert me.json()["project"]["name"] == "default" and me.json()["key"]["scopes"] == ["admin"]
            created = api.post("/api/v1/keys", json={"name": "over http", "scopes": ["read"]})
            assert created.status_code == 201, created.text
        with server.client(created.json()["key"]) as reader:
            assert reader.get("/api/v1/projects").json()["data"][0]["name"] == "default"

        assert TEST_API_KEY not in server.stderr  # a given key is never echoed
        assert server.interrupt() == 0
    assert "Traceback" not in server.stderr
    assert "Shutting down" in server.stderr or "shutdown" in server.stderr.lower()


def test_binds_loopback_by_default(tmp_path):
    port = free_ports()[0]
    server = ServerProcess(tmp_path / "run", clean_env(home=tmp_path / "home", init_api_key=TEST_API_KEY), port)
    with server:
        server.wait_ready()
        assert _listen_addresses(port) in ({"0100007F"}, set())  # 127.0.0.1, little-endian hex
        if not _listen_addresses(port):
            pytest.skip("no /proc/net/tcp to check the bound address")
        assert f"127.0.0.1:{port}" in server.stderr
        assert server.interrupt() == 0


def test_host_and_port_options(tmp_path):
    env_port, option_port = free_ports(2)
    server = ServerProcess(
        tmp_path / "run",
        clean_env(home=tmp_path / "home", init_api_key=TEST_API_KEY),
        env_port,
        args=["--host", "127.0.0.1", "--port", str(option_port)],
    )
    server.base_url = f"http://127.0.0.1:{option_port}"  # the option wins over STACKWRIGHT_PORT
    with server:
        server.wait_ready()
        assert server.interrupt() == 0


def test_make_run_flow(tmp_path):
    """`make run` in a fresh checkout: no settings at all, data in ./.stackwright, credentials generated."""
    workdir = tmp_path / "checkout"
    port = free_ports()[0]
    server = ServerProcess(workdir, clean_env(), port)
    with server:
        server.wait_ready()
        creds_path = workdir / ".stackwright" / "initial-credentials.env"
        assert stat.S_IMODE(os.stat(creds_path).st_mode) == 0o600
        creds = read_env_file(creds_path)
        api_key = creds["STACKWRIGHT_API_KEY"]
        assert api_key.startswith("sw-") and creds["STACKWRIGHT_ADMIN_PASSWORD"]
        first_output = server.stderr
        assert api_key in first_output and creds["STACKWRIGHT_ADMIN_PASSWORD"] in first_output
        assert first_output.count(api_key) == 1  # printed once
        assert (workdir / ".stackwright" / "stackwright.db").exists()
        with server.client(api_key) as api:
            me = api.get("/api/v1/me").json()
            assert me["project"]["name"] == creds["STACKWRIGHT_PROJECT"] and me["user_email"] == creds["STACKWRIGHT_ADMIN_EMAIL"]
        assert server.interrupt() == 0

    again = ServerProcess(workdir, clean_env(), port, name="second")
    with again:
        again.wait_ready()
        assert "API key" not in again.stderr and api_key not in again.stderr
        assert "password" not in again.stderr.lower()
        with again.client(api_key) as api:
            assert api.get("/api/v1/me").status_code == 200
        assert again.interrupt() == 0
    assert read_env_file(creds_path) == creds
