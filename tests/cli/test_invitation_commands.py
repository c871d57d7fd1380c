"""`stackwright invitations ...` (the operator) on SQLite and Postgres: create, list, accept, decline, revoke, audited."""

from __future__ import annotations

from stackwright.auth.actors import cli_actor
from stackwright.auth.keys import authenticate

CLI_ACTOR = cli_actor().label


def test_invite_list_accept(cli_ready):
    cli = cli_ready
    cli.ok("projects", "create", "team")
    cli.ok("users", "create", "ada@example.com", "--no-password")
    invitation = cli.json("invitations", "create", "Ada@Example.com", "--project", "team", "--role", "admin")
    assert invitation["email"] == "ada@example.com" and invitation["status"] == "pending" and invitation["role"] == "admin"
    assert "Invited later@example.com to team as member" in cli.ok("invitations", "create", "later@example.com", "--project", "team").stdout

    assert [i["id"] for i in cli.json("invitations", "list", "--user", "ada@example.com")] == [invitation["id"]]
    assert {i["email"] for i in cli.json("invitations", "list", "--project", "team")} == {"ada@example.com", "later@example.com"}

    accepted = cli.json("invitations", "accept", invitation["id"], "--user", "ada@example.com")
    assert accepted["status"] == "accepted" and accepted["api_key"]["scopes"] == ["read", "write", "admin"]
    with cli.db.read() as session:
        key, project = authenticate(session, f"Bearer {accepted['api_key']['key']}")
        assert project.name == "team" and key.user_id == accepted["api_key"]["user_id"]
    members = cli.json("users", "list", "--project", "team")
    assert [(m["email"], m["role"]) for m in members] == [("ada@example.com", "admin")]
    assert cli.json("invitations", "list", "--user", "ada@example.com") == []

    actions = [(e["action"], e["actor"]) for e in cli.json("audit", "list", "--project", "team")]
    for action in ("invitation.create", "invitation.accept", "member.add", "key.create"):
        assert (action, CLI_ACTOR) in actions
    cli.fails("invitations", "accept", invitation["id"], "--user", "ada@example.com", needle="already accepted")


def test_decline_revoke_and_bad_input(cli_ready):
    cli = cli_ready
    cli.ok("users", "create", "bob@example.com", "--no-password")
    first = cli.json("invitations", "create", "bob@example.com", "--project", "default", "--role", "viewer")
    assert "Declined" in cli.ok("invitations", "decline", first["id"], "--user", "bob@example.com").stdout
    second = cli.json("invitations", "create", "bob@example.com", "--project", "default")
    assert "Revoked" in cli.ok("invitations", "revoke", second["id"], "--project", "default").stdout
    statuses = {i["id"]: i["status"] for i in cli.json("invitations", "list", "--project", "default")}
    assert statuses == {first["id"]: "declined", second["id"]: "revoked"}
    cli.fails("invitations", "accept", second["id"], "--user", "bob@example.com", code=1, needle="already revoked")
    cli.fails("invitations", "accept", "inv_nope", "--user", "bob@example.com", needle="no invitation")
    cli.fails("invitations", "accept", first["id"], "--user", "admin@example.com", needle="no invitation")  # someone else's
    cli.fails("invitations", "list", needle="--project or --user")
    cli.fails("invitations", "create", "admin@example.com", "--project", "default", needle="already a member")
    cli.fails("invitations", "create", "x@example.com", "--project", "default", "--role", "boss", needle="role")
    actions = {e["action"] for e in cli.json("audit", "list", "--project", "default")}
    assert {"invitation.create", "invitation.decline", "invitation.revoke"} <= actions


def test_keys_create_refuses_more_than_the_users_role(cli_ready):
    cli = cli_ready
    cli.ok("users", "create", "viewer@example.com", "--no-password", "--project", "default", "--role", "viewer")
    assert cli.json("keys", "create", "--project", "default", "--scope", "read", "--user", "viewer@example.com")["scopes"] == ["read"]
    cli.fails("keys", "create", "--project", "default", "--scope", "write", "--user", "viewer@example.com", needle="viewer")
