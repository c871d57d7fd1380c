"""Tenancy: a new project's first key is the project's alone; existing accounts join by invitation, and an
invitation never tells a project admin whether an email has an account elsewhere; roles bound keys."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from stackwright.auth.models import Invitation, User
from stackwright.core.clock import utcnow
from tests.auth.conftest import audit_entries, db_state
from tests.conftest import TEST_ADMIN_EMAIL, assert_error

INVITATION_FIELDS = {"id", "project_id", "email", "role", "status", "invited_by", "created_at", "expires_at", "answered_at"}


@pytest.fixture
def fresh(api):
    """A project made through the API by the instance admin; answers (project id, its first key)."""
    body = api.post("/api/v1/projects", json={"name": "fresh"}).json()
    return body["project"]["id"], body["api_key"]["key"]


def _user_count(prepared) -> int:
    with prepared.read() as s:
        return s.scalar(select(func.count()).select_from(User))


# -- the first key of a new project ---------------------------------------------------------------


def test_a_new_projects_first_key_belongs_to_the_project_alone(api, client_for, default, fresh, prepared):
    project_id, raw = fresh
    first = client_for(raw)
    me = first.get("/api/v1/me").json()
    assert me["user_email"] is None and me["key"]["user_id"] is None and me["key"]["scopes"] == ["admin"]
    state = db_state(prepared)
    error = assert_error(first.post("/api/v1/projects", json={"name": "tenant-made"}), 403, "forbidden")
    assert "instance admin" in error["message"]
    assert db_state(prepared) == state
    # Its project only, and the creating admin is not made a member of the tenant's project.
    assert_error(first.get(f"/api/v1/projects/{default.project_id}"), 404, "not_found")
    assert_error(first.get(f"/api/v1/users/{default.admin_user_id}"), 404, "not_found")
    assert first.get("/api/v1/users").json()["data"] == []
    # It is the project's owner there: it invites, makes keys and reads the audit log.
    assert first.post("/api/v1/invitations", json={"email": "a@example.com", "role": "owner"}).status_code == 202
    assert first.post("/api/v1/keys", json={"name": "ci"}).json()["user_id"] is None
    assert {e["action"] for e in audit_entries(first)} >= {"project.create", "key.create", "invitation.create"}


def test_a_project_admin_cannot_create_projects(client_for, other, prepared):
    state = db_state(prepared)
    assert_error(client_for(other.key).post("/api/v1/projects", json={"name": "mine"}), 403, "forbidden")
    assert db_state(prepared) == state


# -- invitations never reveal accounts ------------------------------------------------------------


def _comparable(body: dict) -> dict:
    return {k: v for k, v in body.items() if k not in {"id", "email", "created_at", "expires_at"}}


@pytest.mark.parametrize("path", ["/api/v1/users", "/api/v1/invitations"])
def test_an_existing_email_answers_exactly_like_a_new_one(client_for, other, prepared, path):
    tenant = client_for(other.key)  # the owner of "other": a project admin, not an instance admin
    users_before = _user_count(prepared)
    existing = tenant.post(path, json={"email": TEST_ADMIN_EMAIL, "role": "viewer"})
    unknown = tenant.post(path, json={"email": "nobody@example.com", "role": "viewer"})
    assert existing.status_code == unknown.status_code == 202, (existing.text, unknown.text)
    assert set(existing.json()) == set(unknown.json()) == INVITATION_FIELDS
    assert _comparable(existing.json()) == _comparable(unknown.json())
    assert existing.json()["status"] == "pending" and existing.json()["project_id"] == other.project_id
    assert dict(existing.headers).keys() == dict(unknown.headers).keys()
    assert _user_count(prepared) == users_before  # no account was made for the unknown email
    # Nobody joined: the list of members did not change for either email.
    assert {m["email"] for m in tenant.get("/api/v1/users").json()["data"]} == {"owner@other.example", "member@other.example"}
    # A password is refused the same way for both (only an instance admin creates accounts).
    with_password = [
        tenant.post("/api/v1/users", json={"email": email, "password": "long enough pw"})
        for email in (TEST_ADMIN_EMAIL, "someone-else@example.com")
    ]
    errors = [assert_error(r, 403, "forbidden")["message"] for r in with_password]
    assert errors[0] == errors[1] and "instance admin" in errors[0]


def test_the_invited_user_sees_accepts_and_then_has_access(api, client_for, other, fresh, prepared):
    project_id, raw = fresh
    owner = client_for(raw)
    invitation = owner.post("/api/v1/invitations", json={"email": "Owner@Other.example", "role": "member"}).json()
    assert invitation["email"] == "owner@other.example"

    invited = client_for(other.key)  # a key of the invited user, from their own project
    mine = invited.get("/api/v1/me/invitations").json()["data"]
    assert [(i["id"], i["project"]["name"], i["role"]) for i in mine] == [(invitation["id"], "fresh", "member")]
    assert api.get("/api/v1/me/invitations").json()["data"] == []  # not the admin's

    accepted = invited.post(f"/api/v1/me/invitations/{invitation['id']}/accept")
    assert accepted.status_code == 201, accepted.text
    body = accepted.json()
    assert body["project"]["id"] == project_id and body["role"] == "member"
    assert body["api_key"]["scopes"] == ["read", "write"] and body["api_key"]["user_id"] == other.owner_id

    joined = client_for(body["api_key"]["key"])
    assert [p["id"] for p in joined.get("/api/v1/projects").json()["data"]] == [project_id]
    assert [(m["email"], m["role"]) for m in joined.get("/api/v1/users").json()["data"]] == [("owner@other.example", "member")]
    assert_error(joined.get("/api/v1/keys"), 403, "forbidden")  # a member's key: write at most
    assert invited.get("/api/v1/me/invitations").json()["data"] == []
    [listed] = owner.get("/api/v1/invitations").json()["data"]
    assert listed["status"] == "accepted" and listed["answered_at"] is not None

    actions = [e["action"] for e in audit_entries(owner)]
    assert {"invitation.create", "invitation.accept", "member.add", "key.create"} <= set(actions)
    accept_entry = audit_entries(owner, action="invitation.accept")[0]
    assert accept_entry["before"]["status"] == "pending" and accept_entry["after"]["status"] == "accepted"
    error = assert_error(invited.post(f"/api/v1/me/invitations/{invitation['id']}/accept"), 409, "conflict")
    assert "already accepted" in error["message"]


def test_an_accepted_key_is_never_stronger_than_the_accepting_key(client_for, make_key, other, fresh):
    _, raw = fresh
    invitation = client_for(raw).post("/api/v1/invitations", json={"email": "owner@other.example", "role": "admin"}).json()
    _, read_raw = make_key(["read"], project_id=other.project_id, user_id=other.owner_id)
    body = client_for(read_raw).post(f"/api/v1/me/invitations/{invitation['id']}/accept").json()
    assert body["role"] == "admin" and body["api_key"]["scopes"] == ["read"]
    assert body["api_key"]["project_id"] != other.project_id


def test_decline_then_the_invitation_is_closed(client_for, other, fresh):
    _, raw = fresh
    owner, invited = client_for(raw), client_for(other.key)
    invitation = owner.post("/api/v1/invitations", json={"email": "owner@other.example"}).json()
    declined = invited.post(f"/api/v1/me/invitations/{invitation['id']}/decline")
    assert declined.status_code == 200 and declined.json()["status"] == "declined"
    assert "already declined" in assert_error(invited.post(f"/api/v1/me/invitations/{invitation['id']}/accept"), 409)["message"]
    assert owner.get("/api/v1/users").json()["data"] == []
    assert audit_entries(owner, action="invitation.decline")[0]["object_id"] == invitation["id"]
    # Declined, the email may be invited again.
    assert owner.post("/api/v1/invitations", json={"email": "owner@other.example"}).status_code == 202


def test_bad_answers_are_clear_4xx_and_change_nothing(client_for, make_key, other, fresh, prepared):
    _, raw = fresh
    owner = client_for(raw)
    invitation = owner.post("/api/v1/invitations", json={"email": "owner@other.example"}).json()
    _, someone_else = make_key(["read", "write"], project_id=other.project_id, user_id=other.member_id)
    state = db_state(prepared)
    for verb in ("accept", "decline"):
        unknown = assert_error(client_for(other.key).post(f"/api/v1/me/invitations/inv_nope/{verb}"), 404, "not_found")
        assert "inv_nope" in unknown["message"]
        theirs = assert_error(client_for(someone_else).post(f"/api/v1/me/invitations/{invitation['id']}/{verb}"), 404, "not_found")
        assert invitation["id"] in theirs["message"]  # someone else's invitation looks exactly like a missing one
        keyless = assert_error(owner.post(f"/api/v1/me/invitations/{invitation['id']}/{verb}"), 403, "forbidden")
        assert "belongs to a project" in keyless["message"]
    assert_error(owner.get("/api/v1/me/invitations"), 403, "forbidden")
    assert db_state(prepared) == state


def test_expired_and_revoked_invitations_cannot_be_answered(client_for, other, fresh, prepared):
    _, raw = fresh
    owner, invited = client_for(raw), client_for(other.key)
    late = owner.post("/api/v1/invitations", json={"email": "owner@other.example"}).json()
    with prepared.write() as s:  # time passes: the invitation's lifetime ends
        s.execute(update(Invitation).where(Invitation.id == late["id"]).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert invited.get("/api/v1/me/invitations").json()["data"] == []
    error = assert_error(invited.post(f"/api/v1/me/invitations/{late['id']}/accept"), 409, "conflict")
    assert "expired" in error["message"] and "new invitation" in error["message"]
    assert owner.get("/api/v1/invitations").json()["data"][0]["status"] == "expired"

    again = owner.post("/api/v1/invitations", json={"email": "owner@other.example"}).json()  # the expired one is no obstacle
    revoked = owner.delete(f"/api/v1/invitations/{again['id']}")
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert owner.delete(f"/api/v1/invitations/{again['id']}").json() == revoked.json()  # idempotent
    assert len(audit_entries(owner, action="invitation.revoke")) == 1
    error = assert_error(invited.post(f"/api/v1/me/invitations/{again['id']}/accept"), 409, "conflict")
    assert "already revoked" in error["message"]


def test_invitation_management_is_scoped_and_checked(api, client_for, other, fresh, prepared):
    _, raw = fresh
    owner = client_for(raw)
    invitation = owner.post("/api/v1/invitations", json={"email": "x@example.com"}).json()
    state = db_state(prepared)
    assert_error(api.delete(f"/api/v1/invitations/{invitation['id']}"), 404, "not_found")  # another project's
    assert_error(owner.delete("/api/v1/invitations/inv_unknown"), 404, "not_found")
    assert "pending invitation" in assert_error(owner.post("/api/v1/invitations", json={"email": "X@example.com"}), 409)["message"]
    assert_error(api.post("/api/v1/invitations", json={"email": TEST_ADMIN_EMAIL}), 409, "conflict")  # already a member here
    assert_error(owner.post("/api/v1/invitations", json={"email": "not an email"}), 400, "invalid_input")
    assert_error(owner.post("/api/v1/invitations", json={"email": "y@example.com", "role": "god"}), 422, "validation_error")
    assert_error(owner.post("/api/v1/invitations", json={"email": "y@example.com", "token": "x"}), 422, "validation_error")
    assert db_state(prepared) == state
    assert api.get("/api/v1/invitations").json()["data"] == []


def test_an_instance_admin_inviting_an_existing_account_also_needs_its_consent(api, other, prepared):
    response = api.post("/api/v1/users", json={"email": "member@other.example", "role": "viewer"})
    assert response.status_code == 202 and set(response.json()) == INVITATION_FIELDS
    assert other.member_id not in {m["id"] for m in api.get("/api/v1/users").json()["data"]}


# -- roles bound keys and grants ------------------------------------------------------------------


def _member_with_admin_key(api, make_key, email: str, role: str) -> tuple[str, str]:
    created = api.post("/api/v1/users", json={"email": email, "password": "long enough pw", "role": role}).json()
    return created["id"], make_key(["admin"], user_id=created["id"])[1]


def test_a_key_never_acts_above_its_users_current_role(api, client_for, make_key):
    user_id, raw = _member_with_admin_key(api, make_key, "demoted@example.com", "admin")
    key = client_for(raw)
    assert key.get("/api/v1/keys").status_code == 200
    assert api.patch(f"/api/v1/users/{user_id}", json={"role": "viewer"}).status_code == 200
    assert_error(key.get("/api/v1/keys"), 403, "forbidden")
    assert_error(key.post("/api/v1/invitations", json={"email": "z@example.com"}), 403, "forbidden")
    assert key.get("/api/v1/users").status_code == 200  # read still works: viewer
    assert key.get("/api/v1/me").json()["key"]["scopes"] == ["admin"]  # the stored key is unchanged; its use is bounded


def test_key_creation_never_exceeds_the_users_role(api, make_key):
    from stackwright.core.errors import Forbidden

    viewer = api.post("/api/v1/users", json={"email": "viewer@example.com", "password": "long enough pw", "role": "viewer"}).json()
    assert make_key(["read"], user_id=viewer["id"])
    for scopes in (["write"], ["admin"], ["read", "admin"]):
        with pytest.raises(Forbidden, match="viewer"):
            make_key(scopes, user_id=viewer["id"])


def test_nobody_grants_or_changes_a_role_above_their_own(api, client_for, make_key, prepared):
    admin_id, raw = _member_with_admin_key(api, make_key, "admin@team.example", "admin")
    owner2 = api.post("/api/v1/users", json={"email": "owner2@example.com", "password": "long enough pw", "role": "owner"}).json()
    peer = api.post("/api/v1/users", json={"email": "peer@example.com", "password": "long enough pw", "role": "member"}).json()
    key = client_for(raw)
    state = db_state(prepared)
    for response in (
        key.post("/api/v1/invitations", json={"email": "boss@example.com", "role": "owner"}),
        key.patch(f"/api/v1/users/{peer['id']}", json={"role": "owner"}),
        key.patch(f"/api/v1/users/{owner2['id']}", json={"role": "viewer"}),
        key.delete(f"/api/v1/users/{owner2['id']}"),
    ):
        assert "below 'owner'" in assert_error(response, 403, "forbidden")["message"]
    assert db_state(prepared) == state
    assert key.patch(f"/api/v1/users/{peer['id']}", json={"role": "admin"}).json()["role"] == "admin"
    assert key.post("/api/v1/invitations", json={"email": "helper@example.com", "role": "admin"}).status_code == 202
