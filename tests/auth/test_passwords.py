"""Passwords and the management rules every front end shares: changing your own password (the current one
required), an instance admin or the operator setting another's, the length rule, and the admin-scope check the services (not only the API's handlers) make for members, invitations and keys."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from stackwright.auth import invitations, keys, passwords, service
from stackwright.auth.actors import SYSTEM, Actor
from stackwright.auth.models import AuditEntry, User, WebSession
from stackwright.auth.security import verify_password
from stackwright.auth.web_sessions import sign_in
from stackwright.core.errors import Forbidden, InvalidInput, NotFound


def _user(db, email: str, *, is_admin: bool = False) -> str:
    with db.write() as s:
        return service.create_user(s, SYSTEM, email, "first password", is_admin=is_admin).id


def test_a_user_changes_their_own_password_with_the_current_one(prepared) -> None:
    user_id = _user(prepared, "pat@example.com")
    me = Actor(label="web:pat@example.com", scopes=("read",), user_id=user_id)
    keep, _ = sign_in(prepared, "pat@example.com", "first password", "a")
    sign_in(prepared, "pat@example.com", "first password", "b")
    with prepared.write() as s, pytest.raises(InvalidInput) as wrong:
        passwords.change_own_password(s, me, user_id, "not it", "second password")
    assert wrong.value.details == {"field": "current_password"}
    with prepared.write() as s, pytest.raises(InvalidInput) as short:
        passwords.change_own_password(s, me, user_id, "first password", "short")
    assert short.value.details == {"field": "new_password"} and "at least 8" in short.value.message
    with prepared.write() as s, pytest.raises(Forbidden):
        passwords.change_own_password(s, Actor(label="other", scopes=("admin",), user_id="usr_other"), user_id, "first password", "x" * 9)
    kept = sign_in(prepared, "pat@example.com", "first password", "c")[1].id
    with prepared.write() as s:
        passwords.change_own_password(s, me, user_id, "first password", "second password", keep_session_id=kept)
    with prepared.read() as s:
        user = s.get(User, user_id)
        assert user.password_hash.startswith("$argon2") and verify_password(user.password_hash, "second password")
        assert list(s.scalars(select(WebSession.id).where(WebSession.user_id == user_id))) == [kept]
        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "user.password_change"))
    assert entry.actor == "web:pat@example.com" and entry.after == {"email": "pat@example.com", "sessions_ended": 2}
    assert "second password" not in str(entry.after) and keep


def test_only_instance_admins_and_the_operator_set_other_passwords(prepared, default) -> None:
    target = _user(prepared, "target@example.com")
    plain = _user(prepared, "plain@example.com")
    instance_admin = _user(prepared, "root@example.com", is_admin=True)
    refused = [
        Actor(label="web:plain", project_id=default.project_id, scopes=("admin",), user_id=plain),  # a project owner, say
        Actor(label="key:project", project_id=default.project_id, scopes=("admin",), key_id="key_x"),  # a project's own key
    ]
    for actor in refused:
        with prepared.write() as s, pytest.raises(Forbidden):
            passwords.set_password(s, actor, "target@example.com", "a new password")
    with prepared.write() as s, pytest.raises(NotFound):
        passwords.set_password(s, SYSTEM, "nobody@example.com", "a new password")
    for actor in (Actor(label="web:root", scopes=("read",), user_id=instance_admin), SYSTEM):
        with prepared.write() as s:
            passwords.set_password(s, actor, "TARGET@example.com", "a new password")
    with prepared.read() as s:
        assert verify_password(s.get(User, target).password_hash, "a new password")
        assert [e.actor for e in s.scalars(select(AuditEntry).where(AuditEntry.action == "user.password_reset"))] == ["web:root", "system"]


def test_managing_members_invitations_and_keys_needs_the_admin_scope_in_the_service(prepared, default) -> None:
    """The rule behind the API's admin-scope dependency lives in the services, so the web UI obeys it too."""
    with prepared.write() as s:
        member = service.create_user(s, SYSTEM, "m@example.com", None)
        service.add_member(s, SYSTEM, default.project_id, member.id, "member")
        key, _ = keys.create_key(s, SYSTEM, default.project_id, "k", ["read"])
        member_id, key_id = member.id, key.id
    writer = Actor(label="web:m@example.com", project_id=default.project_id, scopes=("write",), user_id=member_id)
    attempts = [
        lambda s: service.set_member_role(s, writer, default.project_id, default.admin_user_id, "viewer"),
        lambda s: service.remove_member(s, writer, default.project_id, member_id),
        lambda s: service.add_member(s, writer, default.project_id, member_id, "viewer"),
        lambda s: invitations.invite(s, writer, default.project_id, "x@example.com", "viewer", 7),
        lambda s: keys.create_own_key(s, writer, default.project_id, "mine", ["read"]),
        lambda s: keys.revoke_key(s, writer, keys.find_key(s, key_id)),
    ]
    for attempt in attempts:
        with prepared.write() as s, pytest.raises(Forbidden, match="'admin' scope"):
            attempt(s)
    owner = Actor(label="web:owner", project_id=default.project_id, scopes=("admin",), user_id=default.admin_user_id)
    with prepared.write() as s:
        created, raw = keys.create_own_key(s, owner, default.project_id, "mine", ["admin"])
        assert created.user_id == default.admin_user_id and raw.startswith("sw-")


def test_the_audit_api_filters_by_actor_and_time(api, default) -> None:
    api.post("/api/v1/keys", json={"name": "one", "scopes": ["read"]})
    mine = api.get("/api/v1/audit", params={"actor": "key:sw-test-adm", "action": "key.create"}).json()["data"]
    assert [e["action"] for e in mine] == ["key.create"]
    assert api.get("/api/v1/audit", params={"actor": "nobody"}).json()["data"] == []
    assert api.get("/api/v1/audit", params={"until": "2000-01-01T00:00:00Z"}).json()["data"] == []
