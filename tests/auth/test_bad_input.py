"""Bad request bodies: each gets a precise 400/409/422 in the error shape, and nothing is stored."""

from __future__ import annotations

import pytest

from tests.auth.conftest import db_state
from tests.conftest import assert_error

JSON = {"content-type": "application/json"}
ROUTES = [("POST", "/api/v1/projects"), ("POST", "/api/v1/users"), ("POST", "/api/v1/keys"), ("PATCH", "/api/v1/users/{me}")]


def route(api_path: str, default) -> str:
    return api_path.format(me=default.admin_user_id)


@pytest.mark.parametrize("method,path", ROUTES)
@pytest.mark.parametrize(
    "content", [b'{"name": ', b"{'name': 'single quotes'}", b'{"name": "x",}', b"not json at all", b"\xff\xfe\x00"]
)
def test_malformed_json_answers_400(api, unchanged, default, method, path, content):
    error = assert_error(api.request(method, route(path, default), content=content, headers=JSON), 400, "malformed_json")
    assert "not valid JSON" in error["message"]
    unchanged()


@pytest.mark.parametrize("method,path", ROUTES)
@pytest.mark.parametrize("content", [b"[]", b'[{"name": "x"}]', b'"a string"', b"42", b"null", b"true"])
def test_a_body_that_is_not_an_object_answers_400(api, unchanged, default, method, path, content):
    response = api.request(method, route(path, default), content=content, headers=JSON)
    error = assert_error(response, 400, "malformed_json")
    assert "must be a JSON object" in error["message"]
    unchanged()


@pytest.mark.parametrize("method,path", ROUTES)
def test_an_empty_body_answers_422_body_required(api, unchanged, default, method, path):
    error = assert_error(api.request(method, route(path, default), content=b"", headers=JSON), 422, "validation_error")
    assert "is required" in error["message"]
    unchanged()


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_body_that_is_not_declared_json_is_refused(api, unchanged, content_type):
    headers = {"content-type": content_type} if content_type else {}
    response = api.post("/api/v1/keys", content=b'{"name": "undeclared"}', headers=headers)
    error = assert_error(response, 400, "malformed_json")
    assert "Content-Type: application/json" in error["message"]
    unchanged()


def test_json_subtypes_and_charsets_are_accepted(api):
    for content_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
        response = api.post("/api/v1/keys", content=b'{"name": "typed"}', headers={"content-type": content_type})
        assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    "path,body,fields",
    [
        ("/api/v1/projects", {"name": "ok", "colour": "red"}, ["colour"]),
        ("/api/v1/projects", {"name": 7}, ["name"]),
        ("/api/v1/projects", {"name": "ok", "description": ["x"]}, ["description"]),
        ("/api/v1/projects", {"name": "ok", "description": "d" * 501}, ["description"]),
        ("/api/v1/projects", {"name": "n" * 65}, ["name"]),
        ("/api/v1/projects", {"name": ""}, ["name"]),
        ("/api/v1/projects", {}, ["name"]),
        ("/api/v1/keys", {"name": None, "scopes": ["nope"], "extra": 1}, ["name", "scopes.0", "extra"]),
        ("/api/v1/users", {"email": None, "role": 3}, ["email", "role"]),
    ],
)
def test_wrong_types_and_unknown_fields_answer_422_naming_them(api, unchanged, path, body, fields):
    error = assert_error(api.post(path, json=body), 422, "validation_error")
    for field in fields:
        assert f"{field}:" in error["message"], error
    assert [d["field"] for d in error["details"]] == fields
    assert all(d["in"] == "body" and d["message"] for d in error["details"])
    unchanged()


def test_unknown_field_message_says_to_remove_it(api, unchanged):
    error = assert_error(api.post("/api/v1/keys", json={"name": "x", "nmae": "typo"}), 422, "validation_error")
    assert "nmae: is not a known field" in error["message"]
    unchanged()


@pytest.mark.parametrize(
    "name", ["Upper", "with space", "-leading-dash", ".dot", "ünïcode", "a/b", "semi;colon", "emoji-🙂", " padded"]
)
def test_invalid_project_names_answer_400(api, unchanged, name):
    error = assert_error(api.post("/api/v1/projects", json={"name": name}), 400, "invalid_input")
    assert "Project name" in error["message"] and "lower-case" in error["message"]
    unchanged()


@pytest.mark.parametrize("name", ["a", "my-project", "v1.2_beta", "0day", "x" * 64])
def test_valid_project_names_are_accepted(api, name):
    response = api.post("/api/v1/projects", json={"name": name})
    assert response.status_code == 201, response.text
    assert response.json()["project"]["name"] == name


def test_a_duplicate_project_name_answers_409(api, prepared, other):
    state = db_state(prepared)
    for name in ("default", "other"):
        error = assert_error(api.post("/api/v1/projects", json={"name": name}), 409, "conflict")
        assert name in error["message"]
    assert db_state(prepared) == state
    assert api.post("/api/v1/projects", json={"name": "third"}).status_code == 201
    assert_error(api.post("/api/v1/projects", json={"name": "third"}), 409, "conflict")


def test_a_duplicate_email_in_the_project_answers_409(api, prepared):
    assert api.post("/api/v1/users", json={"email": "dup@example.com", "password": "long enough"}).status_code == 201
    state = db_state(prepared)
    for email in ("dup@example.com", "DUP@example.com", " dup@example.com "):
        assert_error(api.post("/api/v1/users", json={"email": email}), 409, "conflict")
        assert_error(api.post("/api/v1/users", json={"email": email, "password": "long enough"}), 409, "conflict")
    assert db_state(prepared) == state
