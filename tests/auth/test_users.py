"""Members through the API: add new users (instance admin), invite existing ones, change roles, remove; the last owner stays."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from stackwright.auth import keys
from stackwright.auth.actors import SYSTEM
from stackwright.auth.models import User
from stackwright.auth.security import verify_password
from tests.auth.conftest import audit_entries, db_state
from tests.conftest import assert_error

MEMBER_FIELDS = {"id", "email", "role", "is_admin", "created_at", "joined_at"}


def add(api, **body):
    return api.post("/api/v1/users", json=body)


def test_add_a_new_user(api, prepared, default):
    response = add(api, email=" Ada@Example.COM ", password="analytical engine", role="admin")
    assert response.status_code == 201, response.text
    member = response.json()
    assert set(member) == MEMBER_FIELDS
    assert member["email"] == "ada@example.com" and member["role"] == "admin" and member["is_admin"] is False
    assert "password" not in response.text
    with prepared.read() as s:
        user = s.scalar(select(User).where(User.email == "ada@example.com"))
    assert user.password_hash and user.password_hash != "analytical engine"
    assert verify_password(user.password_hash, "analytical engine")
    listed = api.get("/api/v1/users").json()["data"]
    assert [m["email"] for m in listed] == ["admin@example.com", "ada@example.com"]
    assert api.get(f"/api/v1/users/{member['id']}").json() == member


def test_add_a_new_user_without_password_defaults_to_member(api, prepared):
    member = add(api, email="nopass@example.com").json()
    assert member["role"] == "member"
    with prepared.read() as s:
        assert s.scalar(select(User.password_hash).where(User.id == member["id"])) is None


def test_an_existing_user_of_another_project_is_invited_not_added(api, other, prepared):
    with prepared.read() as s:
        users_before = len(list(s.scalars(select(User))))
    response = add(api, email="OWNER@other.example", role="viewer")
    assert response.status_code == 202, response.text
    assert response.json()["email"] == "owner@other.example" and response.json()["status"] == "pending"
    with prepared.read() as s:
        assert len(list(s.scalars(select(User)))) == users_before
    assert other.owner_id not in {m["id"] for m in api.get("/api/v1/users").json()["data"]}
    entries = audit_entries(api, object_id=response.json()["id"])
    assert [e["action"] for e in entries] == ["invitation.create"]  # no user.create, no member.add


def test_a_password_for_an_existing_user_answers_409(api, other, unchanged):
    error = assert_error(add(api, email="owner@other.example", password="new password!"), 409, "conflict")
    assert "already exists" in error["message"]
    assert_error(add(api, email="owner@other.example", password="other-password"), 409, "conflict")  # even the same one
    unchanged()  # includes the password hash: it was not replaced


def test_adding_a_member_twice_answers_409(api, prepared):
    assert add(api, email="twice@example.com").status_code == 201
    state = db_state(prepared)
    error = assert_error(add(api, email="twice@example.com"), 409, "conflict")
    assert "already a member" in error["message"]
    assert_error(add(api, email="ADMIN@example.com", role="viewer"), 409, "conflict")
    assert db_state(prepared) == state


@pytest.mark.parametrize("email", ["not-an-email", "a@b", "two@@example.com", "sp ace@example.com", "x@y."])
def test_invalid_emails_answer_400(api, unchanged, email):
    error = assert_error(add(api, email=email), 400, "invalid_input")
    assert "email" in error["message"]
    unchanged()


@pytest.mark.parametrize(
    "body,field",
    [
        ({"email": "r@example.com", "role": "superuser"}, "role"),
        ({"email": "r@example.com", "role": "Owner"}, "role"),
        ({"email": "r@example.com", "password": "short"}, "password"),
        ({"email": "r@example.com", "password": 12345678}, "password"),
        ({"email": "r@example.com", "is_admin": True}, "is_admin"),
        ({"email": ["r@example.com"]}, "email"),
        ({"email": "ab"}, "email"),
        ({"role": "member"}, "email"),
    ],
)
def test_invalid_user_bodies_answer_422_naming_the_field(api, unchanged, body, field):
    error = assert_error(add(api, **body), 422, "validation_error")
    assert f"{field}:" in error["message"]
    unchanged()


def test_change_a_role(api):
    member = add(api, email="promote@example.com", role="viewer").json()
    changed = api.patch(f"/api/v1/users/{member['id']}", json={"role": "owner"})
    assert changed.status_code == 200 and changed.json()["role"] == "owner"
    assert api.get(f"/api/v1/users/{member['id']}").json()["role"] == "owner"
    entry = audit_entries(api, action="member.update", object_id=member["id"])[0]
    assert entry["before"]["role"] == "viewer" and entry["after"]["role"] == "owner"
    same = api.patch(f"/api/v1/users/{member['id']}", json={"role": "owner"})
    assert same.status_code == 200
    assert len(audit_entries(api, action="member.update", object_id=member["id"])) == 1  # no-op is not a change


@pytest.mark.parametrize("body,status", [({"role": "god"}, 422), ({}, 422), ({"role": "admin", "email": "x@y.z"}, 422)])
def test_invalid_role_changes(api, prepared, body, status):
    member = add(api, email="rolecheck@example.com").json()
    state = db_state(prepared)
    assert_error(api.patch(f"/api/v1/users/{member['id']}", json=body), status, "validation_error")
    assert db_state(prepared) == state


def test_the_last_owner_cannot_be_demoted_or_removed(api, default, unchanged):
    owner = default.admin_user_id
    for role in ("admin", "member", "viewer"):
        error = assert_error(api.patch(f"/api/v1/users/{owner}", json={"role": role}), 409, "conflict")
        assert "last owner" in error["message"]
    assert "last owner" in assert_error(api.delete(f"/api/v1/users/{owner}"), 409, "conflict")["message"]
    unchanged()
    assert api.get(f"/api/v1/users/{owner}").json()["role"] == "owner"


def test_an_owner_can_step_down_once_there_is_another(api, client_for, make_key, default):
    second = add(api, email="second-owner@example.com", role="owner").json()
    assert api.patch(f"/api/v1/users/{default.admin_user_id}", json={"role": "admin"}).json()["role"] == "admin"
    # Stepped down, the admin's key cannot touch an owner nor promote itself back.
    assert_error(api.delete(f"/api/v1/users/{second['id']}"), 403, "forbidden")
    assert_error(api.patch(f"/api/v1/users/{default.admin_user_id}", json={"role": "owner"}), 403, "forbidden")
    second_owner = client_for(make_key(["admin"], user_id=second["id"])[1])
    assert_error(second_owner.delete(f"/api/v1/users/{second['id']}"), 409, "conflict")  # now the last owner
    assert second_owner.patch(f"/api/v1/users/{default.admin_user_id}", json={"role": "owner"}).status_code == 200
    assert api.delete(f"/api/v1/users/{second['id']}").status_code == 204


def test_remove_a_member(api, prepared):
    member = add(api, email="leaver@example.com", role="member").json()
    response = api.delete(f"/api/v1/users/{member['id']}")
    assert response.status_code == 204 and response.content == b""
    assert_error(api.get(f"/api/v1/users/{member['id']}"), 404, "not_found")
    assert_error(api.delete(f"/api/v1/users/{member['id']}"), 404, "not_found")
    assert member["id"] not in {m["id"] for m in api.get("/api/v1/users").json()["data"]}
    with prepared.read() as s:  # the user account itself remains (it may belong to other projects)
        assert s.get(User, member["id"]) is not None
    entry = audit_entries(api, action="member.remove", object_id=member["id"])[0]
    assert entry["before"]["role"] == "member" and entry["after"] is None
    invited_back = add(api, email="leaver@example.com", role="viewer")  # the account exists: it must accept again
    assert invited_back.status_code == 202 and invited_back.json()["status"] == "pending"


def test_unknown_member_answers_404(api, unchanged):
    for response in (
        api.get("/api/v1/users/usr_nobody0000000"),
        api.patch("/api/v1/users/usr_nobody0000000", json={"role": "viewer"}),
        api.delete("/api/v1/users/usr_nobody0000000"),
    ):
        assert_error(response, 404, "not_found")
    unchanged()


def test_removing_a_member_revokes_their_keys_in_that_project(api, prepared):
    member = add(api, email="keyholder@example.com", role="admin").json()
    with prepared.write() as s:
        key, raw = keys.create_key(s, SYSTEM, member_project(api), "theirs", ["read"], user_id=member["id"])
    own = httpx.Client(base_url=api.base_url, transport=api._transport, headers={"Authorization": f"Bearer {raw}"})
    assert own.get("/api/v1/me").status_code == 200
    assert api.delete(f"/api/v1/users/{member['id']}").status_code == 204
    assert_error(own.get("/api/v1/me"), 401, "unauthenticated")
    assert audit_entries(api, action="key.revoke", object_id=key.id)
    assert api.get("/api/v1/me").status_code == 200  # the caller's own key is untouched


def member_project(api) -> str:
    return api.get("/api/v1/me").json()["project"]["id"]
