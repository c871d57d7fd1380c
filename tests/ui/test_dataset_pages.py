"""The dataset pages: list, versions, items paged, export, and adding, editing and removing items through the datasets
editing service (each a new version, audited). Per role, bad input beside its field, a stale version, CSRF,
escaping and another project's dataset."""

from __future__ import annotations

import json
import re

import httpx

from stackwright.auth import service
from stackwright.auth.actors import SYSTEM
from stackwright.auth.models import AuditEntry
from stackwright.datasets import editing
from tests.ui.conftest import csrf_of
from tests.ui.test_settings_pages import SCRIPT, add_user, count, signed_in_as
from tests.ui.test_sign_in import assert_page
from tests.ui.test_trace_pages import send_trace

ITEMS = [{"input": {"question": f"q{i}"}, "expected": f"a{i}"} for i in range(3)]


def _import(api: httpx.Client, name: str = "cases", items: list | None = None) -> dict:
    done = api.post(f"/api/v1/datasets/{name}/import", json={"items": items or ITEMS, "message": "first"})
    assert done.status_code in (200, 201), done.text
    return done.json()


def _items(api: httpx.Client, name: str, version: int) -> list[dict]:
    return api.get(f"/api/v1/datasets/{name}/versions/{version}/items").json()["data"]


def test_list_versions_and_items_paged_with_the_export(admin: httpx.Client, api: httpx.Client) -> None:
    _import(api, items=[{"input": {"question": f"q{i}"}} for i in range(60)])
    _import(api, "other-set")
    page = assert_page(admin.get("/ui/datasets"), 200)
    assert re.search(r'<a href="/ui/datasets"[^>]*>Datasets</a>', page)
    assert re.findall(r'data-dataset="([^"]+)"', page) == ["other-set", "cases"]
    versions = assert_page(admin.get("/ui/datasets/cases"), 200)
    assert re.findall(r'data-version="(\d+)"', versions) == ["1"] and "first" in versions
    first = assert_page(admin.get("/ui/datasets/cases/versions/1"), 200)
    assert len(re.findall(r"<tr data-item=", first)) == 50 and "q49" in first and "q50" not in first
    more = re.search(r'rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    second = assert_page(admin.get(more), 200)
    assert len(re.findall(r"<tr data-item=", second)) == 10 and "q59" in second
    jsonl = admin.get("/ui/datasets/cases/versions/1/export?format=jsonl")
    assert jsonl.status_code == 200 and jsonl.headers["content-disposition"] == 'attachment; filename="cases@1.jsonl"'
    assert jsonl.text == api.get("/api/v1/datasets/cases/export", params={"version": 1}).text
    csv = admin.get("/ui/datasets/cases/versions/1/export?format=csv")
    assert csv.headers["content-type"].startswith("text/csv") and csv.text == api.get("/api/v1/datasets/cases/export?format=csv").text
    assert "not supported" in assert_page(admin.get("/ui/datasets/cases/versions/1/export?format=xml"), 400)
    assert_page(admin.get("/ui/datasets/cases/versions/9"), 404)
    assert_page(admin.get("/ui/datasets/cases/versions/x"), 404)
    assert_page(admin.get("/ui/datasets/missing"), 404)
    assert "not valid" in assert_page(admin.get("/ui/datasets/cases/versions/1", params={"cursor": "bogus"}), 200)


def test_a_member_adds_edits_and_removes_items_each_a_new_audited_version(api: httpx.Client, prepared, app) -> None:
    _import(api)
    add_user(prepared, "member@example.com", "member")
    client = signed_in_as(app, "member@example.com")
    page = client.get("/ui/datasets/cases/versions/1")
    assert "data-add-item-form" in assert_page(page, 200)
    token = csrf_of(page)
    added = client.post("/ui/datasets/cases/items", data={"csrf_token": token, "base": "1", "input": '{"question": "new"}',
                                                           "expected": '"yes"', "metadata": "", "message": "from the UI"})  # fmt: skip
    assert added.status_code == 303 and added.headers["location"] == "/ui/datasets/cases/versions/2?done=added"
    shown = assert_page(client.get(added.headers["location"]), 200)
    assert "Item added" in shown and "from the UI" in shown
    assert [i["input"] for i in _items(api, "cases", 2)][-1] == {"question": "new"}

    target = _items(api, "cases", 2)[0]["id"]
    form = client.get(f"/ui/datasets/cases/items/{target}/edit?base=2")
    assert "data-edit-item-form" in assert_page(form, 200) and "q0" in form.text
    edited = client.post(f"/ui/datasets/cases/items/{target}/edit", data={"csrf_token": token, "base": "2",
                         "input": '{"question": "q0 changed"}', "expected": '"a0"', "metadata": '{"topic": "x"}'})  # fmt: skip
    assert edited.headers["location"] == "/ui/datasets/cases/versions/3?done=updated"
    first = _items(api, "cases", 3)[0]
    assert (first["input"], first["metadata"]) == ({"question": "q0 changed"}, {"topic": "x"})
    assert _items(api, "cases", 2)[0]["id"] == target  # the older version keeps it

    confirm = client.get(f"/ui/datasets/cases/items/{first['id']}/remove?base=3")
    assert "data-confirm-form" in assert_page(confirm, 200) and "q0 changed" in confirm.text
    assert len(_items(api, "cases", 3)) == 4  # the confirmation page changes nothing
    removed = client.post(f"/ui/datasets/cases/items/{first['id']}/remove", data={"csrf_token": token, "base": "3"})
    assert removed.headers["location"] == "/ui/datasets/cases/versions/4?done=removed"
    assert len(_items(api, "cases", 4)) == 3
    actions = ("dataset.add_item", "dataset.update_item", "dataset.remove_item")
    assert count(prepared, AuditEntry, AuditEntry.action.in_(actions), AuditEntry.actor == "web:member@example.com") == 3
    old = assert_page(client.get("/ui/datasets/cases/versions/1"), 200)
    assert "older version" in old and "data-add-item-form" not in old and "/edit?" not in old


def test_bad_input_is_shown_beside_its_field_and_nothing_is_saved(admin: httpx.Client, api: httpx.Client) -> None:
    _import(api)
    page = admin.get("/ui/datasets/cases/versions/1")
    token = csrf_of(page)
    cases = [
        ({"input": "", "metadata": ""}, "input", "input is missing"),
        ({"input": "{not json", "metadata": ""}, "input", "not valid JSON (line 1"),
        ({"input": '"q"', "metadata": "[1]"}, "metadata", "JSON object"),
        ({"input": '"q"', "expected": "nope"}, "expected", "not valid JSON"),
        ({"input": '"q"', "message": "m" * 2001}, "message", "limit is 2,000"),
    ]
    for data, field, needle in cases:
        shown = assert_page(admin.post("/ui/datasets/cases/items", data={"csrf_token": token, "base": "1", **data}), 400)
        error = re.search(rf'data-error-for="{field}">([^<]*)<', shown)
        assert error and needle in error.group(1), (field, shown)
    held = admin.post("/ui/datasets/cases/items", data={"csrf_token": token, "base": "1", "input": '{"question": "q0"}', "expected": '"a0"'})
    assert "already holds this item" in assert_page(held, 409)
    evil = assert_page(admin.post("/ui/datasets/cases/items", data={"csrf_token": token, "base": "1", "input": SCRIPT}), 400)
    assert "<script>alert" not in evil and "&lt;script&gt;alert(" in evil  # the typed value comes back escaped
    assert api.get("/api/v1/datasets/cases").json()["latest_version"] == 1


def test_a_stale_version_is_refused_inline(admin: httpx.Client, api: httpx.Client, prepared) -> None:
    _import(api)
    target = _items(api, "cases", 1)[1]["id"]
    form = admin.get(f"/ui/datasets/cases/items/{target}/edit?base=1")
    api.post("/api/v1/datasets/cases/items", json={"input": "meanwhile"})  # someone else saves version 2
    stale = admin.post(f"/ui/datasets/cases/items/{target}/edit", data={"csrf_token": csrf_of(form), "base": "1", "input": '"x"'})
    assert "changed meanwhile" in assert_page(stale, 409)
    assert re.search(r"data-unsaved>.*&#34;x&#34;", stale.text, re.S)  # the typed value is shown, not lost
    removed = admin.post(f"/ui/datasets/cases/items/{target}/remove", data={"csrf_token": csrf_of(form), "base": "1"})
    assert "changed meanwhile" in assert_page(removed, 409)
    assert api.get("/api/v1/datasets/cases").json()["latest_version"] == 2


def test_values_are_escaped(admin: httpx.Client, api: httpx.Client) -> None:
    _import(api, items=[{"input": SCRIPT, "expected": SCRIPT, "metadata": {"k": SCRIPT}}])
    api.post("/api/v1/datasets", json={"name": "described", "description": SCRIPT})
    for url in ("/ui/datasets", "/ui/datasets/described", "/ui/datasets/cases/versions/1"):
        page = assert_page(admin.get(url), 200)
        assert "<script>alert" not in page and "&lt;script&gt;" in page, url
    item = _items(api, "cases", 1)[0]["id"]
    for url in (f"/ui/datasets/cases/items/{item}/edit?base=1", f"/ui/datasets/cases/items/{item}/remove?base=1"):
        assert "<script>alert" not in assert_page(admin.get(url), 200)


def test_a_viewer_reads_but_sees_no_forms_and_forged_posts_are_refused(api: httpx.Client, prepared, app) -> None:
    _import(api)
    add_user(prepared, "viewer@example.com", "viewer")
    client = signed_in_as(app, "viewer@example.com")
    page = client.get("/ui/datasets/cases/versions/1")
    assert "q0" in assert_page(page, 200)
    assert "data-add-item-form" not in page.text and "/edit?" not in page.text and "/remove?" not in page.text
    assert client.get("/ui/datasets/cases/versions/1/export").status_code == 200
    target = _items(api, "cases", 1)[0]["id"]
    assert "data-read-only" in assert_page(client.get(f"/ui/datasets/cases/items/{target}/edit?base=1"), 200)
    token = csrf_of(page)
    posts = {"/ui/datasets/cases/items": {"input": '"x"'}, f"/ui/datasets/cases/items/{target}/edit": {"input": '"x"'},
             f"/ui/datasets/cases/items/{target}/remove": {}}  # fmt: skip
    for url, data in posts.items():
        assert "write" in assert_page(client.post(url, data={"csrf_token": token, "base": "1", **data}), 403), url
    assert api.get("/api/v1/datasets/cases").json()["latest_version"] == 1


def test_forms_check_csrf(admin: httpx.Client, api: httpx.Client) -> None:
    _import(api)
    target = _items(api, "cases", 1)[0]["id"]
    for url in ("/ui/datasets/cases/items", f"/ui/datasets/cases/items/{target}/edit", f"/ui/datasets/cases/items/{target}/remove"):
        for data in ({}, {"csrf_token": "forged"}):
            assert "CSRF" in assert_page(admin.post(url, data={**data, "input": '"x"', "base": "1"}), 403)
    assert api.get("/api/v1/datasets/cases").json()["latest_version"] == 1


def test_another_projects_dataset_is_a_404_page(admin: httpx.Client, api: httpx.Client, prepared) -> None:
    with prepared.write() as session:
        other = service.create_project(session, SYSTEM, "other")
        result = editing.add_item(session, SYSTEM, other.id, "theirs", {"input": "secret"})
    page = admin.get("/ui/datasets")
    assert "theirs" not in assert_page(page, 200)
    item = result["item_id"]
    for url in ("/ui/datasets/theirs", "/ui/datasets/theirs/versions/1", "/ui/datasets/theirs/versions/1/export",
                f"/ui/datasets/theirs/items/{item}/edit", f"/ui/datasets/theirs/items/{item}/remove"):  # fmt: skip
        assert "No dataset" in assert_page(admin.get(url), 404), url
    assert_page(admin.post(f"/ui/datasets/theirs/items/{item}/remove", data={"csrf_token": csrf_of(page), "base": "1"}), 404)


def test_adding_a_trace_links_to_the_dataset_page(admin: httpx.Client, api: httpx.Client) -> None:
    tid, _ = send_trace(api, attrs={"input.value": json.dumps({"question": "from a trace"}), "output.value": "ok"})
    page = admin.get(f"/ui/traces/{tid}")
    done = admin.post(f"/ui/traces/{tid}/datasets", data={"csrf_token": csrf_of(page), "new_dataset": "from-trace"})
    shown = assert_page(admin.get(done.headers["location"]), 200)
    link = re.search(r'<a href="([^"]+)" data-dataset-link>', shown).group(1)
    assert link == "/ui/datasets/from-trace/versions/1"
    assert "from a trace" in assert_page(admin.get(link), 200)
