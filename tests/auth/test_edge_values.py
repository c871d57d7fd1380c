"""Values the database cannot take (NUL characters, out-of-range times) are refused as 4xx, never a 500."""

from __future__ import annotations

import pytest

from tests.conftest import TEST_API_KEY, assert_error


@pytest.mark.parametrize(
    "path,body,field",
    [
        ("/api/v1/keys", {"name": "a\x00b"}, "name"),
        ("/api/v1/projects", {"name": "ok", "description": "nul\x00here"}, "description"),
        ("/api/v1/users", {"email": "a\x00b@example.com"}, "email"),
        ("/api/v1/users", {"email": "pw@example.com", "password": "abcdefgh\x00"}, "password"),
    ],
)
def test_nul_characters_in_bodies_answer_422(api, unchanged, path, body, field):
    error = assert_error(api.post(path, json=body), 422, "validation_error")
    assert f"{field}: " in error["message"] and "NUL" in error["message"]
    unchanged()


@pytest.mark.parametrize(
    "path,params",
    [
        ("/api/v1/users/usr%00x", None),
        ("/api/v1/keys/key%00x", None),
        ("/api/v1/audit", {"action": "a\x00b"}),
        ("/api/v1/audit", {"object_id": "\x00"}),
    ],
)
def test_nul_characters_in_paths_and_queries_are_not_a_500(api, unchanged, backend, path, params):
    response = api.get(path, params=params)
    if backend == "postgres":  # Postgres refuses NUL in text: a clear 400
        error = assert_error(response, 400, "invalid_input")
        assert "NUL" in error["message"] and error["details"]["request_id"] == response.headers["x-request-id"]
    elif path == "/api/v1/audit":  # SQLite compares it: nothing matches
        assert response.status_code == 200 and response.json()["data"] == []
    else:
        assert_error(response, 404, "not_found")
    unchanged()


def test_nul_characters_in_the_key_answer_401(client_for, unchanged):
    response = client_for(TEST_API_KEY[:-3] + "\x00" + TEST_API_KEY[-3:]).get("/api/v1/me")
    assert_error(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"] == "Bearer"
    response = client_for(TEST_API_KEY[:8] + "\x00" + TEST_API_KEY[9:]).post("/api/v1/keys", json={"name": "x"})
    assert_error(response, 401, "unauthenticated")
    unchanged()


@pytest.mark.parametrize(
    "expires_at", ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00", "10000-01-01T00:00:00Z", 1e20]
)
def test_out_of_range_expiry_answers_422(api, unchanged, expires_at):
    error = assert_error(api.post("/api/v1/keys", json={"name": "x", "expires_at": expires_at}), 422, "validation_error")
    assert "expires_at: " in error["message"]
    unchanged()


@pytest.mark.parametrize("expires_at", ["9999-12-31T23:59:59Z", "2999-12-31T23:59:59+05:00"])
def test_far_future_expiry_is_accepted(api, client_for, expires_at):
    created = api.post("/api/v1/keys", json={"name": "long-lived", "expires_at": expires_at})
    assert created.status_code == 201, created.text
    assert created.json()["expires_at"].startswith(expires_at[:4])
    assert client_for(created.json()["key"]).get("/api/v1/me").status_code == 200


@pytest.mark.parametrize("since", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"])
def test_out_of_range_since_answers_422(api, since):
    error = assert_error(api.get("/api/v1/audit", params={"since": since}), 422, "validation_error")
    assert "since: " in error["message"] and "out of range" in error["message"]


@pytest.mark.parametrize("since,count", [("0001-01-01T00:00:00", "all"), ("9999-12-31T23:59:59+00:00", "none")])
def test_extreme_but_valid_since(api, since, count):
    response = api.get("/api/v1/audit", params={"since": since})
    assert response.status_code == 200, response.text
    assert (len(response.json()["data"]) > 0) == (count == "all")
