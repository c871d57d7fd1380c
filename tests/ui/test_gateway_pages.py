"""The gateway page: served models with deployments, fallbacks, retries, cache, rules and health; the applied config
as YAML; provider secrets by name only (admins); the "Test model" form through the gateway (members and above).
Per role, bad input beside its field, CSRF, escaping and another project's gateway."""

from __future__ import annotations

import re

import httpx

from stackwright.auth import service
from stackwright.auth.actors import SYSTEM
from stackwright.gateway import secrets
from stackwright.gateway.service import apply_config
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
