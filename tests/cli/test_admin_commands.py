"""`stackwright projects|users|keys|audit ...` on SQLite and Postgres: results, --json, audit entries."""

from __future__ import annotations

from stackwright.auth.actors import cli_actor
from stackwright.auth.keys import authenticate
from stackwright.auth.models import AuditEntry

CLI_ACTOR = cli_actor().label


def test_cli_actor_names_the_os_user():
    assert CLI_ACTOR.startswith("cli:") and len(CLI_ACTOR) > len("cli:")


def test_projects_create_and_list(cli_ready):
    cli = cli_ready
    assert "Created project alpha" in cli.ok("projects", "create", "alpha", "--description", "first").stdout
    created = cli.json("projects", "create", "beta")
    assert created["name"] == "beta" and created["id"].startswith("prj_") and created["description"] == ""

    rows = cli.json("projects", "list")
    assert [r["name"] for r in rows] == ["default", "alpha", "beta"]
    assert rows[1]["description"] == "first"
    assert all(set(r) == {"id", "name", "description", "created_at"} for r in rows)
    table = cli.ok("projects", "list").stdout
    assert "alpha" in table and "beta" in table

    entries = cli.json("audit", "list", "--action", "project.create")
    assert {(e["actor"], e["object_id"]) for e in entries} >= {(CLI_ACTOR, created["id"])}
    assert [e["after"]["name"] for e in entries if e["actor"] == CLI_ACTOR] == ["beta", "alpha"]


def test_projects_create_with_owner(cli_ready):
    cli = cli_ready
    cli.ok("users", "create", "owner@example.com", "--password", "long enough")
    project = cli.json("projects", "create", "owned", "--owner", "owner@example.com")
    members = cli.json("users", "list", "--project", "owned")
    assert [(m["email"], m["role"]) for m in members] == [("owner@example.com", "owner")]
    adds = cli.json("audit", "list", "--project", "owned", "--action", "member.add")
    assert adds[0]["actor"] == CLI_ACTOR and adds[0]["project_id"] == project["id"]


def test_users_create_list_add(cli_ready):
    cli = cli_ready
    out = cli.ok("users", "create", "Ada@Example.com", "--password", "long enough").stdout
    assert "Created user ada@example.com" in out
    bob = cli.json("users", "create", "bob@example.com", "--password", "long enough", "--project", "default", "--role", "viewer")
    assert bob == {**bob, "email": "bob@example.com", "is_admin": False, "project": "default", "role": "viewer"}
    root = cli.json("users", "create", "root@example.com", "--password", "long enough", "--admin")
    assert root["is_admin"] is True and root["project"] is None

    emails = [u["email"] for u in cli.json("users", "list")]
    assert emails == ["admin@example.com", "ada@example.com", "bob@example.com", "root@example.com"]

    assert "Added ada@example.com to default as admin" in cli.ok(
        "users", "add", "ada@example.com", "--project", "default", "--role", "admin"
    ).stdout
    members = {m["email"]: m["role"] for m in cli.json("users", "list", "--project", "default")}
    assert members == {"admin@example.com": "owner", "bob@example.com": "viewer", "ada@example.com": "admin"}
    assert "ada@example.com" in cli.ok("users", "list", "--project", "default").stdout

    entries = cli.json("audit", "list", "--limit", "1000")
    mine = [(e["action"], e["object_type"]) for e in entries if e["actor"] == CLI_ACTOR]
    assert mine.count(("user.create", "user")) == 3 and mine.count(("member.add", "user")) == 2
    assert all("password_hash" not in (e["after"] or {}) for e in entries)


def test_keys_create_list_revoke(cli_ready):
    cli = cli_ready
    out = cli.ok("keys", "create", "--project", "default", "--name", "ci").stdout
    raw = out.strip().splitlines()[-1]
    assert raw.startswith("sw-") and "will not be shown again" in out

    created = cli.json(
        "keys", "create", "--project", "default", "--scope", "read", "--user", "admin@example.com", "--expires-in-days", "3"
    )
    assert created["scopes"] == ["read"] and created["key"].startswith("sw-") and created["expires_at"]
    assert created["user_id"] is not None

    listed = cli.json("keys", "list", "--project", "default")
    assert len(listed) == 3  # the bootstrap key and the two above
    assert all("key" not in k and "key_hash" not in k for k in listed)
    by_id = {k["id"]: k for k in listed}
    assert by_id[created["id"]]["prefix"] == created["key"][:12]
    assert raw not in cli.ok("keys", "list", "--project", "default").stdout

    with cli.db.read() as session:
        key, project = authenticate(session, f"Bearer {raw}")
        assert project.name == "default" and key.scopes == ["read", "write"]

    revoked = cli.json("keys", "revoke", created["id"])
    assert revoked["revoked_at"] is not None
    assert "Revoked key" in cli.ok("keys", "revoke", raw[:12], "--project", "default").stdout  # by prefix
    cli.ok("keys", "revoke", created["id"])  # idempotent
    active = cli.json("keys", "list", "--project", "default", "--active")
    assert len(active) == 1 and active[0]["name"] == "bootstrap admin key"

    entries = cli.json("audit", "list", "--project", "default")
    actions = [(e["action"], e["actor"]) for e in entries if e["object_type"] == "api_key"]
    assert actions.count(("key.create", CLI_ACTOR)) == 2
    assert actions.count(("key.revoke", CLI_ACTOR)) == 2  # the repeated revoke changed nothing
    assert cli.count(AuditEntry, AuditEntry.action == "key.revoke") == 2


def test_audit_list(cli_ready):
    cli = cli_ready
    cli.ok("projects", "create", "other")
    everything = cli.json("audit", "list")
    assert everything[0]["action"] == "project.create" and everything[0]["actor"] == CLI_ACTOR
    ids = [e["id"] for e in everything]
    assert ids == sorted(ids, reverse=True)
    assert set(everything[0]) == {
        "id", "created_at", "actor", "action", "object_type", "object_id", "project_id", "before", "after",
    }
    assert len(cli.json("audit", "list", "--limit", "2")) == 2
    only_default = cli.json("audit", "list", "--project", "default")
    assert only_default and {e["project_id"] for e in only_default} == {only_default[0]["project_id"]}
    table = cli.ok("audit", "list").stdout
    assert "project.create" in table and everything[0]["object_id"] in table  # ids are printed whole


def test_tables_print_whole_ids(cli_ready):
    cli = cli_ready
    key = cli.json("keys", "create", "--project", "default", "--name", "a rather long key name for a narrow table")
    table = cli.ok("keys", "list", "--project", "default").stdout
    assert key["id"] in table and key["prefix"] in table and "…" not in table


def test_every_list_command_prints_parseable_json(cli_ready):
    cli = cli_ready
    for args in (
        ["projects", "list"],
        ["users", "list"],
        ["users", "list", "--project", "default"],
        ["keys", "list", "--project", "default"],
        ["audit", "list"],
        ["plugins", "list"],
    ):
        value = cli.json(*args)
        assert isinstance(value, list) and value, args
    assert isinstance(cli.json("db", "current"), dict)
