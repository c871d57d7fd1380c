"""The async client against the app in process (httpx.ASGITransport), on SQLite and Postgres."""

from __future__ import annotations

import anyio
import pytest

from stackwright.sdk import AsyncClient, AuthenticationError, NotFoundError, PermissionDeniedError
from tests.conftest import TEST_ADMIN_EMAIL


def test_async_resources_end_to_end(settings):
    async def scenario() -> None:
        async with AsyncClient.in_process(settings) as sdk:
            assert (await sdk.health())["status"] == "ok"
            assert (await sdk.ready())["database"] == "reachable"
            me = await sdk.me()
            assert me["user_email"] == TEST_ADMIN_EMAIL
            [project] = await sdk.projects.list()
            assert (await sdk.projects.get(project["id"]))["name"] == "default"

            user = await sdk.users.add("grace@example.com", password="long enough pw")
            assert user["role"] == "member"
            assert (await sdk.users.update(user["id"], role="viewer"))["role"] == "viewer"
            assert await sdk.users.remove(user["id"]) is None
            with pytest.raises(NotFoundError):
                await sdk.users.get(user["id"])

            created = await sdk.keys.create("reader", scopes=["read"])
            assert created["id"] in [k["id"] for k in await sdk.keys.list()]
            async with AsyncClient.in_process(settings, api_key=created["key"]) as reader:
                assert (await reader.me())["key"]["scopes"] == ["read"]
                with pytest.raises(PermissionDeniedError):
                    await reader.keys.create("nope")
                assert (await sdk.keys.revoke(created["id"]))["revoked_at"]
                with pytest.raises(AuthenticationError):
                    await reader.me()

            page = await sdk.audit.list(limit=3)
            assert len(page) == 3 and page.next_cursor
            everything = (await sdk.audit.list(limit=500)).data
            assert [e["id"] async for e in sdk.audit.iter(limit=3)] == [e["id"] for e in everything]
            actions = [e["action"] async for e in sdk.audit.iter(object_type="api_key")]
            assert actions[:2] == ["key.revoke", "key.create"]
            assert {"member.add", "member.update", "member.remove"} <= {e["action"] for e in everything}

    anyio.run(scenario)
