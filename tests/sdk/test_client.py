"""The sync client against the app in process: every resource, on SQLite and Postgres."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import stackwright
from stackwright.core.migrate import head_revisions
from stackwright.sdk import AuthenticationError, Client, NotFoundError, Page
from tests.conftest import TEST_ADMIN_EMAIL, TEST_API_KEY


def test_top_level_exports_are_the_sdk():
    assert stackwright.Client is Client
    assert stackwright.StackwrightAPIError.__module__ == "stackwright.sdk.errors"


def test_health_ready_and_me(client):
    assert client.health()["status"] == "ok"
    assert client.ready() == {"status": "ok", "database": "reachable", "migrations": sorted(head_revisions())}
    me = client.me()
    assert me["project"]["name"] == "default"
    assert me["user_email"] == TEST_ADMIN_EMAIL
    assert me["key"]["scopes"] == ["admin"] and TEST_API_KEY.startswith(me["key"]["prefix"])


def test_projects_list_get_create(client, connect):
    [project] = client.projects.list()
    assert project["name"] == "default"
    assert client.projects.get(project["id"]) == project

    created = client.projects.create("team-b", description="second")
    assert created["project"]["name"] == "team-b" and created["project"]["description"] == "second"
    assert created["api_key"]["key"].startswith("sw-") and created["api_key"]["scopes"] == ["admin"]
    # The new project's key sees only its own project; the old key does not see the new one.
    other = connect(created["api_key"]["key"])
    assert [p["name"] for p in other.projects.list()] == ["team-b"]
    assert [p["name"] for p in client.projects.list()] == ["default"]


def test_users_add_get_update_remove(client):
    added = client.users.add("Ada@Example.com", password="long enough pw", role="viewer")
    assert added["email"] == "ada@example.com" and added["role"] == "viewer" and added["is_admin"] is False
    assert client.users.get(added["id"]) == added
    assert {u["email"] for u in client.users.list()} == {TEST_ADMIN_EMAIL, "ada@example.com"}

    updated = client.users.update(added["id"], role="admin")
    assert updated["role"] == "admin" and updated["id"] == added["id"]

    assert client.users.remove(added["id"]) is None
    with pytest.raises(NotFoundError, match="not a member"):
        client.users.get(added["id"])
    assert [u["email"] for u in client.users.list()] == [TEST_ADMIN_EMAIL]


def test_keys_create_list_get_revoke(client, connect):
    expires = datetime.now(UTC) + timedelta(days=1)
    created = client.keys.create("ci", scopes=["read"], expires_at=expires)
    secret = created.pop("key")
    assert secret.startswith(created["prefix"]) and created["scopes"] == ["read"]
    assert datetime.fromisoformat(created["expires_at"].replace("Z", "+00:00")) == expires
    assert created["id"] in {k["id"] for k in client.keys.list()}
    assert "key" not in client.keys.get(created["id"])

    ci = connect(secret)
    assert ci.me()["key"]["id"] == created["id"]
    revoked = client.keys.revoke(created["id"])
    assert revoked["revoked_at"] is not None
    assert client.keys.revoke(created["id"])["revoked_at"] == revoked["revoked_at"]  # idempotent
    with pytest.raises(AuthenticationError) as caught:
        ci.me()
    assert caught.value.status == 401 and caught.value.code == "unauthenticated"


def test_default_key_scopes_are_read_write(client):
    assert client.keys.create("app")["scopes"] == ["read", "write"]


def test_audit_list_filters_and_pages(client):
    for name in ("k1", "k2", "k3"):
        client.keys.create(name)
    everything = client.audit.list(limit=500)
    assert isinstance(everything, Page) and everything.next_cursor is None
    ids = [e["id"] for e in everything.data]
    assert ids == sorted(ids, reverse=True) and len(ids) >= 5

    first = client.audit.list(limit=2)
    assert len(first) == 2 and first.next_cursor
    second = client.audit.list(limit=2, cursor=first.next_cursor)
    assert [e["id"] for e in first.data + second.data] == ids[:4]

    assert [e["id"] for e in client.audit.iter(limit=2)] == ids
    creates = list(client.audit.iter(action="key.create", object_type="api_key", limit=1))
    assert [e["after"]["name"] for e in creates[:3]] == ["k3", "k2", "k1"]
    assert all(e["action"] == "key.create" for e in creates)
    assert client.audit.list(since=datetime.now(UTC) + timedelta(hours=1)).data == []


def test_in_process_uses_the_generated_bootstrap_key(tmp_path):
    from stackwright.core.config import Settings

    settings = Settings(home=tmp_path / "fresh", log_format="text")
    with Client.in_process(settings) as sdk:
        assert sdk.api_key and sdk.api_key.startswith("sw-")
        assert sdk.api_key in (tmp_path / "fresh" / "initial-credentials.env").read_text()
        assert sdk.me()["project"]["name"] == "default"
    # Closed: the transport refuses further use.
    with pytest.raises(RuntimeError):
        sdk.health()
