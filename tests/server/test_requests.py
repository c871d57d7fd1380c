"""Server plumbing: request ids, the body size limit (declared and streamed), 404/405 in the error shape."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from sqlalchemy import func, select

from stackwright.auth.models import AuditEntry, Project
from stackwright.core.config import Settings
from tests.conftest import TEST_API_KEY, assert_error

AUTH = {"Authorization": f"Bearer {TEST_API_KEY}"}
LIMIT = 2048
GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")


# -- request ids -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path,status", [("/healthz", 200), ("/readyz", 200), ("/", 200), ("/api/v1/me", 401), ("/nope", 404), ("/api/v1/keys/x", 401)]
)
def test_every_response_has_a_request_id(anon, path, status):
    response = anon.get(path)
    assert response.status_code == status
    assert GENERATED_ID.match(response.headers["x-request-id"])


def test_request_ids_are_unique(anon):
    ids = {anon.get("/healthz").headers["x-request-id"] for _ in range(5)}
    assert len(ids) == 5


@pytest.mark.parametrize("sane", ["abc", "req-123_4.5:6", "A" * 64, "0f8e6c5b-1d2e-4f3a-9b8c-7d6e5f4a3b2c"])
def test_a_sane_incoming_request_id_is_echoed(api, sane):
    assert api.get("/api/v1/me", headers={"X-Request-ID": sane}).headers["x-request-id"] == sane
    assert api.get("/nope", headers={"X-Request-ID": sane}).headers["x-request-id"] == sane


@pytest.mark.parametrize("insane", ["has space", "A" * 65, "semi;colon", "new\tline", "<script>", "ümlaut", "a/b"])
def test_an_insane_incoming_request_id_is_replaced(anon, insane):
    response = anon.get("/healthz", headers={"X-Request-ID": insane.encode("utf-8")})
    assert response.status_code == 200
    assert GENERATED_ID.match(response.headers["x-request-id"])


def test_an_empty_request_id_is_replaced(anon):
    assert GENERATED_ID.match(anon.get("/healthz", headers={"X-Request-ID": ""}).headers["x-request-id"])


def test_one_request_id_header_only(anon):
    response = anon.get("/healthz", headers={"X-Request-ID": "only-one"})
    assert response.headers.get_list("x-request-id") == ["only-one"]


# -- 404 and 405 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method,path", [("GET", "/nope"), ("POST", "/api/v1/nothing"), ("GET", "/api/v2/me"), ("DELETE", "/api/v1/keys/a/b")]
)
def test_unknown_routes_answer_404_in_the_error_shape(api, method, path):
    error = assert_error(api.request(method, path), 404, "not_found")
    assert path in error["message"] and method in error["message"] and "/docs" in error["message"]


@pytest.mark.parametrize(
    "method,path",
    [("DELETE", "/api/v1/projects"), ("PUT", "/api/v1/keys"), ("POST", "/api/v1/me"), ("PATCH", "/api/v1/audit"), ("POST", "/healthz")],
)
def test_wrong_methods_answer_405_in_the_error_shape(api, method, path):
    response = api.request(method, path)
    error = assert_error(response, 405, "method_not_allowed")
    assert path in error["message"] and method in error["message"]
    assert "allow" in response.headers
    assert method not in response.headers["allow"]


# -- body size limit --------------------------------------------------------------------------------


@pytest.fixture
def small_app(settings, prepared):
    from stackwright.server.app import create_app

    small = Settings(**{**settings.model_dump(), "max_body_bytes": LIMIT})
    return create_app(small, prepared)


@pytest.fixture
def small_client(small_app):
    from stackwright.sdk.transport import InProcessTransport

    with httpx.Client(transport=InProcessTransport(small_app), base_url="http://stackwright.test", headers=AUTH) as client:
        yield client


def counts(db) -> tuple[int, int]:
    with db.read() as s:
        return s.scalar(select(func.count()).select_from(Project)), s.scalar(select(func.count()).select_from(AuditEntry))


def project_body(size: int) -> bytes:
    return b'{"name": "big", "description": "' + b"x" * size + b'"}'


def assert_413(response: httpx.Response) -> None:
    error = assert_error(response, 413, "payload_too_large")
    assert str(LIMIT) in error["message"] and "STACKWRIGHT_MAX_BODY_BYTES" in error["message"]
    assert GENERATED_ID.match(response.headers["x-request-id"])


def test_a_body_under_the_limit_is_accepted(small_client):
    body = project_body(400)
    assert len(body) < LIMIT
    response = small_client.post("/api/v1/projects", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 201, response.text


def test_a_declared_oversized_body_answers_413(small_client, prepared):
    before = counts(prepared)
    body = project_body(LIMIT)
    response = small_client.post("/api/v1/projects", content=body, headers={"content-type": "application/json"})
    assert_413(response)
    assert counts(prepared) == before


def test_413_comes_before_authentication(small_app, prepared):
    from stackwright.sdk.transport import InProcessTransport

    with httpx.Client(transport=InProcessTransport(small_app), base_url="http://t") as client:
        assert_413(client.post("/api/v1/keys", content=b"x" * (LIMIT + 1), headers={"content-type": "application/json"}))


def _stream_to(app, path: str, chunks: list[bytes], headers: dict[str, str]) -> tuple[httpx.Response, dict]:
    """POST a body without Content-Length (chunked): the in-process sync transport would add one."""
    seen: dict = {}

    async def recording_app(scope, receive, send):
        if scope["type"] == "http":
            seen["headers"] = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        await app(scope, receive, send)

    async def body():
        for chunk in chunks:
            yield chunk

    async def run() -> httpx.Response:
        transport = httpx.ASGITransport(app=recording_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://stackwright.test", headers=AUTH) as client:
            response = await client.post(path, content=body(), headers=headers)
            await response.aread()
            return response

    return asyncio.run(run()), seen


def test_a_streamed_oversized_body_answers_413(small_app, prepared):
    before = counts(prepared)
    body = project_body(3 * LIMIT)
    chunks = [body[i : i + 512] for i in range(0, len(body), 512)]
    response, seen = _stream_to(small_app, "/api/v1/projects", chunks, {"content-type": "application/json"})
    assert "content-length" not in seen["headers"] and seen["headers"]["transfer-encoding"] == "chunked"
    assert_413(response)
    assert counts(prepared) == before


def test_a_streamed_body_under_the_limit_is_accepted(small_app, prepared):
    body = project_body(300)
    response, seen = _stream_to(small_app, "/api/v1/projects", [body[:100], body[100:]], {"content-type": "application/json"})
    assert "content-length" not in seen["headers"]
    assert response.status_code == 201, response.text

