"""Server errors become typed exceptions with the server's message, code, details, status and request id."""

from __future__ import annotations

import httpx
import pytest

from stackwright.sdk import (
    APIConnectionError,
    AuthenticationError,
    Client,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    StackwrightAPIError,
)
from stackwright.sdk.errors import error_class
from tests.sdk.server import free_port


def mocked(status: int, body: bytes, content_type: str = "application/json") -> Client:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers={"content-type": content_type, "x-request-id": "req-123"})

    return Client("http://mocked.test", "sw-mocked", transport=httpx.MockTransport(handler))


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, InvalidRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (413, PayloadTooLargeError),
        (422, InvalidRequestError),
        (429, RateLimitError),
        (500, ServerError),
        (503, ServerError),
        (418, StackwrightAPIError),
    ],
)
def test_each_status_maps_to_its_class_with_the_servers_fields(status, cls):
    body = b'{"error": {"code": "some_code", "message": "The server says why.", "details": {"field": "name"}}}'
    with mocked(status, body) as sdk, pytest.raises(StackwrightAPIError) as caught:
        sdk.me()
    err = caught.value
    assert type(err) is cls and error_class(status) is cls
    assert (err.message, err.code, err.details) == ("The server says why.", "some_code", {"field": "name"})
    assert err.status == status and err.request_id == "req-123" and err.response.status_code == status
    assert str(err) == f"The server says why. (HTTP {status}, some_code, request id req-123)"


def test_a_non_json_error_body_still_explains_itself():
    with mocked(502, b"<html>upstream is down</html>", "text/html") as sdk, pytest.raises(ServerError) as caught:
        sdk.projects.list()
    assert caught.value.status == 502 and caught.value.code == "http_502"
    assert "502 Bad Gateway" in caught.value.message and "upstream is down" in caught.value.message


def test_an_empty_error_body_still_explains_itself():
    with mocked(429, b"", "text/plain") as sdk, pytest.raises(RateLimitError, match="429 Too Many Requests with no body"):
        sdk.me()


def test_missing_api_key_fails_before_sending(monkeypatch):
    sent = []
    transport = httpx.MockTransport(lambda request: sent.append(request) or httpx.Response(200, json={"status": "ok"}))
    monkeypatch.delenv("STACKWRIGHT_API_KEY", raising=False)
    with Client("http://mocked.test", transport=transport) as sdk:
        with pytest.raises(AuthenticationError, match="STACKWRIGHT_API_KEY") as caught:
            sdk.keys.list()
        assert caught.value.code == "missing_api_key" and caught.value.status is None and sent == []
        assert sdk.health() == {"status": "ok"}  # probes need no key
    assert "authorization" not in sent[0].headers


@pytest.mark.parametrize("make_client", ["sync", "async"])
def test_closed_port_raises_connection_error_naming_the_url(make_client):
    import anyio

    from stackwright.sdk import AsyncClient

    base_url = f"http://127.0.0.1:{free_port()}"
    if make_client == "sync":
        with Client(base_url, "sw-unused", timeout=5) as sdk, pytest.raises(APIConnectionError) as caught:
            sdk.me()
    else:

        async def call() -> None:
            async with AsyncClient(base_url, "sw-unused", timeout=5) as sdk:
                await sdk.health()

        with pytest.raises(APIConnectionError) as caught:
            anyio.run(call)
    assert base_url in caught.value.message and "stackwright serve" in caught.value.message
    assert "STACKWRIGHT_BASE_URL" in caught.value.message and caught.value.status is None
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


def test_timeout_raises_connection_error_saying_so():
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with Client("http://mocked.test", "sw-x", timeout=0.5, transport=httpx.MockTransport(slow)) as sdk:
        with pytest.raises(APIConnectionError, match=r"did not answer within 0.5 seconds"):
            sdk.health()


# -- real server answers, in process, on both backends ---------------------------------------------


