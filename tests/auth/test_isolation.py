"""Every /api/v1 call is scoped to the key's project: another project's objects answer 404 and stay untouched."""

from __future__ import annotations

import pytest

from tests.auth.conftest import audit_entries, db_state
from tests.conftest import assert_error


def test_a_project_is_invisible_to_other_projects_keys(api, client_for, other, default):
    assert [p["id"] for p in api.get("/api/v1/projects").json()["data"]] == [default.project_id]
    error = assert_error(api.get(f"/api/v1/projects/{other.project_id}"), 404, "not_found")
    assert other.project_id in error["message"]
    theirs = client_for(other.key)
    assert [p["name"] for p in theirs.get("/api/v1/projects").json()["data"]] == ["other"]
    assert_error(theirs.get(f"/api/v1/projects/{default.project_id}"), 404, "not_found")
    assert theirs.get("/api/v1/me").json()["project"]["id"] == other.project_id


def test_unknown_and_foreign_ids_answer_the_same_404(api, other):
    foreign = api.get(f"/api/v1/projects/{other.project_id}")
    unknown = api.get("/api/v1/projects/prj_doesnotexist00")
    assert_error(foreign, 404, "not_found")
    assert_error(unknown, 404, "not_found")
    assert foreign.json()["error"]["message"].replace(other.project_id, "X") == unknown.json()["error"][
        "message"
    ].replace("prj_doesnotexist00", "X")


def test_members_of_other_projects_answer_404(api, other, prepared):
    state = db_state(prepared)
    ids = {m["id"] for m in api.get("/api/v1/users").json()["data"]}
    assert other.owner_id not in ids and other.member_id not in ids
    for user_id in (other.owner_id, other.member_id):
        assert_error(api.get(f"/api/v1/users/{user_id}"), 404, "not_found")
        assert_error(api.patch(f"/api/v1/users/{user_id}", json={"role": "viewer"}), 404, "not_found")
        assert_error(api.delete(f"/api/v1/users/{user_id}"), 404, "not_found")
    assert_error(api.get("/api/v1/users/usr_doesnotexist00"), 404, "not_found")
    assert db_state(prepared) == state


def test_keys_of_other_projects_answer_404(api, client_for, other, prepared):
    state = db_state(prepared)
    assert other.key_id not in {k["id"] for k in api.get("/api/v1/keys").json()["data"]}
    assert_error(api.get(f"/api/v1/keys/{other.key_id}"), 404, "not_found")
    assert_error(api.delete(f"/api/v1/keys/{other.key_id}"), 404, "not_found")
    # Nor by the key's prefix or its full secret.
    assert_error(api.get(f"/api/v1/keys/{other.key[:12]}"), 404, "not_found")
    assert_error(api.delete(f"/api/v1/keys/{other.key}"), 404, "not_found")
    assert db_state(prepared) == state
    assert client_for(other.key).get("/api/v1/me").status_code == 200  # still works


def test_a_member_of_both_projects_is_seen_with_each_projects_role(api, client_for, make_key, other):
    invited = api.post("/api/v1/users", json={"email": "member@other.example", "role": "viewer"})
    assert invited.status_code == 202, invited.text  # an existing account joins only by accepting
    _, member_key = make_key(["read", "write"], project_id=other.project_id, user_id=other.member_id)
    accepted = client_for(member_key).post(f"/api/v1/me/invitations/{invited.json()['id']}/accept")
    assert accepted.status_code == 201 and accepted.json()["role"] == "viewer"
    assert api.get(f"/api/v1/users/{other.member_id}").json()["role"] == "viewer"
    assert client_for(other.key).get(f"/api/v1/users/{other.member_id}").json()["role"] == "member"
    assert api.patch(f"/api/v1/users/{other.member_id}", json={"role": "admin"}).json()["role"] == "admin"
    assert client_for(other.key).get(f"/api/v1/users/{other.member_id}").json()["role"] == "member"
    assert api.delete(f"/api/v1/users/{other.member_id}").status_code == 204
    assert_error(api.get(f"/api/v1/users/{other.member_id}"), 404, "not_found")
    assert client_for(other.key).get(f"/api/v1/users/{other.member_id}").status_code == 200


def test_audit_entries_of_other_projects_are_not_visible(api, client_for, other, default):
    ours = audit_entries(api)
    theirs = audit_entries(client_for(other.key))
    assert ours and theirs
    assert {e["project_id"] for e in ours} == {default.project_id}
    assert {e["project_id"] for e in theirs} == {other.project_id}
    assert not {e["id"] for e in ours} & {e["id"] for e in theirs}
    assert audit_entries(api, object_id=other.key_id) == []
    assert audit_entries(api, object_id=other.project_id) == []


@pytest.mark.parametrize("path", ["/api/v1/projects", "/api/v1/users", "/api/v1/keys", "/api/v1/audit"])
def test_lists_hold_only_the_keys_project(api, client_for, other, default, path):
    def project_ids(client):
        rows = client.get(path).json()["data"]
        assert rows
        return {r.get("project_id") or r.get("id") for r in rows} if path != "/api/v1/users" else {r["id"] for r in rows}

    ours, theirs = project_ids(api), project_ids(client_for(other.key))
    assert not ours & theirs
    if path in ("/api/v1/keys", "/api/v1/audit"):
        assert ours == {default.project_id} and theirs == {other.project_id}


def test_a_new_projects_key_sees_only_the_new_project(api, client_for, default, prepared):
    created = api.post("/api/v1/projects", json={"name": "fresh", "description": "made by the API"})
    assert created.status_code == 201, created.text
    body = created.json()
    new_key = body["api_key"]["key"]
    assert new_key.startswith("sw-") and body["api_key"]["scopes"] == ["admin"]
    assert body["api_key"]["project_id"] == body["project"]["id"]
    client = client_for(new_key)
    assert [p["name"] for p in client.get("/api/v1/projects").json()["data"]] == ["fresh"]
    assert client.get("/api/v1/users").json()["data"] == []  # the creating admin is not a member; the key is the owner
    assert_error(client.get(f"/api/v1/projects/{default.project_id}"), 404, "not_found")
    assert_error(api.get(f"/api/v1/projects/{body['project']['id']}"), 404, "not_found")
    # The creating key's own project is unchanged and does not list the new project.
    assert [p["id"] for p in api.get("/api/v1/projects").json()["data"]] == [default.project_id]
    actions = [e["action"] for e in audit_entries(client)]
    assert set(actions) == {"project.create", "key.create"}
