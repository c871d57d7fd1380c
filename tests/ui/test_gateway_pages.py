"""The gateway page: served models with deployments, fallbacks, retries, cache, rules and health; the applied config
as YAML; provider secrets by name only (admins); the "Test model" form through the gateway (members and above).
Per role, bad input beside its field, CSRF, escaping and another project's gateway."""

from __future__ import annotations

import html
import json
import logging
import re

import httpx
from sqlalchemy import select

from stackwright.auth import keys, service
from stackwright.auth.actors import SYSTEM
from stackwright.auth.models import AuditEntry
from stackwright.gateway import secrets
from stackwright.gateway.service import apply_config
from tests.conftest import assert_error
from tests.gateway.helpers import wait_trace
from tests.ui.conftest import csrf_of
from tests.ui.test_settings_pages import SCRIPT, add_user, signed_in_as
from tests.ui.test_sign_in import assert_page

SECRET_VALUE = "sk-test-never-shown-0123456789"
CONFIG = {
    "models": [
        {"name": "support-chat", "retries": 1, "fallbacks": ["local/extractive"], "cache": {"mode": "off"},
         "rules": [{"when": {"tier": SCRIPT}, "use": "local/extractive"}],
         "deployments": [{"provider": "local", "model": "extractive", "tags": ["cheap"]},
                         {"provider": "openai", "model": "gpt-4o-mini", "base_url": "http://127.0.0.1:9/v1", "api_key_env": "OPENAI_KEY"}]},
        {"name": "broken", "retries": 0, "failures_to_cooldown": 1, "cooldown_s": 120,
         "deployments": [{"provider": "openai", "model": "gpt-4o-mini", "base_url": "http://127.0.0.1:9/v1", "api_key_env": "OPENAI_KEY"}]},
    ],
    "retry": {"backoff_s": 0, "max_backoff_s": 0},
}  # fmt: skip


def _apply(api: httpx.Client) -> None:
    done = api.put("/api/v1/gateway/config", json={"config": CONFIG, "secrets": {"OPENAI_KEY": SECRET_VALUE}})
    assert done.status_code == 200, done.text


def test_the_page_shows_models_config_and_secret_names_never_values(admin: httpx.Client, api: httpx.Client) -> None:
    _apply(api)
    page = assert_page(admin.get("/ui/gateway"), 200)
    assert re.search(r'<a href="/ui/gateway"[^>]*>Gateway</a>', page) and 'href="/ui/usage"' in page
    models = re.findall(r'<tr data-model="([^"]+)"', page)
    assert models[:2] == ["broken", "support-chat"] and "local/extractive" in models
    row = re.search(r'<tr data-model="support-chat">(.*?)</tr>', page, re.S).group(1)
    assert 'data-deployment="support-chat/0"' in row and "127.0.0.1:9/v1" in row and "cheap" in row
    assert "local/extractive" in row and "off, 3600 s" in row and 'data-health="ok"' in row
    assert "tier=&lt;script&gt;" in row and "<script>alert" not in page
    config = re.search(r"<pre class=\"yaml\" data-config>(.*?)</pre>", page, re.S).group(1)
    assert "api_key_env: OPENAI_KEY" in config and "support-chat" in config and "Revision 1" in page
    assert 'data-secret-name="OPENAI_KEY"' in page and SECRET_VALUE not in page


def test_a_member_tests_a_model_and_sees_the_answer_inline(api: httpx.Client, prepared, app) -> None:
    add_user(prepared, "member@example.com", "member")
    client = signed_in_as(app, "member@example.com")
    page = client.get("/ui/gateway")
    assert "data-test-form" in assert_page(page, 200)
    assert "data-read-only" in page.text and "data-secret-name" not in page.text  # secrets are for admins
    done = client.post("/ui/gateway/test", data={"csrf_token": csrf_of(page), "model": "local/extractive", "prompt": "Refunds take 5 days."})
    shown = assert_page(done, 200)
    assert 'data-test-result="ok"' in shown and "local/extractive/0" in shown
    trace = re.search(r'href="/ui/traces/([0-9a-f]{32})"', shown).group(1)
    assert wait_trace(api, trace)["trace"]["trace_id"] == trace  # the call was traced like any other


def test_a_failing_model_reports_its_error_and_cools_down(admin: httpx.Client, api: httpx.Client) -> None:
    _apply(api)
    page = admin.get("/ui/gateway")
    failed = assert_page(admin.post("/ui/gateway/test", data={"csrf_token": csrf_of(page), "model": "broken", "prompt": "hi"}), 200)
    assert 'data-test-result="error"' in failed and "broken failed" in failed
    row = re.search(r'<tr data-model="broken">(.*?)</tr>', failed, re.S).group(1)
    assert 'data-health="cooling"' in row and "1 failures" in row


