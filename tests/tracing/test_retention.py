"""Privacy deletes by end-user id, per-project trace settings (retention, prices) and the retention purge."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select

from stackwright.auth.actors import Actor
from stackwright.core.clock import utcnow
from stackwright.core.errors import Forbidden
from stackwright.tracing.admin import retention
from stackwright.tracing.models import Score, Span, Trace
from tests.conftest import assert_error
from tests.tracing.spans_helpers import send, span, span_id, trace_id
from tests.tracing.test_stats_scores import as_project, key_headers, other_project, seed

DAY_NS = 86_400 * 10**9


def now_ns() -> int:
    return time.time_ns()


def counts(db, project_id: str | None = None) -> dict[str, int]:
    with db.read() as session:

        def n(model) -> int:
            query = select(func.count()).select_from(model)
            if project_id:
                query = query.where(model.project_id == project_id)
            return session.scalar(query) or 0

        return {"traces": n(Trace), "spans": n(Span), "scores": n(Score)}


def project_id(api: httpx.Client, headers: dict | None = None) -> str:
    return api.get("/api/v1/me", headers=headers).json()["project"]["id"]


def score(api: httpx.Client, trace: str, **extra) -> None:
    response = api.post("/api/v1/scores", json={"trace_id": trace, "name": "q", "value": 1, **extra})
    assert response.status_code == 201, response.text


# -- privacy deletes ------------------------------------------------------------------------------


def test_delete_by_user_id_deletes_only_that_users_traces(api: httpx.Client, prepared) -> None:
    traces = seed(api, n=9)  # user0, user1, user2 in turn, on the root span
    # A trace where the user id is only on a child span counts too.
    t, root, child = trace_id(), span_id(), span_id()
    send(api, [span(t, root, "root", 0, 10), span(t, child, "child", 1, 9, parent=root, attrs={"user.id": "user0"})])
    for info in traces[:2]:
        score(api, info["trace_id"])
    score(api, t, span_id=child)
    other = other_project(api)
    seed(as_project(api, other), n=3, rng_seed=2)  # the same user ids in another project
    mine, theirs = project_id(api), project_id(api, other)
    before_theirs = counts(prepared, theirs)

    response = api.delete("/api/v1/traces", params={"user_id": "user0"})
    assert response.status_code == 200, response.text
    user0 = [i for i in traces if i["user_id"] == "user0"]
    assert response.json() == {"deleted_traces": len(user0) + 1, "deleted_spans": 2 * len(user0) + 2, "deleted_scores": 2}
    left = counts(prepared, mine)
    assert left == {"traces": 9 - len(user0), "spans": 2 * (9 - len(user0)), "scores": 1}  # user1's score stays
    with prepared.read() as session:
        users = set(session.scalars(select(Span.user_id).where(Span.project_id == mine, Span.user_id.isnot(None))))
    assert users == {"user1", "user2"}
    assert counts(prepared, theirs) == before_theirs  # the other project is untouched
    entry = api.get("/api/v1/audit", params={"action": "traces.delete_user"}).json()["data"][0]
    assert entry["object_id"] == "user0" and entry["after"]["deleted_traces"] == len(user0) + 1
    # Deleting again finds nothing; an unknown user is not an error.
    assert api.delete("/api/v1/traces", params={"user_id": "user0"}).json()["deleted_traces"] == 0


def test_delete_by_user_id_needs_admin_and_a_user(api: httpx.Client, prepared) -> None:
    seed(api, n=3)
    before = counts(prepared)
    assert_error(api.delete("/api/v1/traces"), 422, "validation_error")
    assert_error(api.delete("/api/v1/traces", params={"user_id": ""}), 422)
    assert_error(api.delete("/api/v1/traces", params={"user_id": "user0"}, headers=key_headers(api, "read", "write")), 403)
    assert counts(prepared) == before


# -- settings -------------------------------------------------------------------------------------


def test_trace_settings_round_trip_and_audit(api: httpx.Client) -> None:
    assert api.get("/api/v1/traces/settings").json() == {"retention_days": None, "prices": {}, "updated_at": None}
    prices = {"my-model": {"input_per_mtok": 2.5, "output_per_mtok": 10.0}}
    response = api.put("/api/v1/traces/settings", json={"retention_days": 30, "prices": prices})
    assert response.status_code == 200, response.text
    assert response.json()["retention_days"] == 30 and response.json()["prices"] == prices
    # Fields left out are kept; null retention keeps traces forever.
    kept = api.put("/api/v1/traces/settings", json={"retention_days": None}).json()
    assert kept["retention_days"] is None and kept["prices"] == prices
    assert api.put("/api/v1/traces/settings", json={"retention_days": 7}).json()["prices"] == prices
    assert api.get("/api/v1/traces/settings").json()["retention_days"] == 7
    entries = api.get("/api/v1/audit", params={"action": "trace_settings.update"}).json()["data"]
    assert len(entries) == 3
    assert entries[-1]["before"]["retention_days"] is None and entries[-1]["after"]["retention_days"] == 30
    assert entries[0]["before"]["retention_days"] is None and entries[0]["after"]["retention_days"] == 7
    other = other_project(api)
    assert api.get("/api/v1/traces/settings", headers=other).json()["retention_days"] is None
    assert_error(api.get("/api/v1/traces/settings", headers=key_headers(api, "read", "write")), 403)


def test_only_an_admin_actor_may_change_trace_settings_in_the_service(api: httpx.Client, prepared) -> None:
    """The check lives in the service, so the web UI and the CLI obey it as the API does."""
    mine = project_id(api)
    for scopes in ((), ("read",), ("write",)):
        actor = Actor(label="web:someone", project_id=mine, scopes=scopes)
        with pytest.raises(Forbidden), prepared.write() as session:
            retention.update_settings(session, actor, mine, retention_days=5)
    with prepared.read() as session:
        assert retention.get_settings(session, mine)["retention_days"] is None
    with prepared.write() as session:
        retention.update_settings(session, Actor(label="web:admin", project_id=mine, scopes=("admin",)), mine, retention_days=5)
    assert api.get("/api/v1/traces/settings").json()["retention_days"] == 5


@pytest.mark.parametrize(
    "body",
    [
        {"retention_days": 0},
        {"retention_days": 3651},
        {"retention_days": "soon"},
        {"retention_days": 1.5},
        {"prices": {"m": {"input_per_mtok": -1, "output_per_mtok": 1}}},
        {"prices": {"m": {"input_per_mtok": 1}}},
        {"prices": {"m": {"input_per_mtok": 1, "output_per_mtok": 1, "cached": 1}}},
        {"prices": {"": {"input_per_mtok": 1, "output_per_mtok": 1}}},
        {"prices": ["m"]},
        {"retention": 5},
    ],
)
def test_bad_trace_settings_are_rejected(api: httpx.Client, body: dict) -> None:
    api.put("/api/v1/traces/settings", json={"retention_days": 9})
    assert_error(api.put("/api/v1/traces/settings", json=body), 422, "validation_error")
    assert api.get("/api/v1/traces/settings").json()["retention_days"] == 9


def test_non_finite_price_is_rejected(api: httpx.Client) -> None:
    raw = b'{"prices": {"m": {"input_per_mtok": NaN, "output_per_mtok": 1}}}'
    assert_error(api.put("/api/v1/traces/settings", content=raw, headers={"Content-Type": "application/json"}), 400, "malformed_json")
    assert api.get("/api/v1/traces/settings").json()["prices"] == {}


def test_price_overrides_apply_to_new_spans_at_once(api: httpx.Client) -> None:
    def llm_trace(tokens_in: int, tokens_out: int) -> float:
        t = trace_id()
        attrs = {"llm.model_name": "house-model", "llm.token_count.prompt": tokens_in, "llm.token_count.completion": tokens_out}
        send(api, [span(t, span_id(), "llm", 0, 5, attrs=attrs)])
        return api.get("/api/v1/traces/stats", params={"model": "house-model"}).json()["data"][0]["cost"]

    assert llm_trace(1000, 1000) == 0  # an unknown model has no price
    api.put("/api/v1/traces/settings", json={"prices": {"house-model": {"input_per_mtok": 3, "output_per_mtok": 15}}})
    assert llm_trace(1_000_000, 100_000) == pytest.approx(3 + 1.5)  # the cached prices were dropped on change


# -- retention purge ------------------------------------------------------------------------------


def test_purge_deletes_only_expired_traces(api: httpx.Client, prepared, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retention, "PURGE_CHUNK", 3)  # several transactions
    old = seed(api, n=7, base_ns=now_ns() - 40 * DAY_NS)
    recent = seed(api, n=4, base_ns=now_ns() - 2 * DAY_NS)
    score(api, old[0]["trace_id"])
    score(api, recent[0]["trace_id"])
    other = other_project(api)
    seed(as_project(api, other), n=2, base_ns=now_ns() - 400 * DAY_NS)  # no retention there: kept
    mine, theirs = project_id(api), project_id(api, other)

    assert retention.purge_expired(prepared) == {}  # no project has retention yet
    assert counts(prepared, mine)["traces"] == 11
    api.put("/api/v1/traces/settings", json={"retention_days": 30})
    result = retention.purge_expired(prepared)
    assert result == {mine: {"deleted_traces": 7, "deleted_spans": 14}}
    assert counts(prepared, mine) == {"traces": 4, "spans": 8, "scores": 1}
    with prepared.read() as session:
        assert set(session.scalars(select(Trace.trace_id).where(Trace.project_id == mine))) == {t["trace_id"] for t in recent}
    assert counts(prepared, theirs)["traces"] == 2
    entry = api.get("/api/v1/audit", params={"action": "traces.purge"}).json()["data"][0]
    assert entry["actor"] == "system" and entry["after"]["deleted_traces"] == 7
    assert retention.purge_expired(prepared) == {mine: {"deleted_traces": 0, "deleted_spans": 0}}


def test_purge_uses_the_given_clock(api: httpx.Client, prepared) -> None:
    seed(api, n=3, base_ns=now_ns() - 5 * DAY_NS)
    api.put("/api/v1/traces/settings", json={"retention_days": 10})
    mine = project_id(api)
    assert retention.purge_expired(prepared)[mine]["deleted_traces"] == 0
    later = utcnow() + timedelta(days=6)
    assert retention.purge_expired(prepared, now=later)[mine]["deleted_traces"] == 3


def test_background_task_purges_and_stops(api: httpx.Client, app, prepared) -> None:
    seed(api, n=3, base_ns=now_ns() - 100 * DAY_NS)
    api.put("/api/v1/traces/settings", json={"retention_days": 1})
    task = app.state.retention
    assert asyncio.run(task.run_once()) == {project_id(api): {"deleted_traces": 3, "deleted_spans": 6}}

    seed(api, n=2, base_ns=now_ns() - 100 * DAY_NS)

    async def run_in_background() -> int:
        task.start()  # the first pass runs at once, then every retention_check_interval_s
        for _ in range(400):
            if counts(prepared)["traces"] == 0:
                break
            await asyncio.sleep(0.05)
        await task.stop()
        return counts(prepared)["traces"]

    assert asyncio.run(run_in_background()) == 0