def test_unknown_ids_and_other_projects_ids_are_not_found(client, connect):
    other = client.projects.create("elsewhere")
    elsewhere = connect(other["api_key"]["key"])
    theirs = elsewhere.keys.create("theirs")
    ours = client.me()["key"]["id"]

    with pytest.raises(NotFoundError) as caught:
        client.projects.get(other["project"]["id"])
    assert caught.value.code == "not_found" and "Your key sees only its own project" in caught.value.message
    assert caught.value.request_id and caught.value.response.headers["x-request-id"] == caught.value.request_id
    with pytest.raises(NotFoundError):
        client.keys.get(theirs["id"])
    with pytest.raises(NotFoundError):
        client.keys.revoke(theirs["id"])
    with pytest.raises(NotFoundError):
        elsewhere.keys.get(ours)
    only_ours = client.users.add("only-default@example.com", password="long enough pw")
    with pytest.raises(NotFoundError):
        elsewhere.users.get(only_ours["id"])
    with pytest.raises(NotFoundError):
        elsewhere.users.update(only_ours["id"], role="admin")
    with pytest.raises(NotFoundError):
        client.users.get("usr/../../keys")  # ids are escaped into one path segment
    assert elsewhere.keys.get(theirs["id"])["revoked_at"] is None


def test_read_only_key_is_denied_admin_calls(client, connect):
    reader = connect(client.keys.create("reader", scopes=["read"])["key"])
    assert reader.me()["key"]["scopes"] == ["read"]
    with pytest.raises(PermissionDeniedError) as caught:
        reader.keys.create("sneaky")
    assert caught.value.status == 403 and caught.value.code == "forbidden"
    assert "'admin' scope" in caught.value.message


def test_wrong_key_is_unauthenticated(connect):
    with pytest.raises(AuthenticationError) as caught:
        connect("sw-not-a-real-key-000000000000").me()
    assert caught.value.status == 401 and "key" in caught.value.message.lower()


def test_invalid_input_and_validation_errors(client):
    with pytest.raises(InvalidRequestError) as bad_cursor:
        client.audit.list(cursor="bogus")
    assert bad_cursor.value.status == 400 and "Cursor 'bogus' is not valid" in bad_cursor.value.message

    user = client.users.add("bob@example.com", password="long enough pw")
    with pytest.raises(InvalidRequestError) as bad_role:
        client.users.update(user["id"], role="emperor")
    assert bad_role.value.status == 422 and bad_role.value.code == "validation_error"
    assert bad_role.value.details[0]["field"] == "role"


def test_conflicts(client):
    with pytest.raises(ConflictError, match="A project named 'default' already exists"):
        client.projects.create("default")
    owner = client.me()["key"]["user_id"]
    with pytest.raises(ConflictError, match="last owner") as caught:
        client.users.remove(owner)
    assert caught.value.status == 409 and caught.value.code == "conflict"


def test_payload_too_large(settings):
    small = settings.model_copy(update={"max_body_bytes": 1024})
    with Client.in_process(small) as sdk, pytest.raises(PayloadTooLargeError) as caught:
        sdk.projects.create("big", description="x" * 2000)
    assert caught.value.status == 413 and "limit of 1024 bytes" in caught.value.message


def test_an_unhandled_server_bug_is_a_server_error_in_process(settings, monkeypatch):
    import anyio

    from stackwright.auth import service
    from stackwright.sdk import AsyncClient

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(service, "list_projects", broken)
    with Client.in_process(settings) as sdk, pytest.raises(ServerError) as sync_caught:
        sdk.projects.list()

    async def call() -> None:
        async with AsyncClient.in_process(settings) as sdk:
            await sdk.projects.list()

    with pytest.raises(ServerError) as async_caught:
        anyio.run(call)
    for caught in (sync_caught, async_caught):
        err = caught.value
        assert err.status == 500 and err.code == "internal_error" and "boom" not in err.message
        assert err.request_id and err.request_id in err.message and err.details == {"request_id": err.request_id}
