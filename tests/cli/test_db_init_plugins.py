"""`stackwright db ...`, `init` and `plugins list`, on SQLite and Postgres."""

from __future__ import annotations

import os
import stat

from sqlalchemy import inspect

from stackwright.auth.models import ApiKey, AuditEntry, Project, User
from stackwright.core import migrate


def _tables(cli) -> set[str]:
    with cli.db.engine.connect() as conn:
        return set(inspect(conn).get_table_names())


def test_db_current_upgrade_downgrade(cli):
    head = sorted(migrate.head_revisions())
    cli.home.mkdir(parents=True)

    info = cli.json("db", "current")
    assert info["current"] == [] and info["head"] == head and info["up_to_date"] is False
    assert "base" in cli.ok("db", "current").stdout  # `db current` does not migrate by itself

    assert f"Database at {head[0]}" in cli.ok("db", "upgrade").stdout
    info = cli.json("db", "current")
    assert info == {**info, "current": head, "up_to_date": True}
    assert {"projects", "users", "api_keys", "audit_log", "memberships", "instance_meta"} <= _tables(cli)

    cli.ok("db", "upgrade")  # again: nothing to do, no error
    assert "Database at base" in cli.ok("db", "downgrade", "base").stdout
    assert _tables(cli) <= {"alembic_version"}
    assert cli.json("db", "current")["current"] == []

    cli.ok("db", "upgrade", "head")
    assert cli.json("db", "current")["up_to_date"] is True


def test_db_current_redacts_the_password(cli, backend):
    if backend == "postgres":
        url = cli.database_url.replace("postgres@", "postgres:topsecret@", 1)
        info = cli.json("db", "current", env={"STACKWRIGHT_DATABASE_URL": url})
        assert "topsecret" not in info["url"] and ":***@" in info["url"]
    else:
        assert cli.json("db", "current")["url"].startswith("sqlite:///")


def test_db_commands_refuse_unknown_revisions(cli):
    cli.ok("db", "upgrade")
    cli.fails("db", "downgrade", "nope", needle="revision 'nope'")
    cli.fails("db", "upgrade", "nope", needle="revision 'nope'")
    assert cli.json("db", "current")["up_to_date"] is True  # a failed command left the schema alone


def test_init_prints_credentials_once(cli):
    first = cli.ok("init", env={"STACKWRIGHT_LOG_FORMAT": "text"})  # text: the banner with the secrets (json: tests/server/test_first_start_banner.py)
    creds_file = cli.home / "initial-credentials.env"
    assert "admin password:" in first.stderr and "API key:" in first.stderr and str(creds_file) in first.stderr
    assert creds_file.exists() and stat.S_IMODE(os.stat(creds_file).st_mode) == 0o600
    api_key = next(line.split()[-1] for line in first.stderr.splitlines() if "API key:" in line)
    assert f"STACKWRIGHT_API_KEY={api_key}" in creds_file.read_text()

    second = cli.ok("init")
    assert "Already initialised" in second.stdout
    assert "password" not in second.stderr + second.stdout and api_key not in second.stderr + second.stdout
    assert cli.count(User) == 1 and cli.count(Project) == 1 and cli.count(ApiKey) == 1


def test_init_with_given_credentials_writes_no_file(cli):
    result = cli.ok(
        "init",
        env={
            "STACKWRIGHT_INIT_ADMIN_EMAIL": "Boss@Example.com",
            "STACKWRIGHT_INIT_ADMIN_PASSWORD": "a long password",
            "STACKWRIGHT_INIT_PROJECT": "main",
            "STACKWRIGHT_INIT_API_KEY": "sw-given-key-0123456789abcdefgh",
        },
    )
    assert "boss@example.com" in result.stderr and "main" in result.stderr
    assert "a long password" not in result.stderr and "sw-given-key" not in result.stderr
    assert not (cli.home / "initial-credentials.env").exists()
    assert [p["name"] for p in cli.json("projects", "list")] == ["main"]
    assert cli.count(AuditEntry, AuditEntry.actor == "system") >= 3


def test_init_migrates_even_without_migrate_on_start(cli):
    cli.ok("init", env={"STACKWRIGHT_MIGRATE_ON_START": "false"})
    assert cli.json("db", "current")["up_to_date"] is True
    cli.ok("db", "downgrade", "base")
    cli.fails("projects", "list", code=2, needle="stackwright db upgrade", env={"STACKWRIGHT_MIGRATE_ON_START": "false"})


def test_plugins_list(cli):
    rows = cli.json("plugins", "list")
    assert {"registry": "executors", "name": "local", "source": "entry point stackwright.core.executors:LocalExecutor"} in rows
    assert all(set(row) == {"registry", "name", "source"} for row in rows)
    table = cli.ok("plugins", "list").stdout
    assert "executors" in table and "local" in table


def test_version_and_help(cli):
    from stackwright import __version__

    assert cli.ok("version").stdout.strip() == __version__
    help_text = cli.ok("--help").stdout
    for command in ("serve", "init", "db", "projects", "users", "keys", "audit", "plugins"):
        assert command in help_text
