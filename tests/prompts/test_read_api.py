"""Listing, versions, diff and every endpoint's bad inputs."""

from __future__ import annotations

import pytest

from tests.auth.conftest import unchanged  # noqa: F401  (fixture)
from tests.conftest import assert_error
from tests.prompts.conftest import SUPPORT, push, support


def test_list_pages_with_a_cursor(api):
    for index in range(5):
        push(api, {"name": f"p{index}", "template": f"t{index}"})
    first = api.get("/api/v1/prompts", params={"limit": 2}).json()
    assert [p["name"] for p in first["data"]] == ["p4", "p3"] and first["next_cursor"]
    second = api.get("/api/v1/prompts", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    third = api.get("/api/v1/prompts", params={"limit": 2, "cursor": second["next_cursor"]}).json()
    assert [p["name"] for p in second["data"] + third["data"]] == ["p2", "p1", "p0"] and third["next_cursor"] is None
    assert first["data"][0] | {"created_at": None, "updated_at": None} == {
        "name": "p4", "latest_version": 1, "type": "text", "model": None, "labels": {"latest": 1},
        "protected_labels": ["production"], "created_at": None, "updated_at": None,
    }  # fmt: skip


def test_versions_page_newest_first(api):
    for text in ("a", "b", "c"):
        push(api, support(system=text, message=f"v {text}"))
    page = api.get("/api/v1/prompts/support-answer/versions", params={"limit": 2}).json()
    assert [(v["version"], v["message"], v["labels"]) for v in page["data"]] == [(3, "v c", ["latest", "staging"]), (2, "v b", [])]
    rest = api.get("/api/v1/prompts/support-answer/versions", params={"cursor": page["next_cursor"]}).json()
    assert [v["version"] for v in rest["data"]] == [1] and rest["next_cursor"] is None


def test_diff_of_templates_and_fields(api):
    push(api, SUPPORT)
    push(api, support(system="You are the helpful assistant for {{ product }}.", model={"name": "gpt-4o", "temperature": 0.5}))
    result = api.get("/api/v1/prompts/support-answer/diff", params={"from": 1, "to": 2}).json()
    assert result["from"]["version"] == 1 and result["to"]["version"] == 2 and result["identical"] is False
    assert "--- support-answer@1\n+++ support-answer@2\n" in result["diff"]
    assert "-You are the support assistant for {{ product }}. Answer only from the context.\n" in result["diff"]
    assert "+You are the helpful assistant for {{ product }}.\n" in result["diff"]
    assert {c["field"]: (c["from"], c["to"]) for c in result["changes"]} == {
        "model": ("gpt-4o-mini", "gpt-4o"),
        "params": ({"temperature": 0.2}, {"temperature": 0.5}),
    }
    by_label = api.get("/api/v1/prompts/support-answer/diff", params={"from": "latest", "to": "2"}).json()
    assert by_label["identical"] is True and by_label["diff"] == "" and by_label["changes"] == []


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/api/v1/prompts/nope", None, 404),
        ("GET", "/api/v1/prompts/support-answer?version=9", None, 404),
        ("GET", "/api/v1/prompts/support-answer?label=prod", None, 404),
        ("GET", "/api/v1/prompts/support-answer?label=Bad!", None, 400),
        ("GET", "/api/v1/prompts/support-answer?version=0", None, 422),
        ("GET", "/api/v1/prompts/support-answer?version=abc", None, 422),
        ("GET", "/api/v1/prompts/support-answer?version=1&label=latest", None, 400),
        ("GET", "/api/v1/prompts/bad%20name", None, 400),
        ("GET", "/api/v1/prompts?limit=0", None, 422),
        ("GET", "/api/v1/prompts?cursor=zzz", None, 400),
        ("GET", "/api/v1/prompts/support-answer/versions?cursor=p1", None, 400),
        ("GET", "/api/v1/prompts/support-answer/history?label=NO", None, 400),
        ("GET", "/api/v1/prompts/support-answer/diff?from=1", None, 422),
        ("GET", "/api/v1/prompts/support-answer/diff?from=1&to=7", None, 404),
        ("GET", "/api/v1/prompts/support-answer/diff?from=1&to=No!", None, 400),
        ("POST", "/api/v1/prompts/support-answer/render", {"variables": []}, 422),
        ("POST", "/api/v1/prompts/support-answer/render", {"version": 1, "label": "latest"}, 400),
        ("POST", "/api/v1/prompts/support-answer/render", {"label": "nope"}, 404),
        ("POST", "/api/v1/prompts/support-answer/render", {"extra": 1}, 422),
        ("PUT", "/api/v1/prompts/support-answer/labels/staging", {"version": 5}, 404),
        ("PUT", "/api/v1/prompts/support-answer/labels/staging", {"version": 0}, 422),
        ("PUT", "/api/v1/prompts/support-answer/labels/staging", {}, 422),
        ("PUT", "/api/v1/prompts/support-answer/labels/BAD", {"version": 1}, 400),
        ("PUT", "/api/v1/prompts/support-answer/labels/123", {"version": 1}, 400),
        ("PUT", "/api/v1/prompts/nope/labels/staging", {"version": 1}, 404),
        ("PUT", "/api/v1/prompts/support-answer/protected-labels", {"labels": ["Bad"]}, 400),
        ("PUT", "/api/v1/prompts/support-answer/protected-labels", {"labels": "production"}, 422),
    ],
)
def test_bad_reads_and_label_moves(api, method, path, body, status):
    push(api, SUPPORT)
    assert_error(api.request(method, path, json=body), status)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({}, "name"),
        ({"name": "x"}, "a chat prompt needs"),
        ({"name": "bad name", "template": "x"}, "not valid"),
        ({"name": "x", "type": "text", "messages": [{"role": "user", "content": "hi"}]}, "a text prompt needs"),
        ({"name": "x", "type": "chat", "template": "hi"}, "a chat prompt needs"),
        ({"name": "x", "type": "image", "template": "hi"}, "type"),
        ({"name": "x", "messages": []}, "a chat prompt needs"),
        ({"name": "x", "messages": [{"role": "wizard", "content": "hi"}]}, "messages.0.role"),
        ({"name": "x", "messages": [{"role": "user"}]}, "messages.0.content"),
        ({"name": "x", "template": "hi", "labels": ["Prod"]}, "labels"),
        ({"name": "x", "template": "hi", "labels": "production"}, "labels"),
        ({"name": "x", "template": "hi", "protected_labels": ["latest"]}, "cannot be protected"),
        ({"name": "x", "template": "hi", "colour": "blue"}, "colour"),
        ({"name": "x", "template": "hi", "model": {"name": ""}}, "model"),
        ({"name": "x", "template": "hi", "variables": ["a"]}, "variables"),
        ({"name": "x", "template": "hi", "message": "m" * 2001}, "message"),
        ({"name": "x", "template": "{{ a "}, "the template at line 1"),
    ],
)
def test_bad_pushes_store_nothing(api, unchanged, body, needle):
    error = assert_error(api.post("/api/v1/prompts", json=body), 400, "invalid_input")
    assert needle in error["message"], error
    assert api.get("/api/v1/prompts").json()["data"] == []
    unchanged()


def test_a_push_body_must_be_a_json_object(api):
    assert_error(api.post("/api/v1/prompts", json=[SUPPORT]), 400, "malformed_json")
    assert_error(api.post("/api/v1/prompts", content=b"name: x", headers={"content-type": "application/json"}), 400)


def test_reading_needs_a_key_and_pushing_needs_write(anon, api):
    push(api, SUPPORT)
    assert_error(anon.get("/api/v1/prompts"), 401)
    assert_error(anon.get("/api/v1/prompts/support-answer"), 401)
    assert_error(anon.get("/api/v1/prompts/support-answer", headers={"Authorization": "Bearer sw-wrong"}), 401)
    assert_error(anon.post("/api/v1/prompts", json=SUPPORT), 401)
