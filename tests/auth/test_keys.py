"""API keys through the API: shown once, stored hashed, scoped, revocable (idempotently), validated."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from stackwright.auth.models import ApiKey
from stackwright.core.clock import utcnow
from tests.auth.conftest import audit_entries, db_state
from tests.conftest import TEST_API_KEY, assert_error

SECRET_FREE_FIELDS = {
    "id", "project_id", "name", "prefix", "scopes", "user_id", "created_at", "expires_at", "last_used_at", "revoked_at"
}


def test_create_shows_the_secret_once(api, default):
    response = api.post("/api/v1/keys", json={"name": "ci", "scopes": ["read"]})
    assert response.status_code == 201, response.text
    created = response.json()
    raw = created["key"]
    assert raw.startswith("sw-") and len(raw) > 30
    assert created["prefix"] == raw[:12] and created["scopes"] == ["read"] and created["name"] == "ci"
    assert created["project_id"] == default.project_id and created["revoked_at"] is None
    assert created["user_id"] == default.admin_user_id

    listed = api.get("/api/v1/keys").json()["data"]
    fetched = api.get(f"/api/v1/keys/{created['id']}").json()
    for row in [*listed, fetched]:
        assert set(row) == SECRET_FREE_FIELDS
        assert raw not in str(row)
    assert created["id"] in {k["id"] for k in listed}


def test_keys_are_stored_hashed(api, prepared):
    raw = api.post("/api/v1/keys", json={"name": "hashed"}).json()["key"]
    with prepared.read() as s:
        rows = [tuple(r) for r in s.execute(text("SELECT * FROM api_keys"))]
        stored = s.scalar(select(ApiKey).where(ApiKey.prefix == raw[:12]))
    assert stored.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert not any(raw in str(value) for row in rows for value in row)
    assert not any(TEST_API_KEY in str(value) for row in rows for value in row)


def test_a_new_key_works_with_its_scopes(api, client_for, default):
    raw = api.post("/api/v1/keys", json={"name": "reader", "scopes": ["read"]}).json()["key"]
    reader = client_for(raw)
    me = reader.get("/api/v1/me").json()
    assert me["project"]["id"] == default.project_id and me["key"]["scopes"] == ["read"]
    assert me["user_email"] == "admin@example.com"
    assert "key" not in me["key"]
    assert_error(reader.post("/api/v1/keys", json={"name": "escalate", "scopes": ["admin"]}), 403, "forbidden")


def test_default_scopes_and_duplicates(api):
    assert api.post("/api/v1/keys", json={"name": "default"}).json()["scopes"] == ["read", "write"]
    deduped = api.post("/api/v1/keys", json={"name": "dups", "scopes": ["admin", "read", "admin"]}).json()
    assert deduped["scopes"] == ["read", "admin"]


def test_revoke_is_idempotent(api, client_for):
    created = api.post("/api/v1/keys", json={"name": "to revoke"}).json()
    client = client_for(created["key"])
    assert client.get("/api/v1/me").status_code == 200
    first = api.delete(f"/api/v1/keys/{created['id']}")
    assert first.status_code == 200, first.text
    assert first.json()["revoked_at"] is not None and "key" not in first.json()
    second = api.delete(f"/api/v1/keys/{created['id']}")
    assert second.status_code == 200 and second.json()["revoked_at"] == first.json()["revoked_at"]
    revokes = audit_entries(api, action="key.revoke", object_id=created["id"])
    assert len(revokes) == 1
    assert revokes[0]["before"]["revoked_at"] is None and revokes[0]["after"]["revoked_at"] is not None
    error = assert_error(client.get("/api/v1/me"), 401, "unauthenticated")
    assert "revoked" in error["message"]
    assert api.get(f"/api/v1/keys/{created['id']}").json()["revoked_at"] == first.json()["revoked_at"]


def test_revoke_by_prefix(api):
    created = api.post("/api/v1/keys", json={"name": "by prefix"}).json()
    revoked = api.delete(f"/api/v1/keys/{created['prefix']}")
    assert revoked.status_code == 200 and revoked.json()["id"] == created["id"]


def test_unknown_key_id_answers_404(api, unchanged):
    assert_error(api.get("/api/v1/keys/key_doesnotexist00"), 404, "not_found")
    assert_error(api.delete("/api/v1/keys/key_doesnotexist00"), 404, "not_found")
    unchanged()


def test_expires_at_is_kept_and_naive_times_read_as_utc(api):
    when = (utcnow() + timedelta(days=3)).replace(microsecond=0)
    aware = api.post("/api/v1/keys", json={"name": "aware", "expires_at": when.isoformat()}).json()
    naive = api.post("/api/v1/keys", json={"name": "naive", "expires_at": when.replace(tzinfo=None).isoformat()}).json()
    for created in (aware, naive):
        assert datetime.fromisoformat(created["expires_at"]).astimezone(UTC) == when


@pytest.mark.parametrize(
    "expires_at",
    [
        lambda: (utcnow() - timedelta(minutes=5)).isoformat(),
        lambda: (utcnow() - timedelta(days=400)).replace(tzinfo=None).isoformat(),
        lambda: "2001-01-01T00:00:00Z",
    ],
)
def test_expires_at_in_the_past_answers_400(api, unchanged, expires_at):
    error = assert_error(api.post("/api/v1/keys", json={"name": "old", "expires_at": expires_at()}), 400, "invalid_input")
    assert "expires_at" in error["message"]
    unchanged()


@pytest.mark.parametrize(
    "body,field",
    [
        ({"name": "x", "scopes": []}, "scopes"),
        ({"name": "x", "scopes": ["superuser"]}, "scopes.0"),
        ({"name": "x", "scopes": "admin"}, "scopes"),
        ({"name": "x", "scopes": [1]}, "scopes.0"),
        ({"name": ""}, "name"),
        ({"name": "n" * 101}, "name"),
        ({"name": 5}, "name"),
        ({}, "name"),
        ({"name": "x", "expires_at": "next tuesday"}, "expires_at"),
        ({"name": "x", "key": "sw-choose-my-own-key-0123456789"}, "key"),
        ({"name": "x", "project_id": "prj_elsewhere00000"}, "project_id"),
    ],
)
def test_invalid_key_bodies_answer_422_naming_the_field(api, unchanged, body, field):
    error = assert_error(api.post("/api/v1/keys", json=body), 422, "validation_error")
    assert f"{field}:" in error["message"]
    assert field in {d["field"] for d in error["details"]}
    unchanged()


def test_blank_key_name_answers_400(api, unchanged):
    error = assert_error(api.post("/api/v1/keys", json={"name": "   "}), 400, "invalid_input")
    assert "name" in error["message"]
    unchanged()


def test_keys_of_a_project_never_leak_hashes(api, prepared):
    api.post("/api/v1/keys", json={"name": "one"})
    body = api.get("/api/v1/keys").text
    with prepared.read() as s:
        hashes = list(s.scalars(select(ApiKey.key_hash)))
    assert len(hashes) == 2
    assert not any(h in body for h in hashes)
    assert "key_hash" not in body


def test_rejected_key_requests_store_nothing(api, prepared):
    state = db_state(prepared)
    api.post("/api/v1/keys", json={"name": "x", "scopes": ["nope"]})
    api.post("/api/v1/keys", json={"name": "x", "expires_at": "2000-01-01T00:00:00Z"})
    api.post("/api/v1/keys", content=b'{"name": ', headers={"content-type": "application/json"})
    assert db_state(prepared) == state
