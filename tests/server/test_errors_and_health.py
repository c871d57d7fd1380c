"""Unexpected errors answer 500 in the error shape; /readyz tracks the schema; /openapi.json documents the API."""

from __future__ import annotations

import httpx
import pytest

from stackwright.auth import service
from stackwright.auth.deps import AdminCaller
from stackwright.core import migrate
from stackwright.core.deps import SessionDep
from tests.auth.conftest import db_state
from tests.conftest import TEST_API_KEY, assert_error

AUTH = {"Authorization": f"Bearer {TEST_API_KEY}"}


@pytest.fixture
def failing_app(settings, prepared):
    """The real app plus routes that fail in ways no handler expects."""
    from stackwright.server.app import create_app

    app = create_app(settings, prepared)

    @app.get("/boom")
    def boom() -> dict:
        raise RuntimeError("kaboom: a secret detail")

    @app.post("/api/v1/boom-after-write")
    def boom_after_write(caller: AdminCaller, session: SessionDep) -> dict:
        service.create_project(session, caller, "half-done")
        raise KeyError("after the write, before the commit")

    return app


@pytest.fixture
def failing(failing_app):
    from stackwright.sdk.transport import InProcessTransport

    # raise_app_exceptions=False: look at the answer a real server sends, as a client would.
    transport = InProcessTransport(failing_app, raise_app_exceptions=False)
    with httpx.Client(transport=transport, base_url="http://stackwright.test", headers=AUTH) as client:
        yield client


def test_an_unexpected_exception_answers_500_with_the_request_id(failing):
    response = failing.get("/boom", headers={"X-Request-ID": "trace-me-42"})
    error = assert_error(response, 500, "internal_error")
    assert error["details"] == {"request_id": "trace-me-42"}
    assert "trace-me-42" in error["message"]
    assert "kaboom" not in response.text and "RuntimeError" not in response.text  # no internals leak
    assert response.headers["x-request-id"] == "trace-me-42"


def test_a_500_gets_a_generated_request_id_too(failing):
    response = failing.get("/boom")
    error = assert_error(response, 500, "internal_error")
    assert error["details"]["request_id"] == response.headers["x-request-id"]
    assert len(response.headers["x-request-id"]) == 32


def test_the_app_does_not_raise_out_of_the_asgi_call(failing_app):
    """A real server would log a second traceback and may drop the connection if the exception escapes."""
    from stackwright.sdk.transport import InProcessTransport

    with httpx.Client(transport=InProcessTransport(failing_app), base_url="http://t") as client:
        response = client.get("/boom")
    assert_error(response, 500, "internal_error")


def test_a_failure_after_a_write_stores_nothing(failing, prepared):
    before = db_state(prepared)
    response = failing.post("/api/v1/boom-after-write")
    assert_error(response, 500, "internal_error")
    assert db_state(prepared) == before
    assert failing.get("/api/v1/me").status_code == 200  # and the server still serves


def test_the_500_is_logged_with_the_request_id(failing, caplog):
    with caplog.at_level("ERROR"):
        failing.get("/boom", headers={"X-Request-ID": "logged-id"})
    records = [r for r in caplog.records if getattr(r, "request_id", None) == "logged-id" and r.levelname == "ERROR"]
    assert records and records[0].exc_info and "kaboom" in str(records[0].exc_info[1])


# -- health -----------------------------------------------------------------------------------------


def test_healthz(anon):
    body = anon.get("/healthz").json()
    assert body["status"] == "ok" and body["version"]


def test_readyz_follows_the_schema(anon, prepared):
    ready = anon.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "database": "reachable", "migrations": sorted(migrate.head_revisions())}

    migrate.downgrade(prepared, "base")
    not_ready = anon.get("/readyz")
    assert not_ready.status_code == 503
    body = not_ready.json()
    assert body["status"] == "unavailable" and body["database"] == "reachable"
    assert "stackwright db upgrade" in body["migrations"] and sorted(migrate.head_revisions())[0] in body["migrations"]
    assert "x-request-id" in not_ready.headers

    migrate.upgrade(prepared)
    assert anon.get("/readyz").status_code == 200


def test_readyz_when_the_database_is_unreachable(tmp_path):
    from stackwright.core.config import Settings
    from stackwright.core.db import Database
    from stackwright.sdk.transport import InProcessTransport
    from stackwright.server.app import create_app

    settings = Settings(home=tmp_path, database_url=f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}")
    app = create_app(settings, Database(settings))
    with httpx.Client(transport=InProcessTransport(app), base_url="http://t") as client:
        response = client.get("/readyz")
        assert client.get("/healthz").status_code == 200  # alive, just not ready
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable" and "Cannot reach the database" in response.json()["database"]


# -- openapi ----------------------------------------------------------------------------------------


def test_openapi_lists_the_api_routes(anon):
    spec = anon.get("/openapi.json")
    assert spec.status_code == 200
    paths = spec.json()["paths"]
    expected = {
        "/api/v1/me": {"get"},
        "/api/v1/projects": {"get", "post"},
        "/api/v1/projects/{project_id}": {"get"},
        "/api/v1/users": {"get", "post"},
        "/api/v1/users/{user_id}": {"get", "patch", "delete"},
        "/api/v1/invitations": {"get", "post"},
        "/api/v1/invitations/{invitation_id}": {"delete"},
        "/api/v1/me/invitations": {"get"},
        "/api/v1/me/invitations/{invitation_id}/accept": {"post"},
        "/api/v1/me/invitations/{invitation_id}/decline": {"post"},
        "/api/v1/keys": {"get", "post"},
        "/api/v1/keys/{key_id}": {"get", "delete"},
        "/api/v1/audit": {"get"},
        "/healthz": {"get"},
        "/readyz": {"get"},
    }
    for path, methods in expected.items():
        assert path in paths, path
        assert set(paths[path]) == methods, path
        assert all(op.get("summary") for op in paths[path].values())
    audit_params = {p["name"] for p in paths["/api/v1/audit"]["get"]["parameters"]}
    assert {"action", "object_type", "object_id", "since", "cursor", "limit"} <= audit_params


def test_docs_page_is_served(anon):
    response = anon.get("/docs")
    assert response.status_code == 200 and "openapi.json" in response.text


def test_docs_page_works_offline(anon):
    """The Swagger UI page loads its script and style from this server, never from a CDN."""
    page = anon.get("/docs").text
    assert "cdn" not in page.lower() and "http://" not in page and "https://" not in page
    for asset in ("/docs-assets/swagger-ui-bundle.js", "/docs-assets/swagger-ui.css"):
        assert asset in page
        response = anon.get(asset)
        assert response.status_code == 200 and len(response.content) > 1000
