"""The real `stackwright` executable in a subprocess: exit codes, stdout/stderr, and start-up failures."""

from __future__ import annotations

import json

import pytest

from tests.e2e.serverproc import clean_env, closed_port, run


def test_version_runs_as_a_console_script():
    from stackwright import __version__

    done = run(["version"], clean_env())
    assert done.returncode == 0 and done.stdout.strip() == __version__


def test_admin_flow_through_the_executable(tmp_path, database_url):
    env = clean_env(home=tmp_path / "home", database_url=database_url, log_format="text")  # the banner as text
    first = run(["init"], env)
    assert first.returncode == 0, first.stderr
    assert "API key:" in first.stderr and "sw-" in first.stderr

    created = run(["projects", "create", "web", "--json"], env)
    assert created.returncode == 0, created.stderr
    project = json.loads(created.stdout)

    listed = run(["projects", "list", "--json"], env)
    assert [p["id"] for p in json.loads(listed.stdout)] [-1] == project["id"]

    duplicate = run(["projects", "create", "web"], env)
    assert duplicate.returncode == 1
    assert duplicate.stderr.startswith("error: A project named 'web' already exists.")
    assert "Traceback" not in duplicate.stderr and duplicate.stdout == ""

    key = run(["keys", "create", "--project", "nope"], env)
    assert key.returncode == 1 and key.stderr.startswith("error: No project 'nope'")

    audit = json.loads(run(["audit", "list", "--json", "--action", "project.create"], env).stdout)
    assert audit[0]["actor"].startswith("cli:") and audit[0]["object_id"] == project["id"]

    again = run(["init"], env)
    assert again.returncode == 0 and "Already initialised" in again.stdout and "sw-" not in again.stderr


def _fails_to_serve(env: dict[str, str], *args: str, code: int = 2) -> str:
    done = run(list(args) if "serve" in args else [*args, "serve"], env, timeout=90)
    assert done.returncode == code, f"exit {done.returncode}\nstdout: {done.stdout}\nstderr: {done.stderr}"
    assert done.stderr.startswith("error: "), done.stderr
    assert "Traceback" not in done.stderr
    return done.stderr


def test_serve_with_the_database_down(tmp_path):
    url = f"postgresql+psycopg://sw:s3cretpw@127.0.0.1:{closed_port()}/x"
    message = _fails_to_serve(clean_env(home=tmp_path / "home", database_url=url))
    assert "Cannot reach the database" in message
    assert "s3cretpw" not in message
    assert f"postgresql+psycopg://sw:***@127.0.0.1:{url.split(':')[3].split('/')[0]}/x" in message
    assert "STACKWRIGHT_DATABASE_URL" in message  # says what to fix


def test_serve_with_a_data_dir_that_cannot_be_created(tmp_path):
    (tmp_path / "afile").write_text("not a directory")
    home = tmp_path / "afile" / "home"
    message = _fails_to_serve(clean_env(home=home))
    assert f"The data dir {home} is not writable" in message and "STACKWRIGHT_HOME" in message
    assert not (tmp_path / "afile").is_dir()


@pytest.mark.parametrize(
    ("settings", "needle"),
    [
        ({"port": "abc"}, "port (STACKWRIGHT_PORT)"),
        ({"port": "70000"}, "port (STACKWRIGHT_PORT)"),
        ({"init_api_key": "bad"}, "init_api_key (STACKWRIGHT_INIT_API_KEY)"),
        ({"init_admin_email": "nobody"}, "STACKWRIGHT_INIT_ADMIN_EMAIL"),
        ({"init_admin_password": "short"}, "STACKWRIGHT_INIT_ADMIN_PASSWORD"),
        ({"log_level": "loud"}, "STACKWRIGHT_LOG_LEVEL"),
        ({"database_url": "mysql://x@y/z"}, "STACKWRIGHT_DATABASE_URL"),
        ({"config_file": "/nonexistent/stackwright.toml"}, "Config file /nonexistent/stackwright.toml does not exist"),
    ],
    ids=lambda v: str(v) if isinstance(v, str) else next(iter(v)),
)
def test_serve_with_invalid_settings(tmp_path, settings, needle):
    message = _fails_to_serve(clean_env(home=tmp_path / "home", **settings))
    assert needle in message, message
    assert not (tmp_path / "home").exists()  # refused before touching anything


def test_serve_with_a_broken_toml_file(tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text("port = [\n")
    message = _fails_to_serve(clean_env(home=tmp_path / "home", config_file=broken))
    assert f"Config file {broken} could not be read" in message

    unknown = tmp_path / "unknown.toml"
    unknown.write_text("prot = 8600\n")
    assert "prot" in _fails_to_serve(clean_env(home=tmp_path / "home"), "--config", str(unknown))
    assert "does not exist" in _fails_to_serve(clean_env(home=tmp_path / "home"), "--config", str(tmp_path / "none.toml"))


def test_serve_port_option_is_validated(tmp_path):
    done = run(["serve", "--port", "abc"], clean_env(home=tmp_path / "home"))
    assert done.returncode == 2 and "--port" in done.stderr
    assert "port" in _fails_to_serve(clean_env(home=tmp_path / "home"), "serve", "--port", "0")[:80]


def test_serve_on_a_port_in_use(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        message = _fails_to_serve(clean_env(home=tmp_path / "home", port=port))
    assert f"Cannot listen on 127.0.0.1:{port}" in message and "STACKWRIGHT_PORT" in message
    assert not (tmp_path / "home").exists()  # nothing bootstrapped (no credentials printed for a server that never ran)


def test_serve_refuses_an_old_schema_without_migrate_on_start(tmp_path):
    message = _fails_to_serve(clean_env(home=tmp_path / "home", migrate_on_start="false"))
    assert "schema is not current" in message and "stackwright db upgrade" in message
