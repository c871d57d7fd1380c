"""The settings pages: members and invitations, API keys (the secret shown once), the audit log, passwords. Per
role (viewer, member, admin, owner): what each sees and may do, forged posts, CSRF, escaping and project isolation."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import func, select

from stackwright.auth import keys, service
from stackwright.auth.actors import SYSTEM
from stackwright.auth.models import ApiKey, AuditEntry, Invitation, Membership, WebSession
from tests.conftest import TEST_ADMIN_EMAIL
from tests.ui.conftest import csrf_of, sign_in
from tests.ui.test_sign_in import assert_page

PASSWORD = "a long password"
SCRIPT = "<script>alert('x')</script>"
FORMS = ('action="/ui/settings/members/invite"', "/role\"", "/remove\"", 'action="/ui/settings/keys"', "/revoke\"")


def add_user(db, email: str, role: str | None, project: str = "default", *, is_admin: bool = False) -> str:
    with db.write() as session:
        user = service.create_user(session, SYSTEM, email, PASSWORD, is_admin=is_admin)
        if role:
            service.add_member(session, SYSTEM, service.find_project(session, project).id, user.id, role)
        return user.id


def signed_in_as(app, email: str) -> httpx.Client:
    from stackwright.sdk.transport import InProcessTransport

    client = httpx.Client(transport=InProcessTransport(app), base_url="http://stackwright.test", headers={"Accept": "text/html"})
    assert sign_in(client, email, PASSWORD).status_code == 303
    return client


def count(db, model, *where) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def role_in_default(db, user_id: str) -> str | None:
    with db.read() as session:
        return keys.role_of(session, service.find_project(session, "default").id, user_id)


@pytest.fixture
def team(app, prepared) -> dict[str, httpx.Client]:
    """A signed-in browser per role in the default project (the test admin is its owner)."""
    clients = {}
    for role in ("viewer", "member", "admin", "owner"):
        add_user(prepared, f"{role}.user@example.com", role)
        clients[role] = signed_in_as(app, f"{role}.user@example.com")
    yield clients
    for client in clients.values():
        client.close()


def test_every_role_sees_the_settings_pages_and_only_the_forms_it_may_submit(team, prepared) -> None:
    for role, client in team.items():
        page = assert_page(client.get("/ui/settings/members"), 200)
        assert re.search(r'<a href="/ui/settings"[^>]*>Settings</a>', page), role
        assert "viewer.user@example.com" in page and "owner.user@example.com" in page
        keys_page = assert_page(client.get("/ui/settings/keys"), 200)
        audit_page = assert_page(client.get("/ui/settings/audit"), 200)
        assert_page(client.get("/ui/settings/password"), 200)
        if role in ("viewer", "member"):
            assert not [f for f in FORMS if f in page + keys_page], role  # read-only: no form that would fail
            assert "data-read-only" in keys_page and "data-read-only" in audit_page
            assert "<table" not in keys_page
        else:
            assert 'action="/ui/settings/members/invite"' in page and 'action="/ui/settings/keys"' in keys_page
            assert "member.add" in audit_page
    admin_page = team["admin"].get("/ui/settings/members").text
    owner_row = re.search(r'<tr data-member="[^"]+">\s*<td>owner.user@example.com.*?</tr>', admin_page, re.S).group(0)
    assert "/role" not in owner_row and "an owner manages this role" in owner_row  # admins do not manage owners
    assert '<option value="owner"' not in admin_page  # nor grant it
    assert '<option value="owner"' in team["owner"].get("/ui/settings/members").text


@pytest.mark.parametrize("role", ["viewer", "member"])
def test_forged_posts_of_viewers_and_members_answer_403_and_change_nothing(team, prepared, role) -> None:
    client = team[role]
    token = csrf_of(client.get("/ui/settings/password"))
    target = add_user(prepared, "target@example.com", "viewer")
    with prepared.write() as session:
        key, _ = keys.create_key(session, SYSTEM, service.find_project(session, "default").id, "victim", ["read"])
    before = count(prepared, AuditEntry)
    posts = {
        "/ui/settings/members/invite": {"email": "new@example.com", "role": "viewer"},
        f"/ui/settings/members/{target}/role": {"role": "member"},
        f"/ui/settings/members/{target}/remove": {},
        "/ui/settings/keys": {"name": "mine", "scope": "read"},
        f"/ui/settings/keys/{key.id}/revoke": {},
        "/ui/settings/password-reset": {"email": "target@example.com", "new_password": "another long one"},
    }
    for url, data in posts.items():
        assert_page(client.post(url, data={"csrf_token": token, **data}), 403)
    assert count(prepared, AuditEntry) == before
    assert role_in_default(prepared, target) == "viewer"
    assert count(prepared, ApiKey, ApiKey.revoked_at.is_not(None)) == 0 and count(prepared, Invitation) == 0


def test_a_form_without_the_right_csrf_token_is_a_403_page(team, prepared) -> None:
    target = add_user(prepared, "target@example.com", "viewer")
    for url in ("/ui/settings/members/invite", f"/ui/settings/members/{target}/role", f"/ui/settings/members/{target}/remove",
                "/ui/settings/keys", "/ui/settings/password", "/ui/settings/password-reset"):  # fmt: skip
        for data in ({}, {"csrf_token": "forged"}):
            assert "CSRF" in assert_page(team["owner"].post(url, data={**data, "role": "admin", "name": "k", "scope": "read"}), 403)
    assert role_in_default(prepared, target) == "viewer" and count(prepared, ApiKey, ApiKey.name == "k") == 0


def test_an_admin_invites_changes_roles_and_removes_members_within_their_own_role(team, prepared) -> None:
    admin = team["admin"]
    token = csrf_of(admin.get("/ui/settings/members"))
    done = admin.post("/ui/settings/members/invite", data={"csrf_token": token, "email": "new@example.com", "role": "member"})
    assert done.status_code == 303
    page = assert_page(admin.get(done.headers["location"]), 200)
    assert "Invitation sent" in page and re.search(r"<td>new@example.com</td><td>member</td>", page)
    again = assert_page(admin.post("/ui/settings/members/invite", data={"csrf_token": token, "email": "new@example.com", "role": "member"}), 409)
    assert re.search(r'data-error-for="email">[^<]*pending invitation', again)
    bad = assert_page(admin.post("/ui/settings/members/invite", data={"csrf_token": token, "email": SCRIPT, "role": "member"}), 400)
    assert 'data-error-for="email"' in bad and "<script>alert" not in bad and "&lt;script&gt;" in bad
    assert "owner" in assert_page(admin.post("/ui/settings/members/invite", data={"csrf_token": token, "email": "x@example.com", "role": "owner"}), 403)

    with prepared.read() as session:
        ids = {u.email: u.id for u in service.list_users(session)}
    assert admin.post(f"/ui/settings/members/{ids['member.user@example.com']}/role", data={"csrf_token": token, "role": "viewer"}).status_code == 303
    assert role_in_default(prepared, ids["member.user@example.com"]) == "viewer"
    assert_page(admin.post(f"/ui/settings/members/{ids['owner.user@example.com']}/role", data={"csrf_token": token, "role": "viewer"}), 403)
    assert_page(admin.post(f"/ui/settings/members/{ids['viewer.user@example.com']}/role", data={"csrf_token": token, "role": "owner"}), 403)
    assert admin.post(f"/ui/settings/members/{ids['viewer.user@example.com']}/remove", data={"csrf_token": token}).status_code == 303
    assert role_in_default(prepared, ids["viewer.user@example.com"]) is None

    owner = team["owner"]
    owner_token = csrf_of(owner.get("/ui/settings/members"))
    assert owner.post(f"/ui/settings/members/{ids['admin.user@example.com']}/role", data={"csrf_token": owner_token, "role": "owner"}).status_code == 303
    assert role_in_default(prepared, ids["admin.user@example.com"]) == "owner"
    actions = {e.action: e.actor for e in _entries(prepared)}
    assert actions["invitation.create"] == "web:admin.user@example.com" and actions["member.remove"] == "web:admin.user@example.com"


def _entries(db) -> list[AuditEntry]:
    with db.read() as session:
        return list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def test_the_last_owner_cannot_be_demoted_and_the_page_says_why(admin, prepared) -> None:
    with prepared.read() as session:
        me = service.find_user(session, TEST_ADMIN_EMAIL).id
    token = csrf_of(admin.get("/ui/settings/members"))
    page = assert_page(admin.post(f"/ui/settings/members/{me}/role", data={"csrf_token": token, "role": "admin"}), 409)
    assert "last owner" in page and role_in_default(prepared, me) == "owner"


def test_a_new_key_secret_is_shown_once_and_works(admin, app, prepared) -> None:
    token = csrf_of(admin.get("/ui/settings/keys"))
    created = admin.post("/ui/settings/keys", data={"csrf_token": token, "name": SCRIPT, "scope": ["read", "write"], "expires_in_days": "30"})
    assert created.status_code == 303 and "Secure" not in created.headers["set-cookie"]
    page = assert_page(admin.get(created.headers["location"]), 200)
    secret = re.search(r"<code class=\"secret\" data-secret>(sw-[^<]+)</code>", page).group(1)
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    from stackwright.sdk.transport import InProcessTransport

    with httpx.Client(transport=InProcessTransport(app), base_url="http://stackwright.test", headers={"Authorization": f"Bearer {secret}"}) as api:
        me = api.get("/api/v1/me").json()
    assert me["key"]["scopes"] == ["read", "write"] and me["user_email"] == TEST_ADMIN_EMAIL
    again = assert_page(admin.get(created.headers["location"]), 200)
    assert secret not in again and "data-secret-gone" in again
    listing = assert_page(admin.get("/ui/settings/keys"), 200)
    assert secret not in listing and secret[:12] in listing and "<script>alert" not in listing
    key_id = created.headers["location"].split("/")[-2]
    assert admin.post(f"/ui/settings/keys/{key_id}/revoke", data={"csrf_token": token}).status_code == 303
    assert count(prepared, ApiKey, ApiKey.id == key_id, ApiKey.revoked_at.is_not(None)) == 1
    assert {"key.create", "key.revoke"} <= {e.action for e in _entries(prepared) if e.actor == f"web:{TEST_ADMIN_EMAIL}"}


def test_bad_key_input_is_shown_beside_its_field(admin) -> None:
    token = csrf_of(admin.get("/ui/settings/keys"))
    page = assert_page(admin.post("/ui/settings/keys", data={"csrf_token": token, "name": "k"}), 400)
    assert re.search(r'data-error-for="scope">[^<]*at least one scope', page)
    page = assert_page(admin.post("/ui/settings/keys", data={"csrf_token": token, "name": "", "scope": "read"}), 400)
    assert 'data-error-for="name"' in page
    page = assert_page(admin.post("/ui/settings/keys", data={"csrf_token": token, "name": "k", "scope": "read", "expires_in_days": "soon"}), 400)
    assert 'data-error-for="expires_in_days"' in page


def test_another_projects_keys_members_and_audit_are_never_shown(admin, prepared) -> None:
    add_user(prepared, "default-member.user@example.com", "member")
    with prepared.write() as session:
        other = service.create_project(session, SYSTEM, "other")
        stranger = service.create_user(session, SYSTEM, "stranger@example.com", PASSWORD)
        service.add_member(session, SYSTEM, other.id, stranger.id, "admin")
        their_key, _ = keys.create_key(session, SYSTEM, other.id, "their-key", ["read"])
        stranger_id = stranger.id
    pages = "".join(admin.get(url).text for url in ("/ui/settings/members", "/ui/settings/keys", "/ui/settings/audit"))
    assert "default-member.user@example.com" in pages
    assert "stranger@example.com" not in pages and "their-key" not in pages and their_key.prefix not in pages and other.id not in pages
    token = csrf_of(admin.get("/ui/settings/keys"))
    assert_page(admin.post(f"/ui/settings/keys/{their_key.id}/revoke", data={"csrf_token": token}), 404)
    assert_page(admin.get(f"/ui/settings/keys/{their_key.id}/created"), 404)
    assert_page(admin.post(f"/ui/settings/members/{stranger_id}/role", data={"csrf_token": token, "role": "viewer"}), 404)
    with prepared.read() as session:
        assert session.get(Membership, (other.id, stranger_id)).role == "admin"


def test_the_audit_log_filters_by_actor_action_and_time_and_pages(admin, prepared, monkeypatch) -> None:
    from stackwright.ui import settings_audit

    token = csrf_of(admin.get("/ui/settings/keys"))
    for n in range(3):
        admin.post("/ui/settings/keys", data={"csrf_token": token, "name": f"{SCRIPT}{n}", "scope": "read"})
    monkeypatch.setattr(settings_audit, "PAGE_SIZE", 2)
    page = assert_page(admin.get("/ui/settings/audit", params={"action": "key.create", "actor": "web:admin@"}), 200)
    assert len(re.findall(r"data-audit-id=", page)) == 2 and "<script>alert" not in page
    following = re.search(r'rel="next" href="([^"]+)"', page).group(1).replace("&amp;", "&")
    assert "action=key.create" in following
    assert len(re.findall(r"data-audit-id=", admin.get(following).text)) == 1
    assert "No entries match." in admin.get("/ui/settings/audit", params={"actor": "key:"}).text
    assert "No entries match." in admin.get("/ui/settings/audit", params={"since": "2999-01-01"}).text
    assert "No entries match." in admin.get("/ui/settings/audit", params={"until": "2000-01-01T00:00Z", "action": "key.create"}).text
    bad = assert_page(admin.get("/ui/settings/audit", params={"since": SCRIPT}), 200)
    assert re.search(r'data-error-for="since">[^<]*is not a time', bad) and "<script>alert" not in bad
    assert "Cursor" in admin.get("/ui/settings/audit", params={"cursor": "nonsense"}).text


def test_a_user_changes_their_own_password_and_other_sessions_end(app, prepared) -> None:
    add_user(prepared, "pat@example.com", "viewer")
    here, elsewhere = signed_in_as(app, "pat@example.com"), signed_in_as(app, "pat@example.com")
    token = csrf_of(here.get("/ui/settings/password"))

    def change(current: str, new: str, confirm: str | None = None) -> httpx.Response:
        data = {"csrf_token": token, "current_password": current, "new_password": new, "confirm_password": new if confirm is None else confirm}
        return here.post("/ui/settings/password", data=data)

    assert re.search(r'data-error-for="current_password">[^<]*not right', assert_page(change("wrong", "a new long password"), 400))
    assert re.search(r'data-error-for="new_password">[^<]*at least 8', assert_page(change(PASSWORD, "short"), 400))
    assert 'data-error-for="confirm_password"' in assert_page(change(PASSWORD, "a new long password", "other"), 400)
    done = change(PASSWORD, "a new long password")
    assert done.status_code == 303 and "changed" in here.get(done.headers["location"]).text
    assert elsewhere.get("/ui/settings/password").status_code == 303  # signed out
    assert count(prepared, WebSession) == 1
    assert sign_in(elsewhere, "pat@example.com", PASSWORD).status_code == 401
    assert sign_in(elsewhere, "pat@example.com", "a new long password").status_code == 303
    assert [e.actor for e in _entries(prepared) if e.action == "user.password_change"] == ["web:pat@example.com"]
    here.close()
    elsewhere.close()


def test_only_an_instance_admin_sets_another_users_password(team, admin, app, prepared) -> None:
    owner = team["owner"]  # a project owner, not an instance admin
    assert "data-read-only" in assert_page(owner.get("/ui/settings/password-reset"), 200)
    token = csrf_of(admin.get("/ui/settings/password-reset"))
    victim = team["viewer"]
    page = assert_page(admin.post("/ui/settings/password-reset", data={"csrf_token": token, "email": "viewer.user@example.com", "new_password": "short"}), 400)
    assert 'data-error-for="new_password"' in page and 'value="viewer.user@example.com"' in page
    page = assert_page(admin.post("/ui/settings/password-reset", data={"csrf_token": token, "email": "nobody@example.com", "new_password": "long enough"}), 404)
    assert 'data-error-for="email"' in page
    done = admin.post("/ui/settings/password-reset", data={"csrf_token": token, "email": "viewer.user@example.com", "new_password": "reset by admin"})
    assert done.status_code == 303
    assert victim.get("/ui/settings/members").status_code == 303  # the user's sessions ended
    assert sign_in(victim, "viewer.user@example.com", "reset by admin").status_code == 303
    assert [e.actor for e in _entries(prepared) if e.action == "user.password_reset"] == [f"web:{TEST_ADMIN_EMAIL}"]
