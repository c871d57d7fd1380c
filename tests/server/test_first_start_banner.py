"""The first-start banner: with JSON logs, one JSON record without the secrets (they stay in the 0600
credentials file, which the record names); with text logs, the readable banner with them, as before."""

from __future__ import annotations

import json

import pytest

from stackwright.auth.bootstrap import CREDENTIALS_FILE
from tests.e2e.serverproc import ServerProcess, clean_env, free_ports, read_env_file, run


def _secrets(home) -> list[str]:
    values = read_env_file(home / CREDENTIALS_FILE)
    return [values["STACKWRIGHT_ADMIN_PASSWORD"], values["STACKWRIGHT_API_KEY"]]


def _first_start_record(stderr: str) -> dict:
    records = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    found = [r for r in records if r.get("event") == "first_start"]
    assert len(found) == 1, stderr
    return found[0]


def test_init_with_json_logs_prints_a_record_without_secrets(tmp_path, database_url):
    home = tmp_path / "home"
    done = run(["init"], clean_env(home=home, database_url=database_url, log_format="json"))
    assert done.returncode == 0, done.stderr
    record = _first_start_record(done.stderr)
    assert record["level"] == "info" and record["logger"] == "stackwright.server"
    assert record["credentials_file"] == str(home / CREDENTIALS_FILE) and str(home / CREDENTIALS_FILE) in record["msg"]
    assert record["admin_email"] == "admin@stackwright.local" and record["project"] == "default"
    assert record["generated"] == ["admin_password", "api_key"]
    assert not [s for s in _secrets(home) if s in done.stderr + done.stdout]
    assert all(line.startswith("{") for line in done.stderr.splitlines())  # nothing else, no text banner


def test_init_with_text_logs_prints_the_banner_with_the_secrets(tmp_path, database_url):
    home = tmp_path / "home"
    done = run(["init"], clean_env(home=home, database_url=database_url, log_format="text"))
    assert done.returncode == 0, done.stderr
    password, api_key = _secrets(home)
    assert f"admin password: {password}" in done.stderr and f"API key:        {api_key}" in done.stderr
    assert str(home / CREDENTIALS_FILE) in done.stderr and "event" not in done.stderr


@pytest.mark.e2e
def test_serve_with_json_logs_keeps_secrets_out_of_its_output(tmp_path, database_url):
    home = tmp_path / "home"
    server = ServerProcess(tmp_path / "run", clean_env(home=home, database_url=database_url, log_format="json"), free_ports()[0])
    with server:
        server.wait_ready()
        assert server.interrupt() == 0
    record = _first_start_record(server.stderr)
    assert record["credentials_file"] == str(home / CREDENTIALS_FILE)
    assert not [s for s in _secrets(home) if s in server.stderr + server.stdout]