def test_bad_input_is_shown_beside_its_field(admin: httpx.Client) -> None:
    page = admin.get("/ui/gateway")
    token = csrf_of(page)
    cases = [({"model": "", "prompt": "hi"}, "model", "Pick a model"), ({"model": SCRIPT, "prompt": "hi"}, "model", "not a model"),
             ({"model": "local/extractive", "prompt": " "}, "prompt", "Write a message"),
             ({"model": "local/extractive", "prompt": "x" * 4001}, "prompt", "limit is 4,000")]  # fmt: skip
    for data, field, needle in cases:
        shown = assert_page(admin.post("/ui/gateway/test", data={"csrf_token": token, **data}), 400)
        assert needle in re.search(rf'data-error-for="{field}">([^<]*)<', shown).group(1)
        assert "data-test-result" not in shown and "<script>alert" not in shown


def test_a_viewer_reads_without_the_test_form_and_a_forged_test_is_refused(api: httpx.Client, prepared, app) -> None:
    _apply(api)
    add_user(prepared, "viewer@example.com", "viewer")
    client = signed_in_as(app, "viewer@example.com")
    page = client.get("/ui/gateway")
    assert 'data-model="support-chat"' in assert_page(page, 200)
    assert "data-test-form" not in page.text and "data-secret-name" not in page.text and SECRET_VALUE not in page.text
    forged = client.post("/ui/gateway/test", data={"csrf_token": csrf_of(page), "model": "local/extractive", "prompt": "hi"})
    assert "write" in assert_page(forged, 403)


def test_the_test_form_checks_csrf(admin: httpx.Client) -> None:
    for data in ({}, {"csrf_token": "forged"}):
        assert "CSRF" in assert_page(admin.post("/ui/gateway/test", data={**data, "model": "local/extractive", "prompt": "hi"}), 403)


def test_another_projects_models_and_secrets_are_not_shown(admin: httpx.Client, prepared, settings) -> None:
    with prepared.write() as session:
        other = service.create_project(session, SYSTEM, "other")
        theirs = {"models": [{"name": "their-model", "deployments": [{"provider": "local", "model": "extractive"}]}]}
        apply_config(session, settings, SYSTEM, other.id, theirs, {})
        secrets.put_secret(session, settings, other.id, "THEIR_KEY", "their value")
    page = admin.get("/ui/gateway")
    assert "their-model" not in assert_page(page, 200) and "THEIR_KEY" not in page.text
    refused = admin.post("/ui/gateway/test", data={"csrf_token": csrf_of(page), "model": "their-model", "prompt": "hi"})
    assert "not a model" in assert_page(refused, 400)


# -- provider secrets: store and delete (admins) ------------------------------------------------------------------

NEW_VALUE = "sk-typed-in-the-form-9876543210"


def store(client: httpx.Client, name: str, value: str = NEW_VALUE, token: str | None = None) -> httpx.Response:
    token = csrf_of(client.get("/ui/gateway")) if token is None else token
    return client.post("/ui/gateway/secrets", data={"csrf_token": token, "name": name, "value": value})


def secret_entries(db, action: str) -> list[AuditEntry]:
    with db.read() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def stored_names(db, settings, project: str = "default") -> dict[str, str]:
    with db.read() as session:
        return secrets.project_secrets(session, settings, service.find_project(session, project).id)


