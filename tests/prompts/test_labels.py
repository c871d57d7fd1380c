"""Labels: moves, protected labels and admin scope, history and audit, removal, isolation between projects."""

from __future__ import annotations

from tests.auth.conftest import client_for, default, make_key, other  # noqa: F401  (fixtures)
from tests.conftest import assert_error
from tests.prompts.conftest import SUPPORT, push, support


def _three_versions(api):
    for text in ("one {{ product }}", "two {{ product }}", "three {{ product }}"):
        push(api, support(system=text, labels=[]))


def test_moving_labels_and_the_history(api):
    _three_versions(api)
    moved = api.put("/api/v1/prompts/support-answer/labels/staging", json={"version": 2}).json()
    assert moved == {"name": "support-answer", "label": "staging", "version": 2, "previous_version": None, "moved": True}
    again = api.put("/api/v1/prompts/support-answer/labels/staging", json={"version": 2}).json()
    assert again["moved"] is False and again["previous_version"] == 2
    api.put("/api/v1/prompts/support-answer/labels/staging", json={"version": 1})
    api.put("/api/v1/prompts/support-answer/labels/eu-canary", json={"version": 3})
    assert api.get("/api/v1/prompts/support-answer", params={"label": "staging"}).json()["version"] == 1
    listed = api.get("/api/v1/prompts").json()["data"][0]
    assert listed["labels"] == {"eu-canary": 3, "latest": 3, "staging": 1} and listed["latest_version"] == 3
    history = api.get("/api/v1/prompts/support-answer/history").json()["data"]
    assert [(h["label"], h["from_version"], h["to_version"]) for h in history] == [
        ("eu-canary", None, 3), ("staging", 2, 1), ("staging", None, 2), ("latest", 2, 3), ("latest", 1, 2), ("latest", None, 1)
    ]  # fmt: skip
    only = api.get("/api/v1/prompts/support-answer/history", params={"label": "staging", "limit": 1}).json()
    assert len(only["data"]) == 1 and only["next_cursor"]
    rest = api.get("/api/v1/prompts/support-answer/history", params={"label": "staging", "cursor": only["next_cursor"]}).json()
    assert [h["to_version"] for h in rest["data"]] == [2] and rest["next_cursor"] is None
    audit = api.get("/api/v1/audit", params={"action": "prompt.label.move"}).json()["data"]
    assert [(a["before"]["version"], a["after"]["version"]) for a in audit] == [(None, 3), (2, 1), (None, 2)]


def test_removing_a_label(api):
    _three_versions(api)
    api.put("/api/v1/prompts/support-answer/labels/staging", json={"version": 2})
    removed = api.delete("/api/v1/prompts/support-answer/labels/staging").json()
    assert removed == {"name": "support-answer", "label": "staging", "previous_version": 2, "removed": True}
    assert_error(api.get("/api/v1/prompts/support-answer", params={"label": "staging"}), 404)
    assert_error(api.delete("/api/v1/prompts/support-answer/labels/staging"), 404)
    assert_error(api.delete("/api/v1/prompts/support-answer/labels/latest"), 400)
    assert api.get("/api/v1/prompts/support-answer/history").json()["data"][0]["to_version"] is None


def test_protected_labels_move_only_with_admin(api, make_key, client_for):
    _three_versions(api)
    writer = client_for(make_key(["read", "write"])[1])
    reader = client_for(make_key(["read"])[1])
    error = assert_error(writer.put("/api/v1/prompts/support-answer/labels/production", json={"version": 1}), 403, "forbidden")
    assert "protected" in error["message"] and "admin" in error["message"]
    assert_error(writer.post("/api/v1/prompts", json=support(system="four {{ product }}", labels=["production"])), 403)
    assert api.get("/api/v1/prompts/support-answer").json()["version"] == 3  # the refused push stored nothing
    assert_error(reader.put("/api/v1/prompts/support-answer/labels/staging", json={"version": 1}), 403)
    assert writer.put("/api/v1/prompts/support-answer/labels/staging", json={"version": 1}).status_code == 200
    assert api.put("/api/v1/prompts/support-answer/labels/production", json={"version": 2}).json()["moved"] is True
    assert_error(writer.delete("/api/v1/prompts/support-answer/labels/production"), 403)
    # protection is per prompt, set by admins only
    assert_error(writer.put("/api/v1/prompts/support-answer/protected-labels", json={"labels": ["staging"]}), 403)
    assert_error(writer.post("/api/v1/prompts", json=support(protected_labels=[])), 403)
    result = api.put("/api/v1/prompts/support-answer/protected-labels", json={"labels": ["staging", "production"]}).json()
    assert result == {"name": "support-answer", "protected_labels": ["staging", "production"], "changed": True}
    assert_error(writer.put("/api/v1/prompts/support-answer/labels/staging", json={"version": 2}), 403)
    api.put("/api/v1/prompts/support-answer/protected-labels", json={"labels": []})
    assert writer.put("/api/v1/prompts/support-answer/labels/production", json={"version": 3}).json()["moved"] is True
    assert_error(api.put("/api/v1/prompts/support-answer/protected-labels", json={"labels": ["latest"]}), 400)
    audit = api.get("/api/v1/audit", params={"action": "prompt.protect"}).json()["data"]
    assert len(audit) == 2


def test_a_push_by_an_admin_may_set_protection_in_the_file(api):
    push(api, support(protected_labels=["production", "eu"], labels=["production"]))
    listed = api.get("/api/v1/prompts").json()["data"][0]
    assert listed["protected_labels"] == ["production", "eu"] and listed["labels"]["production"] == 1


def test_another_projects_prompts_are_invisible(api, other, client_for):
    push(api, SUPPORT)
    theirs = client_for(other.key)
    push(theirs, support(system="theirs {{ product }}"))  # the same name in another project is its own prompt
    push(theirs, {"name": "secret", "template": "classified"})
    assert [p["name"] for p in api.get("/api/v1/prompts").json()["data"]] == ["support-answer"]
    assert api.get("/api/v1/prompts/support-answer").json()["messages"][0]["content"].startswith("You are")
    for method, path, body in [
        ("GET", "/api/v1/prompts/secret", None),
        ("GET", "/api/v1/prompts/secret/versions", None),
        ("GET", "/api/v1/prompts/secret/history", None),
        ("GET", "/api/v1/prompts/secret/diff?from=1&to=1", None),
        ("POST", "/api/v1/prompts/secret/render", {}),
        ("PUT", "/api/v1/prompts/secret/labels/staging", {"version": 1}),
        ("DELETE", "/api/v1/prompts/secret/labels/latest", None),
        ("PUT", "/api/v1/prompts/secret/protected-labels", {"labels": []}),
    ]:
        error = assert_error(api.request(method, path, json=body), 404 if "latest" not in path else 400)
        assert "classified" not in str(error)
    # including another project's prompt is impossible too
    assert_error(api.post("/api/v1/prompts", json={"name": "x", "template": "{% include 'prompt:secret' %}"}), 404)
    assert theirs.get("/api/v1/prompts/secret").json()["template"] == "classified"
