"""Key limits and usage over HTTP, on SQLite and Postgres: set/read, merge and clear, audit, validation,
scopes, project isolation, usage by key and model, and that a change reaches the app's enforcer at once."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from sqlalchemy import func, select

from stackwright.auth import keys, service
from stackwright.auth.actors import SYSTEM
from stackwright.auth.models import ApiKey, AuditEntry, Project
from stackwright.gateway.limits.enforcer import Enforcer
from stackwright.gateway.limits.errors import LimitExceeded
from stackwright.gateway.limits.models import GatewayLimit
from stackwright.gateway.limits.service import replace_model_limits
from tests.conftest import assert_error

NO_LIMITS = {"daily_usd": None, "monthly_usd": None, "rpm": None, "tpm": None}


@pytest.fixture
def ids(prepared) -> dict[str, str]:
    with prepared.read() as s:
        project = s.scalar(select(Project).where(Project.name == "default"))
        key = s.scalar(select(ApiKey).where(ApiKey.project_id == project.id))
        return {"project": project.id, "key": key.id, "prefix": key.prefix}


@pytest.fixture
def make_client(app):
    from stackwright.sdk.transport import InProcessTransport

    clients: list[httpx.Client] = []

    def make(raw_key: str) -> httpx.Client:
        client = httpx.Client(transport=InProcessTransport(app), base_url="http://stackwright.test",
                              headers={"Authorization": f"Bearer {raw_key}"})  # fmt: skip
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def other(prepared) -> dict[str, str]:
    """A second project with an admin key."""
    with prepared.write() as s:
        project = service.create_project(s, SYSTEM, "other")
        key, raw = keys.create_key(s, SYSTEM, project.id, "other admin", ["admin"])
        return {"project": project.id, "key": key.id, "raw": raw}


@pytest.fixture
def enforcer(app, prepared):
    started = time.time()  # one instant for the whole test: its requests never straddle two UTC minutes
    limits = Enforcer(prepared, clock=lambda: started, flush_interval_s=0.05)
    app.state.limits = limits
    yield limits
    limits.close()


def _traffic(enforcer: Enforcer, project_id: str, key_id: str | None, model: str, n: int, cost: float, tokens: int) -> None:
    async def go() -> None:
        for _ in range(n):
            ticket = await enforcer.admit(project_id, key_id, model)
            await enforcer.settle(ticket, cost, tokens)

    asyncio.run(go())


def _audit_count(prepared) -> int:
    with prepared.read() as s:
        return s.scalar(select(func.count()).select_from(AuditEntry)) or 0


def test_set_read_merge_and_clear_key_limits(api, ids):
    url = f"/api/v1/keys/{ids['key']}/limits"
    got = api.get(url)
    assert got.status_code == 200 and got.json() == {"key_id": ids["key"], "name": "bootstrap admin key", "limits": NO_LIMITS}
    put = api.put(url, json={"daily_usd": 10, "monthly_usd": 250.5, "rpm": 60})
    assert put.status_code == 200, put.text
    assert put.json()["limits"] == {"daily_usd": 10.0, "monthly_usd": 250.5, "rpm": 60, "tpm": None}
    changed = api.put(f"/api/v1/keys/{ids['prefix']}/limits", json={"rpm": None, "tpm": 5000})  # by prefix; rpm removed
    assert changed.json()["limits"] == {"daily_usd": 10.0, "monthly_usd": 250.5, "rpm": None, "tpm": 5000}
    assert api.get(url).json()["limits"] == changed.json()["limits"]
    cleared = api.put(url, json=NO_LIMITS)
    assert cleared.json()["limits"] == NO_LIMITS
    assert api.put(url, json={}).json()["limits"] == NO_LIMITS


def test_changes_are_audited(api, ids):
    url = f"/api/v1/keys/{ids['key']}/limits"
    api.put(url, json={"daily_usd": 5})
    api.put(url, json={"daily_usd": 5})  # no change, no entry
    api.put(url, json={"daily_usd": None, "rpm": 3})
    entries = api.get("/api/v1/audit", params={"action": "key.limits"}).json()["data"]
    assert [(e["object_id"], e["before"]["daily_usd"], e["after"]["daily_usd"], e["after"]["rpm"]) for e in entries] == [
        (ids["key"], 5.0, None, 3),
        (ids["key"], None, 5.0, None),
    ]
    assert entries[0]["actor"].startswith("key:")


BAD_BODIES = [
    ({"daily_usd": -1}, "daily_usd", "greater than or equal to 0"),
    ({"monthly_usd": "10"}, "monthly_usd", "valid number"),
    ({"rpm": 1.5}, "rpm", "valid integer"),
    ({"tpm": True}, "tpm", "valid integer"),
    ({"rpm": -5}, "rpm", "greater than or equal to 0"),
    ({"daily_usd": 1e12}, "daily_usd", "less than or equal to"),
    ({"budget": 5}, "budget", "not a known field"),
    ({"daily_usd": [1]}, "daily_usd", "valid number"),
]


@pytest.mark.parametrize(("body", "field", "needle"), BAD_BODIES, ids=[str(b) for b, _, _ in BAD_BODIES])
def test_bad_limits_are_422_with_the_field_and_change_nothing(api, ids, prepared, body, field, needle):
    url = f"/api/v1/keys/{ids['key']}/limits"
    api.put(url, json={"daily_usd": 1})
    audits = _audit_count(prepared)
    error = assert_error(api.put(url, json=body), 422, "validation_error")
    assert f"{field}:" in error["message"] and needle in error["message"], error["message"]
    assert api.get(url).json()["limits"] == {**NO_LIMITS, "daily_usd": 1.0}
    assert _audit_count(prepared) == audits


def test_not_finite_and_not_an_object_bodies_are_refused(api, ids):
    url = f"/api/v1/keys/{ids['key']}/limits"
    headers = {"content-type": "application/json"}
    nan = api.put(url, content=b'{"daily_usd": NaN}', headers=headers)
    assert "finite" in assert_error(nan, 400, "malformed_json")["message"]
    assert_error(api.put(url, content=b"[1, 2]", headers=headers), 400, "malformed_json")
    assert_error(api.put(url, content=b'{"rpm": ', headers=headers), 400, "malformed_json")
    assert api.get(url).json()["limits"] == NO_LIMITS


def test_reading_needs_read_scope_and_changing_needs_admin(api, ids, prepared, make_client):
    with prepared.write() as s:
        _, read_raw = keys.create_key(s, SYSTEM, ids["project"], "reader", ["read"])
        _, write_raw = keys.create_key(s, SYSTEM, ids["project"], "writer", ["read", "write"])
    url = f"/api/v1/keys/{ids['key']}/limits"
    api.put(url, json={"rpm": 7})
    for raw in (read_raw, write_raw):
        client = make_client(raw)
        assert client.get(url).json()["limits"]["rpm"] == 7
        assert client.get(f"/api/v1/keys/{ids['key']}/usage").status_code == 200
        assert client.get("/api/v1/gateway/usage").status_code == 200
        assert_error(client.put(url, json={"rpm": 1000}), 403, "forbidden")
    assert api.get(url).json()["limits"]["rpm"] == 7
    assert_error(make_client("sw-not-a-real-key-0123456789").get(url), 401)


def test_another_projects_key_is_not_found(api, ids, other, make_client, prepared):
    theirs = make_client(other["raw"])
    for client, key_id in ((api, other["key"]), (theirs, ids["key"])):
        assert_error(client.get(f"/api/v1/keys/{key_id}/limits"), 404, "not_found")
        assert_error(client.put(f"/api/v1/keys/{key_id}/limits", json={"rpm": 1}), 404, "not_found")
        assert_error(client.get(f"/api/v1/keys/{key_id}/usage"), 404, "not_found")
    assert_error(api.get("/api/v1/keys/key_doesnotexist/limits"), 404, "not_found")
    with prepared.read() as s:
        assert s.scalar(select(func.count()).select_from(GatewayLimit)) == 0


def test_usage_by_key_and_model(api, ids, other, enforcer, prepared, make_client):
    with prepared.write() as s:
        replace_model_limits(s, ids["project"], {"gpt-x": {"daily_usd": 20.0, "tpm": 100_000}, "idle": {"rpm": 5}})
    api.put(f"/api/v1/keys/{ids['key']}/limits", json={"daily_usd": 50, "rpm": 1000})
    _traffic(enforcer, ids["project"], ids["key"], "gpt-x", 4, 0.25, 100)
    _traffic(enforcer, ids["project"], ids["key"], "local/extractive", 2, 0.0, 30)
    _traffic(enforcer, other["project"], other["key"], "gpt-x", 3, 1.0, 10)  # another project's traffic

    mine = api.get(f"/api/v1/keys/{ids['key']}/usage").json()
    assert mine["scope"] == "key" and mine["subject"] == ids["key"] and mine["name"] == "bootstrap admin key"
    assert mine["limits"] == {"daily_usd": 50.0, "monthly_usd": None, "rpm": 1000, "tpm": None}
    for period in ("minute", "day", "month"):
        assert {k: mine["usage"][period][k] for k in ("usd", "requests", "tokens")} == {"usd": 1.0, "requests": 6, "tokens": 460}
    assert mine["usage"]["day"]["resets_at"].endswith("T00:00:00Z")

    listed = api.get("/api/v1/gateway/usage").json()["data"]
    by_subject = {(e["scope"], e["subject"]): e for e in listed}
    assert set(by_subject) == {("key", ids["key"]), ("model", "gpt-x"), ("model", "idle"), ("model", "local/extractive")}
    assert by_subject[("model", "gpt-x")]["usage"]["day"]["usd"] == 1.0
    assert by_subject[("model", "gpt-x")]["limits"]["tpm"] == 100_000
    assert by_subject[("model", "idle")]["usage"]["month"]["requests"] == 0
    models = api.get("/api/v1/gateway/usage", params={"scope": "model"}).json()["data"]
    assert [e["subject"] for e in models] == ["gpt-x", "idle", "local/extractive"]
    assert_error(api.get("/api/v1/gateway/usage", params={"scope": "team"}), 422)

    theirs = make_client(other["raw"]).get("/api/v1/gateway/usage").json()["data"]
    assert [(e["scope"], e["subject"], e["usage"]["day"]["usd"]) for e in theirs] == [
        ("key", other["key"], 3.0),
        ("model", "gpt-x", 3.0),
    ]


def test_a_change_through_the_api_reaches_the_enforcer_at_once(api, ids, enforcer):
    _traffic(enforcer, ids["project"], ids["key"], "m", 3, 0.0, 0)  # limits cached: none
    assert api.put(f"/api/v1/keys/{ids['key']}/limits", json={"rpm": 3}).status_code == 200
    with pytest.raises(LimitExceeded) as refused:
        _traffic(enforcer, ids["project"], ids["key"], "m", 1, 0.0, 0)
    assert refused.value.details["limit"] == "rpm"
    assert api.put(f"/api/v1/keys/{ids['key']}/limits", json={"rpm": None}).status_code == 200
    _traffic(enforcer, ids["project"], ids["key"], "m", 1, 0.0, 0)
