"""Every change through the API leaves one audit entry; the log filters, pages newest first, and holds no secrets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from stackwright.auth.models import ApiKey, User
from stackwright.core.clock import utcnow
from tests.auth.conftest import audit_entries
from tests.conftest import TEST_ADMIN_PASSWORD, TEST_API_KEY, assert_error

ENTRY_FIELDS = {"id", "project_id", "actor", "action", "object_type", "object_id", "before", "after", "request_id", "created_at"}


def test_every_change_writes_one_entry(api, default):
    baseline = {e["id"] for e in audit_entries(api)}
    started = utcnow() - timedelta(seconds=1)

    def new_entries(response, request_id):
        assert response.status_code in (200, 201, 204), response.text
        entries = [e for e in audit_entries(api) if e["id"] not in baseline]
        baseline.update(e["id"] for e in entries)
        for entry in entries:
            assert set(entry) == ENTRY_FIELDS
            assert entry["request_id"] == request_id
            assert entry["project_id"] == default.project_id
            assert entry["actor"].startswith("key:sw-test-adm") and "bootstrap admin key" in entry["actor"]
            assert started <= datetime.fromisoformat(entry["created_at"]) <= utcnow() + timedelta(seconds=1)
        return [(e["action"], e["object_type"], e["object_id"]) for e in entries]

    r = api.post("/api/v1/users", json={"email": "new@example.com", "password": "secret-pass"}, headers={"x-request-id": "r1"})
    user_id = r.json()["id"]
    assert new_entries(r, "r1") == [("member.add", "user", user_id), ("user.create", "user", user_id)]

    r = api.patch(f"/api/v1/users/{user_id}", json={"role": "viewer"}, headers={"x-request-id": "r2"})
    assert new_entries(r, "r2") == [("member.update", "user", user_id)]

    r = api.post("/api/v1/keys", json={"name": "audited"}, headers={"x-request-id": "r3"})
    key_id = r.json()["id"]
    assert new_entries(r, "r3") == [("key.create", "api_key", key_id)]

    r = api.delete(f"/api/v1/keys/{key_id}", headers={"x-request-id": "r4"})
    assert new_entries(r, "r4") == [("key.revoke", "api_key", key_id)]

    r = api.delete(f"/api/v1/users/{user_id}", headers={"x-request-id": "r5"})
    assert new_entries(r, "r5") == [("member.remove", "user", user_id)]

    # Reads and refused changes write nothing.
    api.get("/api/v1/users")
    api.get("/api/v1/keys")
    api.patch(f"/api/v1/users/{default.admin_user_id}", json={"role": "viewer"})
    assert [e for e in audit_entries(api) if e["id"] not in baseline] == []


def test_before_and_after_describe_the_change(api):
    created = api.post("/api/v1/keys", json={"name": "snap", "scopes": ["read"]}).json()
    entry = audit_entries(api, object_id=created["id"])[0]
    assert entry["before"] is None
    assert entry["after"]["id"] == created["id"] and entry["after"]["name"] == "snap"
    assert entry["after"]["scopes"] == ["read"] and entry["after"]["project_id"] == created["project_id"]


def test_project_creation_is_audited_in_the_new_project(api, client_for):
    body = api.post("/api/v1/projects", json={"name": "audited"}, headers={"x-request-id": "mk-proj"}).json()
    entries = audit_entries(client_for(body["api_key"]["key"]))
    assert {(e["action"], e["object_id"]) for e in entries} == {
        ("project.create", body["project"]["id"]),
        ("key.create", body["api_key"]["id"]),
    }
    assert body["api_key"]["user_id"] is None  # the project's own key, not the creating admin's
    assert {e["request_id"] for e in entries} == {"mk-proj"}
    assert entries[-1]["after"]["name"] == "audited"


def test_audit_entries_hold_no_secrets(api, prepared):
    new_key = api.post("/api/v1/keys", json={"name": "secret"}).json()["key"]
    api.post("/api/v1/users", json={"email": "pw@example.com", "password": "hunter2hunter2"})
    api.delete(f"/api/v1/keys/{new_key[:12]}")
    body = api.get("/api/v1/audit", params={"limit": 500}).text
    with prepared.read() as s:
        secrets = [*s.scalars(select(ApiKey.key_hash)), *filter(None, s.scalars(select(User.password_hash)))]
    assert len(secrets) == 4
    for secret in [new_key, TEST_API_KEY, "hunter2hunter2", TEST_ADMIN_PASSWORD, *secrets]:
        assert secret not in body
    assert "key_hash" not in body and "password_hash" not in body and '"password"' not in body


def test_newest_first_with_cursor_pages(api):
    for i in range(7):
        assert api.post("/api/v1/keys", json={"name": f"k{i}"}).status_code == 201
    everything = audit_entries(api)
    ids = [e["id"] for e in everything]
    assert ids == sorted(ids, reverse=True)
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = api.get("/api/v1/audit", params=params).json()
        pages += 1
        assert len(page["data"]) <= 3
        seen += [e["id"] for e in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids and pages == -(-len(ids) // 3)


def test_filters(api, default):
    key = api.post("/api/v1/keys", json={"name": "filtered"}).json()
    api.delete(f"/api/v1/keys/{key['id']}")
    api.post("/api/v1/users", json={"email": "f@example.com"})
    assert {e["action"] for e in audit_entries(api, action="key.revoke")} == {"key.revoke"}
    assert [e["action"] for e in audit_entries(api, object_id=key["id"])] == ["key.revoke", "key.create"]
    assert {e["object_type"] for e in audit_entries(api, object_type="user")} == {"user"}
    assert audit_entries(api, action="key.revoke", object_type="user") == []
    assert audit_entries(api, action="no.such.action") == []
    future = (utcnow() + timedelta(hours=1)).isoformat()
    assert audit_entries(api, since=future) == []
    past = (utcnow() - timedelta(hours=1)).isoformat()
    assert len(audit_entries(api, since=past)) == len(audit_entries(api))


def test_since_splits_old_from_new(api, prepared):
    from sqlalchemy import update

    from stackwright.auth.models import AuditEntry

    with prepared.write() as s:  # age the bootstrap entries by a day
        s.execute(update(AuditEntry).values(created_at=utcnow() - timedelta(days=1)))
    api.post("/api/v1/keys", json={"name": "recent"})
    cut = (utcnow() - timedelta(hours=1)).astimezone(UTC).replace(tzinfo=None).isoformat()  # naive = UTC
    assert [e["action"] for e in audit_entries(api, since=cut)] == ["key.create"]


@pytest.mark.parametrize("cursor", ["garbage", "a", "a-1", "b12", "a1.5", "a²", "a" + "9" * 40, "a9223372036854775808", " a1"])
def test_bad_cursor_answers_400(api, cursor):
    error = assert_error(api.get("/api/v1/audit", params={"cursor": cursor}), 400, "invalid_input")
    assert "Cursor" in error["message"] and "next_cursor" in error["message"]


def test_largest_cursor_is_accepted(api):
    page = api.get("/api/v1/audit", params={"cursor": "a9223372036854775807"}).json()
    assert page["data"] == audit_entries(api)[:50]


@pytest.mark.parametrize(
    "params,field",
    [({"limit": 0}, "limit"), ({"limit": 501}, "limit"), ({"limit": "many"}, "limit"), ({"since": "yesterday"}, "since")],
)
def test_bad_audit_query_answers_422(api, params, field):
    error = assert_error(api.get("/api/v1/audit", params=params), 422, "validation_error")
    assert f"{field}:" in error["message"]
    assert error["details"][0]["in"] == "query"