def test_an_admin_stores_a_secret_whose_value_never_comes_back(admin: httpx.Client, prepared, settings, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    page = assert_page(admin.get("/ui/gateway"), 200)
    form = re.search(r"<form [^>]*data-secret-form>(.*?)</form>", page, re.S).group(1)
    assert re.search(r'<input id="f-secret-value" name="value" type="password" autocomplete="off">', form)
    done = store(admin, "NEW_PROVIDER_KEY")
    assert done.status_code == 303 and done.headers["location"] == "/ui/gateway?done=secret-stored"
    assert stored_names(prepared, settings)["NEW_PROVIDER_KEY"] == NEW_VALUE  # stored (decrypted here to check)
    shown = assert_page(admin.get(done.headers["location"]), 200)
    assert "Secret stored" in shown and 'data-secret-name="NEW_PROVIDER_KEY"' in shown and NEW_VALUE not in shown
    assert 'href="/ui/gateway/secrets/NEW_PROVIDER_KEY/delete"' in shown
    (entry,) = secret_entries(prepared, "gateway.secret.set")
    assert entry.actor == "web:admin@example.com" and entry.object_id == "NEW_PROVIDER_KEY"
    assert NEW_VALUE not in json.dumps([entry.before, entry.after, entry.object_id])
    assert store(admin, "NEW_PROVIDER_KEY").status_code == 303 and len(secret_entries(prepared, "gateway.secret.set")) == 1  # same value: no change
    assert NEW_VALUE not in caplog.text


def test_bad_names_and_values_are_shown_beside_their_field_as_the_api_says_them(admin: httpx.Client, api: httpx.Client, prepared, settings) -> None:
    for name in ("bad-name", SCRIPT, "", "9_STARTS_WITH_A_DIGIT"):
        shown = assert_page(store(admin, name), 400)
        message = re.search(r'data-error-for="secret-name">([^<]*)<', shown).group(1)
        assert "not a valid secret name" in message and NEW_VALUE not in shown and "<script>alert" not in shown
    api_message = assert_error(api.put("/api/v1/gateway/secrets/bad-name", json={"value": "x"}), 400)["message"]
    shown = assert_page(store(admin, "bad-name"), 400)
    assert html.unescape(re.search(r'data-error-for="secret-name">([^<]*)<', shown).group(1)) == api_message
    assert 'value="bad-name"' in shown  # the name is kept for fixing; the value is not
    assert_error(api.put("/api/v1/gateway/secrets/TRAILING%0A", json={"value": "x"}), 400)  # the whole name must match
    empty = assert_page(store(admin, "GOOD_NAME", ""), 400)
    assert "1 to 8192 characters" in re.search(r'data-error-for="secret-value">([^<]*)<', empty).group(1)
    assert stored_names(prepared, settings) == {} and secret_entries(prepared, "gateway.secret.set") == []


def test_deleting_a_secret_asks_first_and_names_the_deployments_using_it(admin: httpx.Client, api: httpx.Client, prepared, settings) -> None:
    _apply(api)
    confirm = admin.get("/ui/gateway/secrets/OPENAI_KEY/delete")
    page = assert_page(confirm, 200)
    assert "Delete secret OPENAI_KEY?" in page and SECRET_VALUE not in page
    assert "support-chat/1, broken/0" in re.search(r"data-in-use>(.*?)</p>", page, re.S).group(1)
    assert stored_names(prepared, settings) == {"OPENAI_KEY": SECRET_VALUE}  # asking deletes nothing
    done = admin.post("/ui/gateway/secrets/OPENAI_KEY/delete", data={"csrf_token": csrf_of(confirm)})
    assert done.status_code == 303 and done.headers["location"] == "/ui/gateway?done=secret-deleted"
    assert stored_names(prepared, settings) == {}
    (entry,) = secret_entries(prepared, "gateway.secret.delete")
    assert entry.actor == "web:admin@example.com" and entry.object_id == "OPENAI_KEY"
    assert "Secret deleted" in assert_page(admin.get(done.headers["location"]), 200)
    assert_page(admin.get("/ui/gateway/secrets/OPENAI_KEY/delete"), 404)
    assert_page(admin.post("/ui/gateway/secrets/OPENAI_KEY/delete", data={"csrf_token": csrf_of(confirm)}), 404)


def test_members_and_viewers_get_no_secret_forms_and_forged_posts_are_refused(api: httpx.Client, prepared, settings, app) -> None:
    _apply(api)
    for role in ("member", "viewer"):
        add_user(prepared, f"{role}.s@example.com", role)
        client = signed_in_as(app, f"{role}.s@example.com")
        response = client.get("/ui/gateway")
        page = assert_page(response, 200)
        assert "data-secret-form" not in page and "/ui/gateway/secrets" not in page
        token = csrf_of(response)
        assert "admin" in assert_page(store(client, "FORGED_KEY", token=token), 403)
        assert "admin" in assert_page(client.post("/ui/gateway/secrets/OPENAI_KEY/delete", data={"csrf_token": token}), 403)
        assert_page(client.get("/ui/gateway/secrets/OPENAI_KEY/delete"), 403)
        client.close()
    assert stored_names(prepared, settings) == {"OPENAI_KEY": SECRET_VALUE}
    with prepared.write() as session:  # the API obeys the same rule, now in the service: a write key is refused too
        _, write_key = keys.create_key(session, SYSTEM, service.find_project(session, "default").id, "writer", ["write"])
    headers = {"Authorization": f"Bearer {write_key}"}
    assert "admin" in api.put("/api/v1/gateway/secrets/FORGED_KEY", json={"value": "x"}, headers=headers).json()["error"]["message"]
    assert api.delete("/api/v1/gateway/secrets/OPENAI_KEY", headers=headers).status_code == 403
    assert stored_names(prepared, settings) == {"OPENAI_KEY": SECRET_VALUE}


def test_secret_forms_check_csrf_and_stay_in_their_project(admin: httpx.Client, prepared, settings) -> None:
    for token in ("", "forged"):
        assert "CSRF" in assert_page(store(admin, "NEW_PROVIDER_KEY", token=token), 403)
        assert "CSRF" in assert_page(admin.post("/ui/gateway/secrets/THEIR_KEY/delete", data={"csrf_token": token}), 403)
    with prepared.write() as session:
        other = service.create_project(session, SYSTEM, "other")
        secrets.put_secret(session, settings, other.id, "THEIR_KEY", "their value")
    assert_page(admin.get("/ui/gateway/secrets/THEIR_KEY/delete"), 404)
    token = csrf_of(admin.get("/ui/gateway"))
    assert_page(admin.post("/ui/gateway/secrets/THEIR_KEY/delete", data={"csrf_token": token}), 404)
    assert stored_names(prepared, settings, "other") == {"THEIR_KEY": "their value"} and stored_names(prepared, settings) == {}
    escaped = assert_page(admin.get("/ui/gateway/secrets/%3Cscript%3E/delete"), 404)
    assert "<script>" not in escaped and "&lt;script&gt;" in escaped
