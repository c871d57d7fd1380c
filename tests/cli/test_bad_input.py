"""Every admin command refuses bad input with exit 1, one `error: ...` line on stderr, and no partial rows."""

from __future__ import annotations

import pytest

from stackwright.auth.models import ApiKey, AuditEntry, Membership, Project, User

MODELS = (Project, User, Membership, ApiKey, AuditEntry)


def _counts(cli) -> dict[str, int]:
    return {m.__name__: cli.count(m) for m in MODELS}


BAD_COMMANDS = [
    # (args, what the message must say)
    (["projects", "create", "default"], "already exists"),
    (["projects", "create", "Bad Name!"], "not valid"),
    (["projects", "create", "orphan", "--owner", "nobody@example.com"], "No user 'nobody@example.com'"),
    (["users", "create", "not-an-email", "--password", "long enough"], "not an email address"),
    (["users", "create", "short@example.com", "--password", "short"], "too short"),
    (["users", "create", "ADMIN@example.com", "--password", "long enough"], "already exists"),
    (["users", "create", "role@example.com", "--password", "long enough", "--project", "default", "--role", "boss"], "Role 'boss'"),
    (["users", "create", "proj@example.com", "--password", "long enough", "--project", "nope"], "No project 'nope'"),
    (["users", "list", "--project", "nope"], "No project 'nope'"),
    (["users", "add", "nobody@example.com", "--project", "default"], "No user"),
    (["users", "add", "admin@example.com", "--project", "nope"], "No project 'nope'"),
    (["users", "add", "admin@example.com", "--project", "default", "--role", "god"], "Role 'god'"),
    (["users", "add", "admin@example.com", "--project", "default"], "already a member"),
    (["keys", "create", "--project", "nope"], "No project 'nope'"),
    (["keys", "create", "--project", "default", "--scope", "superuser"], "Unknown scope"),
    (["keys", "create", "--project", "default", "--scope", "read", "--scope", "bad"], "Unknown scope"),
    (["keys", "create", "--project", "default", "--user", "nobody@example.com"], "No user"),
    (["keys", "create", "--project", "default", "--name", "   "], "key name"),
    (["keys", "list", "--project", "nope"], "No project 'nope'"),
    (["keys", "revoke", "key_doesnotexist"], "No API key 'key_doesnotexist'"),
    (["keys", "revoke", "sw-unknownprefix"], "No API key"),
    (["audit", "list", "--project", "nope"], "No project 'nope'"),
]


@pytest.mark.parametrize(("args", "needle"), BAD_COMMANDS, ids=[" ".join(a[:3]) for a, _ in BAD_COMMANDS])
def test_bad_input_is_refused_cleanly(cli_ready, args, needle):
    before = _counts(cli_ready)
    message = cli_ready.fails(*args, code=1, needle=needle)
    assert message.count("\n") == 1  # one line, no traceback
    assert _counts(cli_ready) == before


def test_revoke_refuses_a_key_of_another_project(cli_ready):
    cli = cli_ready
    cli.ok("projects", "create", "other")
    key = cli.json("keys", "create", "--project", "other")
    cli.fails("keys", "revoke", key["id"], "--project", "default", needle="No API key")
    assert cli.json("keys", "list", "--project", "other")[0]["revoked_at"] is None


def test_a_failed_change_leaves_no_rows_and_no_audit_entry(cli_ready):
    """The project is inserted and audited before the owner lookup fails: all of it must be rolled back."""
    cli = cli_ready
    before = _counts(cli)
    cli.fails("projects", "create", "half", "--owner", "ghost@example.com")
    cli.fails("users", "create", "half@example.com", "--password", "long enough", "--project", "default", "--role", "nope")
    assert _counts(cli) == before
    assert cli.count(Project, Project.name == "half") == 0
    assert cli.count(User, User.email == "half@example.com") == 0
    assert "half" not in cli.ok("audit", "list", "--json").stdout


def test_usage_errors_exit_2(cli_ready):
    assert cli_ready("keys", "create", "--project", "default", "--expires-in-days", "0").exit_code == 2
    assert cli_ready("audit", "list", "--limit", "0").exit_code == 2
    assert cli_ready("keys", "list").exit_code == 2  # --project is required
    assert cli_ready("projects", "nosuchcommand").exit_code == 2


def test_unreachable_database_exits_2_with_the_redacted_url(cli):
    from tests.e2e.serverproc import closed_port

    url = f"postgresql+psycopg://postgres:hunter22@127.0.0.1:{closed_port()}/x"
    for args in (["projects", "list"], ["db", "current"], ["init"]):
        message = cli.fails(*args, code=2, needle="Cannot reach the database", env={"STACKWRIGHT_DATABASE_URL": url})
        assert "hunter22" not in message and "postgres:***@127.0.0.1" in message


def test_users_create_without_a_password_needs_to_say_so(cli_ready):
    """Off a terminal, a missing password is an error unless --no-password says it is meant."""
    cli = cli_ready
    cli.fails("users", "create", "nopass@example.com", needle="--no-password")
    assert cli.count(User, User.email == "nopass@example.com") == 0
    created = cli.json("users", "create", "nopass@example.com", "--no-password")
    assert created["email"] == "nopass@example.com"
    with cli.db.read() as session:
        assert session.get(User, created["id"]).password_hash is None
