"""Who may call: 401 for missing/malformed/wrong/revoked/expired keys, 403 for too small a scope."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from stackwright.auth.models import ApiKey
from stackwright.core.clock import utcnow
from tests.auth.conftest import db_state
from tests.conftest import TEST_API_KEY, assert_error


def assert_401(response) -> dict:
    error = assert_error(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"] == "Bearer"
    assert "x-request-id" in response.headers
    return error


ROUTES = [
    ("GET", "/api/v1/me", None),
    ("GET", "/api/v1/projects", None),
    ("POST", "/api/v1/projects", {"name": "nope"}),
    ("GET", "/api/v1/users", None),
    ("POST", "/api/v1/users", {"email": "x@example.com"}),
    ("PATCH", "/api/v1/users/usr_x", {"role": "viewer"}),
    ("DELETE", "/api/v1/users/usr_x", None),
    ("GET", "/api/v1/keys", None),
    ("POST", "/api/v1/keys", {"name": "k"}),
    ("DELETE", "/api/v1/keys/key_x", None),
    ("GET", "/api/v1/audit", None),
]


@pytest.mark.parametrize("method,path,body", ROUTES)
def test_every_route_needs_a_key(anon, unchanged, method, path, body):
    assert_401(anon.request(method, path, json=body))
    unchanged()


@pytest.mark.parametrize(
    "header",
    [
        "",
        "Bearer",
        "Bearer ",
        f"Basic {TEST_API_KEY}",
        TEST_API_KEY,
        "Bearer not-a-stackwright-key-0123456789",
        "Bearer sw-",
        "Bearer sw-short",
        "Bearer sw-test-admin-key-0123456789abcdeX",  # same prefix, wrong secret
        "Bearer sw-completely-unknown-key-0123456789",
    ],
)
def test_malformed_or_wrong_keys_answer_401(client_for, unchanged, header):
    client = client_for(Authorization=header)
    error = assert_401(client.get("/api/v1/me"))
    assert "Bearer sw-" in error["message"] or "key" in error["message"].lower()
    assert_401(client.post("/api/v1/keys", json={"name": "sneaky"}))
    unchanged()


def test_the_scheme_is_case_insensitive(client_for):
    assert client_for(Authorization=f"bearer {TEST_API_KEY}").get("/api/v1/me").status_code == 200


def test_revoked_key_answers_401_at_once(api, client_for, make_key):
    key_id, raw = make_key(["admin"])
    client = client_for(raw)
    assert client.get("/api/v1/me").status_code == 200
    assert api.delete(f"/api/v1/keys/{key_id}").status_code == 200
    error = assert_401(client.get("/api/v1/me"))
    assert "revoked" in error["message"]
    assert_401(client.post("/api/v1/keys", json={"name": "after revoke"}))


def test_a_key_may_revoke_itself_and_is_locked_out(client_for, make_key):
    key_id, raw = make_key(["admin"])
    client = client_for(raw)
    assert client.delete(f"/api/v1/keys/{key_id}").json()["revoked_at"] is not None
    assert_401(client.get("/api/v1/keys"))


def test_expired_key_answers_401(prepared, client_for, make_key):
    key_id, raw = make_key(["admin"], expires_at=utcnow() + timedelta(days=1))
    client = client_for(raw)
    assert client.get("/api/v1/me").status_code == 200
    with prepared.write() as s:
        s.execute(update(ApiKey).where(ApiKey.id == key_id).values(expires_at=utcnow() - timedelta(seconds=1)))
    error = assert_401(client.get("/api/v1/me"))
    assert "expired" in error["message"]


def test_a_key_with_a_future_expiry_works(client_for, make_key):
    _, raw = make_key(["read"], expires_at=utcnow() + timedelta(hours=1))
    assert client_for(raw).get("/api/v1/projects").status_code == 200


def test_last_used_at_is_set_after_use(prepared, client_for, make_key):
    read_id, read_raw = make_key(["read"])
    admin_id, admin_raw = make_key(["admin"])

    def last_used(key_id: str):
        with prepared.read() as s:
            return s.scalar(select(ApiKey.last_used_at).where(ApiKey.id == key_id))

    assert last_used(read_id) is None and last_used(admin_id) is None
    assert client_for(read_raw).get("/api/v1/me").status_code == 200
    assert last_used(read_id) is not None
    # First use by a write request (on SQLite the request holds the write lock): still recorded.
    assert client_for(admin_raw).post("/api/v1/keys", json={"name": "made"}).status_code == 201
    assert last_used(admin_id) is not None
    listed = {k["id"]: k for k in client_for(admin_raw).get("/api/v1/keys").json()["data"]}
    assert listed[read_id]["last_used_at"] is not None


# -- scopes ----------------------------------------------------------------------------------------

ADMIN_ONLY = [
    ("POST", "/api/v1/keys", {"name": "escalate", "scopes": ["admin"]}),
    ("GET", "/api/v1/keys", None),
    ("GET", "/api/v1/keys/key_x", None),
    ("DELETE", "/api/v1/keys/key_x", None),
    ("POST", "/api/v1/users", {"email": "new@example.com", "role": "owner"}),
    ("PATCH", "/api/v1/users/usr_x", {"role": "viewer"}),
    ("DELETE", "/api/v1/users/usr_x", None),
    ("GET", "/api/v1/audit", None),
    ("POST", "/api/v1/projects", {"name": "by-small-key"}),
]


@pytest.mark.parametrize("scopes", [["read"], ["write"], ["read", "write"]])
@pytest.mark.parametrize("method,path,body", ADMIN_ONLY)
def test_admin_routes_answer_403_to_smaller_scopes(client_for, make_key, prepared, scopes, method, path, body):
    _, raw = make_key(scopes)
    state = db_state(prepared)
    error = assert_error(client_for(raw).request(method, path, json=body), 403, "forbidden")
    assert "'admin' scope" in error["message"]
    assert db_state(prepared) == state


def test_403_stores_nothing(client_for, make_key, prepared):
    _, read_raw = make_key(["read"])
    _, write_raw = make_key(["write"])
    before = db_state(prepared)
    assert_error(client_for(read_raw).post("/api/v1/keys", json={"name": "x"}), 403, "forbidden")
    assert_error(client_for(read_raw).post("/api/v1/users", json={"email": "r@example.com"}), 403, "forbidden")
    assert_error(client_for(write_raw).get("/api/v1/audit"), 403, "forbidden")
    assert_error(client_for(write_raw).get("/api/v1/keys"), 403, "forbidden")
    assert_error(client_for(write_raw).post("/api/v1/keys", json={"name": "x"}), 403, "forbidden")
    assert db_state(prepared) == before


@pytest.mark.parametrize("scopes", [["read"], ["write"], ["admin"]])
def test_read_routes_accept_any_scope(client_for, make_key, default, scopes):
    _, raw = make_key(scopes)
    client = client_for(raw)
    me = client.get("/api/v1/me").json()
    assert me["project"]["id"] == default.project_id and me["key"]["scopes"] == scopes
    assert [p["id"] for p in client.get("/api/v1/projects").json()["data"]] == [default.project_id]
    assert client.get(f"/api/v1/projects/{default.project_id}").status_code == 200
    members = client.get("/api/v1/users").json()["data"]
    assert [m["id"] for m in members] == [default.admin_user_id]
    assert client.get(f"/api/v1/users/{default.admin_user_id}").json()["role"] == "owner"


def test_only_an_instance_admins_key_creates_projects(client_for, make_key, api, prepared):
    created = api.post("/api/v1/users", json={"email": "plain@example.com", "password": "long enough", "role": "owner"})
    assert created.status_code == 201
    _, raw = make_key(["admin"], user_id=created.json()["id"])
    state = db_state(prepared)
    response = client_for(raw).post("/api/v1/projects", json={"name": "not-allowed"})
    error = assert_error(response, 403, "forbidden")
    assert "instance admin" in error["message"]
    _, keyless_user_raw = make_key(["admin"])  # a key with no user behind it
    state = db_state(prepared)
    assert_error(client_for(keyless_user_raw).post("/api/v1/projects", json={"name": "not-allowed"}), 403, "forbidden")
    assert db_state(prepared) == state
