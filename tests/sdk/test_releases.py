"""``client.releases`` on SQLite and Postgres: resolve with its in-process cache, and release management.

Acceptance: after a rollback, SDK clients serve the new config within their cache TTL (measured by polling,
with a generous bound and no timing assertion).
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from stackwright.sdk import AsyncClient, Client, ConflictError, NotFoundError
from tests.conftest import TEST_API_KEY
from tests.releases.conftest import ROUTE, client_for, default, make_key, other, prompts  # noqa: F401  (fixtures)
from tests.sdk.server import running_server


@pytest.fixture
def sdk(connect, prompts):  # noqa: F811
    client = connect(TEST_API_KEY)
    client.releases.set(ROUTE, "production", "support-answer@1", "gpt-4o-mini", settings={"retrieval_k": 5})
    return client


def test_manage_a_release_through_the_sdk(sdk):
    releases = sdk.releases
    canary = releases.canary(ROUTE, "production", "support-answer@2", 10, mode="canary",
                             rollback_rules={"error_rate_margin": 0.05, "min_requests": 10}, require_eval="regression")  # fmt: skip
    assert canary["candidate"]["config"]["settings"] == {"retrieval_k": 5} and canary["required_eval"] == "regression"
    with pytest.raises(ConflictError, match="no passing result"):
        releases.promote(ROUTE, "production")
    assert releases.rules(ROUTE, "production", require_eval=None)["required_eval"] is None
    assert releases.check(ROUTE, "production", dry_run=True)["verdict"] == "insufficient_data"
    assert releases.promote(ROUTE, "production")["stable"]["prompt"] == "support-answer@2"
    assert releases.status(ROUTE, "production")["revision"] == 4
    assert [c["action"] for c in releases.history(ROUTE, "production")["data"]] == ["promote", "rules", "canary", "set"]
    assert [r["env"] for r in releases.list()] == ["production"]
    assert releases.rollback(ROUTE, "production", reason="sdk")["stable"]["prompt"] == "support-answer@1"
    with pytest.raises(NotFoundError, match="No release for route"):
        releases.status(ROUTE, "staging")
    with pytest.raises(ConflictError, match="revision"):
        releases.set(ROUTE, "production", "support-answer@3", "m", expected_revision=1)


def test_resolve_is_cached_until_the_ttl_and_changes_through_this_client_clear_it(sdk, api):
    releases = sdk.releases
    releases.cache_ttl_s = 3600
    releases.canary(ROUTE, "production", "support-answer@2", 100)
    first = releases.resolve(ROUTE, "production", subject="user-1")
    assert first["arm"] == "candidate" and first["config"]["prompt"] == "support-answer@2"
    # Another client rolls back: this client keeps its cached answer until the TTL, unless asked fresh.
    assert api.post(f"/api/v1/releases/{ROUTE}/rollback", json={"env": "production"}).status_code == 200
    assert releases.resolve(ROUTE, "production", subject="user-1") is first
    assert releases.resolve(ROUTE, "production", subject="user-1", fresh=True)["arm"] == "stable"
    # A change made through this client drops its cached answers for the route at once.
    releases.canary(ROUTE, "production", "support-answer@3", 100)
    assert releases.resolve(ROUTE, "production", subject="user-1")["config"]["prompt"] == "support-answer@3"


def test_after_a_rollback_clients_serve_the_new_config_within_their_ttl(sdk, api):
    sdk.releases.cache_ttl_s = 0.5
    sdk.releases.canary(ROUTE, "production", "support-answer@2", 100)
    assert sdk.releases.resolve(ROUTE, "production", subject="user-1")["arm"] == "candidate"
    assert api.post(f"/api/v1/releases/{ROUTE}/rollback", json={"env": "production"}).status_code == 200
    rolled_back_at = time.monotonic()
    deadline = rolled_back_at + 60  # generous: the TTL is 0.5 s (plus the server's 2 s on other replicas)
    answer = sdk.releases.resolve(ROUTE, "production", subject="user-1")
    while answer["arm"] != "stable" and time.monotonic() < deadline:
        time.sleep(0.05)
        answer = sdk.releases.resolve(ROUTE, "production", subject="user-1")
    took = time.monotonic() - rolled_back_at
    assert answer["arm"] == "stable" and answer["config"]["prompt"] == "support-answer@1", f"still old after {took:.1f} s"
    print(f"SDK served the rolled-back config {took:.2f} s after the rollback (cache TTL 0.5 s)")


def test_random_draws_without_a_subject_are_not_cached(sdk):
    sdk.releases.canary(ROUTE, "production", "support-answer@2", 50)
    arms = {sdk.releases.resolve(ROUTE, "production")["arm"] for _ in range(200)}
    assert arms == {"stable", "candidate"}
    # Without a candidate the answer does not depend on the subject, so it is cached.
    sdk.releases.rollback(ROUTE, "production")
    cached = sdk.releases.resolve(ROUTE, "production")
    assert cached["varies"] is False and sdk.releases.resolve(ROUTE, "production") is cached


def test_async_client_resolves_and_caches(app, prompts, sdk):  # noqa: F811
    async def run() -> None:
        transport = httpx.ASGITransport(app=app)
        async with AsyncClient("http://stackwright.test", TEST_API_KEY, transport=transport) as client:
            first = await client.releases.resolve(ROUTE, "production", subject="u")
            assert first["arm"] == "stable" and first["config"]["settings"] == {"retrieval_k": 5}
            assert await client.releases.resolve(ROUTE, "production", subject="u") is first
            await client.releases.canary(ROUTE, "production", "support-answer@2", 100)
            assert (await client.releases.resolve(ROUTE, "production", subject="u"))["arm"] == "candidate"
            assert (await client.releases.status(ROUTE, "production"))["candidate"]["share"] == 100

    asyncio.run(run())


@pytest.mark.e2e
def test_resolve_serves_the_last_answer_when_the_server_is_gone(tmp_path):
    key = "sw-e2e-release-key-0123456789abcdef"
    with running_server(tmp_path / "home", key) as server:
        headers = {"Authorization": f"Bearer {key}"}
        body = {"name": "support-answer", "type": "text", "template": "Answer {{ question }}."}
        assert httpx.post(f"{server.base_url}/api/v1/prompts", json=body, headers=headers).status_code in (200, 201)
        client = Client(base_url=server.base_url, api_key=key, timeout=5)
        client.releases.set(ROUTE, "production", "support-answer@1", "local/extractive")
        client.releases.cache_ttl_s = 0.01
        assert client.releases.resolve(ROUTE, "production", subject="u")["config"]["prompt"] == "support-answer@1"
    assert server.returncode == 0, server.log()[-2000:]  # the release guard stops with the server
    time.sleep(0.02)
    stale = client.releases.resolve(ROUTE, "production", subject="u")
    assert stale["stale"] is True and stale["config"]["prompt"] == "support-answer@1"
    from stackwright.sdk import APIConnectionError

    with pytest.raises(APIConnectionError):
        client.releases.resolve(ROUTE, "production", subject="never-seen")
    client.close()
