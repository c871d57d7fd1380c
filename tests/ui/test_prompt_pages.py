"""The prompt pages: list, history, one version, diff, labels and the editor. Per role (viewer reads only, member
pushes and moves unprotected labels, admin moves protected ones), bad templates shown at their line with nothing
saved, stale edits, escaping, another project's prompt, CSRF. Prompts go in through the real API."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import func, select

from stackwright.auth import service
from stackwright.auth.actors import SYSTEM
from stackwright.prompts.models import PromptVersion
from tests.ui.conftest import csrf_of
from tests.ui.test_settings_pages import add_user, signed_in_as
from tests.ui.test_sign_in import assert_page

SCRIPT = "<script>alert('x')</script>"
CHAT = {
    "name": "support-answer",
    "type": "chat",
    "messages": [
        {"role": "system", "content": "You answer for {{ product }}."},
        {"role": "user", "content": "Question: {{ question }}"},
    ],
    "model": {"name": "gpt-4o-mini", "temperature": 0.2},
    "message": "first cut",
}


def push(api: httpx.Client, body: dict) -> dict:
    response = api.post("/api/v1/prompts", json=body)
    assert response.status_code in (200, 201), response.text
    return response.json()


def versions(db, name: str) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(PromptVersion).join(PromptVersion.prompt).where(
            PromptVersion.prompt.has(name=name))) or 0  # fmt: skip


def editor_form(page: httpx.Response | str) -> dict[str, str]:
    """The editor's fields as the page filled them (hidden inputs, inputs, selected options, textareas)."""
    html = page if isinstance(page, str) else page.text
    form = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', html))
    form.update({n: v for n, v in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', html, re.S)})
    for name, options in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', html, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected', options)
        if chosen:
            form[name] = chosen.group(1)
    import html as htmllib

    return {k: htmllib.unescape(v) for k, v in form.items()}


@pytest.fixture
def team(app, prepared) -> dict[str, httpx.Client]:
    clients = {}
    for role in ("viewer", "member", "admin"):
        add_user(prepared, f"{role}.p@example.com", role)
        clients[role] = signed_in_as(app, f"{role}.p@example.com")
    yield clients
    for client in clients.values():
        client.close()


def test_list_history_version_and_nav(admin: httpx.Client, api: httpx.Client) -> None:
    push(api, {**CHAT, "labels": ["production"]})
    push(api, {**CHAT, "messages": [CHAT["messages"][0], {"role": "user", "content": "Q: {{ question }}"}], "message": "shorter"})
    page = assert_page(admin.get("/ui/prompts"), 200)
    assert re.search(r'<a href="/ui/prompts"[^>]*>Prompts</a>', page)
    row = re.search(r'<tr data-prompt="support-answer">.*?</tr>', page, re.S).group(0)
    assert ">2</a>" in row and "production" in row and "(protected)" in row
    history = assert_page(admin.get("/ui/prompts/support-answer"), 200)
    assert 'tr data-version="2"' in history and 'tr data-version="1"' in history
    first = re.search(r'<tr data-version="1">.*?</tr>', history, re.S).group(0)
    assert "first cut" in first and "production" in first and "key:" in first
    assert "/ui/playground?prompt=support-answer&amp;version=2" in history
    assert 'href="/ui/prompts/support-answer/edit"' in history and "data-protected" in history
    version = assert_page(admin.get("/ui/prompts/support-answer/versions/1"), 200)
    assert "You answer for {{ product }}." in version and "gpt-4o-mini" in version and "temperature: 0.2" in version
    assert 'data-variable="product"' in version and 'data-variable="question"' in version and "first cut" in version
    assert "No version" not in version
    assert "has no version 9" in assert_page(admin.get("/ui/prompts/support-answer/versions/9"), 404)
    assert "No prompt named" in assert_page(admin.get("/ui/prompts/nope"), 404)


def test_diff_of_versions_and_labels_marks_lines(admin: httpx.Client, api: httpx.Client) -> None:
    push(api, {**CHAT, "labels": ["production"]})
    push(api, {**CHAT, "messages": [CHAT["messages"][0], {"role": "user", "content": "Q: {{ question }}"}],
               "model": {"name": "gpt-4o", "temperature": 0.2}})  # fmt: skip
    page = assert_page(admin.get("/ui/prompts/support-answer/diff", params={"a": "production", "b": "2"}), 200)
    assert '<span class="diff-del">-Question: {{ question }}</span>' in page
    assert '<span class="diff-add">+Q: {{ question }}</span>' in page
    assert '<span class="diff-del">-  name: gpt-4o-mini</span>' in page and '<span class="diff-add">+  name: gpt-4o</span>' in page
    same = assert_page(admin.get("/ui/prompts/support-answer/diff", params={"a": "1", "b": "production"}), 200)
    assert same.count("data-identical") == 2
    bad = assert_page(admin.get("/ui/prompts/support-answer/diff", params={"a": "nolabel", "b": "Bad Label!"}), 400)
    assert 'data-error-for="a"' in bad and "no label &#39;nolabel&#39;" in bad and 'data-error-for="b"' in bad


def test_editor_pushes_a_new_version_and_shows_jinja_errors_at_their_line(admin: httpx.Client, api: httpx.Client, prepared) -> None:
    push(api, CHAT)
    page = assert_page(admin.get("/ui/prompts/support-answer/edit"), 200)
    form = editor_form(page)
    assert form["content_0"] == "You answer for {{ product }}." and form["role_1"] == "user" and form["latest"] == "1"
    assert "name: gpt-4o-mini" in form["config"]
    bad = {**form, "content_1": "Question:\r\n{{ question }}\r\n{{ oops }", "action": "save"}
    refused = admin.post("/ui/prompts/support-answer/edit", data=bad)
    text = assert_page(refused, 400)
    error = re.search(r'data-error-for="content_1">([^<]*)<', text).group(1)
    assert error.startswith("line 3:") and "unexpected &#39;}&#39;" in error
    assert "{{ oops }" in text  # the text is kept for fixing
    assert versions(prepared, "support-answer") == 1  # nothing saved
    checked = assert_page(admin.post("/ui/prompts/support-answer/edit", data={**form, "action": "check"}), 200)
    assert "No problems found" in checked and "product, question" in checked
    assert versions(prepared, "support-answer") == 1
    bad_config = assert_page(admin.post("/ui/prompts/support-answer/edit", data={**form, "config": "model: [unclosed", "action": "save"}), 400)
    assert re.search(r'data-error-for="config">line 1, column', bad_config)
    saved = admin.post("/ui/prompts/support-answer/edit",
                       data={**form, "content_1": "Q: {{ question }}", "message": "shorter", "labels": "staging", "action": "save"})
    assert saved.status_code == 303 and saved.headers["location"] == "/ui/prompts/support-answer/versions/2?done=pushed"
    shown = api.get("/api/v1/prompts/support-answer", params={"label": "staging"}).json()
    assert shown["version"] == 2 and shown["messages"][1]["content"] == "Q: {{ question }}" and shown["message"] == "shorter"
    assert shown["model"] == "gpt-4o-mini" and shown["params"] == {"temperature": 0.2}
    # the form still says latest 1: someone else's push since is a stale edit, refused inline with nothing saved
    stale = assert_page(admin.post("/ui/prompts/support-answer/edit", data={**form, "content_1": "Other", "action": "save"}), 409)
    assert "newer version (2)" in stale and 'name="latest" value="2"' in stale
    assert versions(prepared, "support-answer") == 2


def test_editing_keeps_a_named_message_and_the_same_content_keeps_its_version(admin: httpx.Client, api: httpx.Client) -> None:
    push(api, {**CHAT, "messages": [*CHAT["messages"], {"role": "assistant", "name": "bot", "content": "Hi"}]})
    form = editor_form(admin.get("/ui/prompts/support-answer/edit"))
    assert form["msgname_2"] == "bot" and form["content_3"] == ""
    same = admin.post("/ui/prompts/support-answer/edit", data={**form, "action": "save"})
    assert same.headers["location"] == "/ui/prompts/support-answer/versions/1?done=same"
    assert "nothing new was saved" in admin.get(same.headers["location"]).text


def test_new_prompt_form_on_the_list_page(admin: httpx.Client, prepared) -> None:
    page = admin.get("/ui/prompts")
    form = {**editor_form(page), "name": "greeter", "type": "text", "template": "Hello {{ who }}", "action": "save"}
    created = admin.post("/ui/prompts", data=form)
    assert created.status_code == 303 and created.headers["location"] == "/ui/prompts/greeter/versions/1?done=pushed"
    again = assert_page(admin.post("/ui/prompts", data={**form, "template": "Hi {{ who }}"}), 409)
    assert "already exists" in again and versions(prepared, "greeter") == 1
    bad = assert_page(admin.post("/ui/prompts", data={**form, "name": "bad name!"}), 400)
    assert 'data-error-for="name"' in bad
    unnamed = assert_page(admin.post("/ui/prompts", data={**form, "name": ""}), 400)
    assert 'data-error-for="name"' in unnamed
    broken = assert_page(admin.post("/ui/prompts", data={**form, "name": "broken", "template": "{% if x %}open"}), 400)
    assert re.search(r'data-error-for="template">line 1:', broken) and versions(prepared, "broken") == 0


def test_roles_viewer_reads_member_pushes_admin_moves_protected(team, api: httpx.Client, prepared) -> None:
    push(api, {**CHAT, "labels": ["production", "staging"]})
    push(api, {**CHAT, "message": "v2", "messages": CHAT["messages"][:1]})
    viewer, member, admin = team["viewer"], team["member"], team["admin"]
    for client in team.values():
        assert_page(client.get("/ui/prompts/support-answer"), 200)
    view = viewer.get("/ui/prompts/support-answer").text
    assert "/edit" not in view and "/labels" not in view and "data-label-form" not in view
    assert 'action="/ui/prompts"' not in viewer.get("/ui/prompts").text
    assert_page(viewer.get("/ui/prompts/support-answer/edit"), 403)
    token = csrf_of(viewer.get("/ui/prompts/support-answer"))
    form = {"csrf_token": token, "type": "text", "template": "x", "action": "save"}
    assert "write" in assert_page(viewer.post("/ui/prompts/support-answer/edit", data=form), 403)
    assert_page(viewer.post("/ui/prompts", data={**form, "name": "viewer-made"}), 403)
    assert_page(viewer.post("/ui/prompts/support-answer/labels", data={"csrf_token": token, "label": "staging", "version": "2"}), 403)
    assert_page(viewer.post("/ui/prompts/support-answer/labels/staging/remove", data={"csrf_token": token}), 403)
    assert versions(prepared, "support-answer") == 2 and versions(prepared, "viewer-made") == 0

    page = member.get("/ui/prompts/support-answer")
    production = re.search(r'<tr data-label="production">.*?</tr>', page.text, re.S).group(0)
    assert "admins only" in production and "<form" not in production
    token = csrf_of(page)
    moved = member.post("/ui/prompts/support-answer/labels", data={"csrf_token": token, "label": "staging", "version": "2", "expected": "1"})
    assert moved.status_code == 303 and moved.headers["location"].endswith("?done=moved")
    refused = member.post("/ui/prompts/support-answer/labels", data={"csrf_token": token, "label": "production", "version": "2"})
    assert "protected" in assert_page(refused, 403)
    member_push = editor_form(member.get("/ui/prompts/support-answer/edit"))
    protected = member.post("/ui/prompts/support-answer/edit", data={**member_push, "message": "to production", "labels": "production",
                                                                     "content_0": "Sneaky {{ a }}", "action": "save"})  # fmt: skip
    text = assert_page(protected, 403)
    assert 'data-error-for="labels"' in text and "is protected" in text and "Sneaky" in text  # inline; what was typed stays
    assert versions(prepared, "support-answer") == 2
    assert member.post("/ui/prompts/support-answer/edit", data={**member_push, "message": "by member", "content_0": "New {{ a }}",
                                                                "action": "save"}).status_code == 303  # fmt: skip

    token = csrf_of(admin.get("/ui/prompts/support-answer"))
    assert admin.post("/ui/prompts/support-answer/labels", data={"csrf_token": token, "label": "production", "version": "2"}).status_code == 303
    labels = api.get("/api/v1/prompts/support-answer", params={"label": "production"}).json()
    assert labels["version"] == 2


def test_label_moves_check_input_stale_revisions_and_removal_confirms(admin: httpx.Client, api: httpx.Client) -> None:
    push(api, {**CHAT, "labels": ["staging"]})
    push(api, {**CHAT, "message": "v2", "messages": CHAT["messages"][:1]})
    token = csrf_of(admin.get("/ui/prompts/support-answer"))
    bad = assert_page(admin.post("/ui/prompts/support-answer/labels", data={"csrf_token": token, "label": "Bad!", "version": "x"}), 400)
    assert 'data-error-for="version"' in bad
    bad = assert_page(admin.post("/ui/prompts/support-answer/labels", data={"csrf_token": token, "label": "Bad!", "version": "1"}), 400)
    assert 'data-error-for="label"' in bad and "not valid" in bad
    missing = assert_page(admin.post("/ui/prompts/support-answer/labels", data={"csrf_token": token, "label": "qa", "version": "7"}), 400)
    assert "has no version 7" in missing
    stale = admin.post("/ui/prompts/support-answer/labels", data={"csrf_token": token, "label": "staging", "version": "2", "expected": "2"})
    assert "changed meanwhile" in assert_page(stale, 409)
    assert api.get("/api/v1/prompts/support-answer", params={"label": "staging"}).json()["version"] == 1

    confirm = assert_page(admin.get("/ui/prompts/support-answer/labels/staging/remove"), 200)
    assert "Remove label staging?" in confirm and 'name="expected" value="1"' in confirm
    assert api.get("/api/v1/prompts/support-answer", params={"label": "staging"}).status_code == 200  # asking removed nothing
    api.put("/api/v1/prompts/support-answer/labels/staging", json={"version": 2})  # moved meanwhile
    stale = admin.post("/ui/prompts/support-answer/labels/staging/remove", data={"csrf_token": token, "expected": "1"})
    assert "changed meanwhile" in assert_page(stale, 409)
    removed = admin.post("/ui/prompts/support-answer/labels/staging/remove", data={"csrf_token": token, "expected": "2"})
    assert removed.status_code == 303 and removed.headers["location"].endswith("?done=removed")
    assert api.get("/api/v1/prompts/support-answer", params={"label": "staging"}).status_code == 404
    assert "cannot be removed" in assert_page(admin.post("/ui/prompts/support-answer/labels/latest/remove", data={"csrf_token": token}), 400)


def test_values_are_escaped(admin: httpx.Client, api: httpx.Client) -> None:
    push(api, {**CHAT, "messages": [{"role": "user", "content": SCRIPT + " {{ q }}"}], "message": SCRIPT,
               "model": {"name": SCRIPT}})  # fmt: skip
    push(api, {**CHAT, "messages": [{"role": "user", "content": "<b>" + SCRIPT}]})
    for url in ("/ui/prompts", "/ui/prompts/support-answer", "/ui/prompts/support-answer/versions/1",
                "/ui/prompts/support-answer/diff?a=1&b=2", "/ui/prompts/support-answer/edit?from=1"):  # fmt: skip
        page = assert_page(admin.get(url), 200)
        assert SCRIPT not in page, url
    assert "&lt;script&gt;" in admin.get("/ui/prompts/support-answer/diff?a=1&b=2").text
    token = csrf_of(admin.get("/ui/prompts"))
    form = {"csrf_token": token, "name": "x", "type": "text", "template": SCRIPT + "{% if %}", "action": "save"}
    assert SCRIPT not in assert_page(admin.post("/ui/prompts", data=form), 400)


def test_another_projects_prompt_is_a_404_page(admin: httpx.Client, prepared, app) -> None:
    from stackwright.auth import keys
    from stackwright.sdk.transport import InProcessTransport

    with prepared.write() as session:
        other = service.create_project(session, SYSTEM, "other")
        _, other_key = keys.create_key(session, SYSTEM, other.id, "other key", ["admin"])
    with httpx.Client(transport=InProcessTransport(app), base_url="http://stackwright.test",
                      headers={"Authorization": f"Bearer {other_key}"}) as other_api:  # fmt: skip
        push(other_api, {**CHAT, "name": "theirs", "labels": ["staging"]})
    assert "theirs" not in admin.get("/ui/prompts").text
    token = csrf_of(admin.get("/ui/prompts"))
    for url in ("/ui/prompts/theirs", "/ui/prompts/theirs/versions/1", "/ui/prompts/theirs/diff?a=1&b=1", "/ui/prompts/theirs/edit",
                "/ui/prompts/theirs/labels/staging/remove"):  # fmt: skip
        assert_page(admin.get(url), 404)
    form = {"csrf_token": token, "type": "text", "template": "x", "action": "save", "latest": "1"}
    assert_page(admin.post("/ui/prompts/theirs/edit", data=form), 404)
    assert_page(admin.post("/ui/prompts/theirs/labels", data={"csrf_token": token, "label": "staging", "version": "1"}), 404)
    assert_page(admin.post("/ui/prompts/theirs/labels/staging/remove", data={"csrf_token": token}), 404)
    assert versions(prepared, "theirs") == 1


def test_every_form_checks_csrf(admin: httpx.Client, api: httpx.Client, prepared) -> None:
    push(api, {**CHAT, "labels": ["staging"]})
    form = {"type": "text", "template": "x", "name": "csrf-less", "action": "save", "label": "staging", "version": "1"}
    for url in ("/ui/prompts", "/ui/prompts/support-answer/edit", "/ui/prompts/support-answer/labels",
                "/ui/prompts/support-answer/labels/staging/remove"):  # fmt: skip
        assert "CSRF" in assert_page(admin.post(url, data=form), 403), url
        assert "CSRF" in assert_page(admin.post(url, data={**form, "csrf_token": "forged"}), 403), url
    assert versions(prepared, "csrf-less") == 0 and versions(prepared, "support-answer") == 1
    assert api.get("/api/v1/prompts/support-answer", params={"label": "staging"}).status_code == 200


def test_admins_set_protected_labels_others_are_refused(team, api: httpx.Client) -> None:
    push(api, {**CHAT, "labels": ["staging"]})
    member_page = team["member"].get("/ui/prompts/support-answer")
    assert "data-protect-form" not in member_page.text
    forged = team["member"].post("/ui/prompts/support-answer/protected", data={"csrf_token": csrf_of(member_page), "protected": ""})
    assert "admin" in assert_page(forged, 403)
    admin = team["admin"]
    token = csrf_of(admin.get("/ui/prompts/support-answer"))
    bad = assert_page(admin.post("/ui/prompts/support-answer/protected", data={"csrf_token": token, "protected": "latest"}), 400)
    assert 'data-error-for="protected"' in bad
    done = admin.post("/ui/prompts/support-answer/protected", data={"csrf_token": token, "protected": "production, staging"})
    assert done.status_code == 303 and done.headers["location"].endswith("?done=protected")
    staging = re.search(r'<tr data-label="staging">.*?</tr>', team["member"].get("/ui/prompts/support-answer").text, re.S).group(0)
    assert "data-protected" in staging and "admins only" in staging
