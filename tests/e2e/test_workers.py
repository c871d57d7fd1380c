"""`serve` with several worker processes on one database (STACKWRIGHT_WORKERS); the workers end with the master."""

from __future__ import annotations

import os
import re
import signal
import time

import pytest

from tests.conftest import TEST_API_KEY
from tests.e2e.serverproc import START_TIMEOUT_S, STOP_TIMEOUT_S, ServerProcess, clean_env, free_ports

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


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie, exited but not yet reaped by its new parent, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def test_workers_exit_when_the_master_is_killed_and_a_new_master_takes_the_port(tmp_path, database_url):
    env = clean_env(home=tmp_path / "home", database_url=database_url, init_api_key=TEST_API_KEY, workers="2", log_format="json")
    port = free_ports()[0]
    first = ServerProcess(tmp_path / "run", env, port, name="first")
    with first:
        first.wait_ready()
        deadline = time.monotonic() + START_TIMEOUT_S
        while len(workers := [int(p) for p in re.findall(r"Started server process \[(\d+)\]", first.stderr)]) < 2:
            assert time.monotonic() < deadline, first.stderr
            time.sleep(0.1)
        assert first.proc.pid not in workers and all(_alive(pid) for pid in workers)
        first.proc.send_signal(signal.SIGKILL)  # no clean shutdown: the workers must notice on their own
        first.proc.wait(timeout=STOP_TIMEOUT_S)
        deadline = time.monotonic() + 45  # generous: only how long we wait, not a speed
        while any(_alive(pid) for pid in workers):
            assert time.monotonic() < deadline, f"workers still running after the master died: {workers}"
            time.sleep(0.1)
    second = ServerProcess(tmp_path / "run", env, port, name="second")
    with second:
        second.wait_ready()
        with second.client(TEST_API_KEY) as api:
            assert api.get("/api/v1/keys").status_code == 200
        assert second.interrupt() == 0
