"""Online evaluation: rules sample real gateway traces (filter and rate), score them, store the scores on
the traces; the scores show in trace stats; bad rules are refused; passes do not rescore a trace."""

from __future__ import annotations

import pytest

from stackwright.evals import online
from tests.auth.conftest import client_for, other  # noqa: F401  (fixtures)
from tests.conftest import assert_error
from tests.gateway.helpers import wait_trace


def ok(response, status=200):
    assert response.status_code == status, response.text
    return response.json()


@pytest.fixture(autouse=True)
def no_settle_delay(monkeypatch):
    monkeypatch.setattr(online, "SETTLE_S", 0.0)  # traces are complete once wait_trace saw them


def chat(api, model: str, text: str) -> str:
    response = api.post("/v1/chat/completions", json={"model": model, "messages": [{"role": "user", "content": text}]})
    assert response.status_code == 200, response.text
    return response.headers["x-stackwright-trace-id"]


def test_rules_score_sampled_traces_and_the_scores_show_in_stats(api, evals):
    rule = {"filter": {"model": "fake-model"}, "sample_rate": 1.0,
            "scorers": [{"type": "contains", "value": "echo", "name": "says_echo"}, {"type": "latency_max", "max_ms": 60000}, "exact"]}  # fmt: skip
    assert ok(api.put("/api/v1/evals/online/rules/echo-check", json=rule))["scorers"][0]["name"] == "says_echo"
    ok(api.put("/api/v1/evals/online/rules/half", json={"sample_rate": 0.5, "scorers": [{"type": "contains", "value": "echo", "name": "half"}]}))
    traces = [chat(api, "fake-model", f"question {i}") for i in range(10)] + [chat(api, "judge", "other model")]
    for trace_id in traces:
        wait_trace(api, trace_id)
    totals = ok(api.post("/api/v1/evals/online/run"))["rules"]
    assert totals["echo-check"] == {"examined": 10, "scored": 20, "unmeasured": 10}  # exact has no expected value: unmeasured
    expected_half = sum(online.sampled(ok(api.get("/api/v1/evals/online/rules"))["data"][1]["id"], t, 0.5) for t in traces)
    assert totals["half"] == {"examined": 11, "scored": expected_half, "unmeasured": 0}
    scores = ok(api.get("/api/v1/scores", params={"trace_id": traces[0], "limit": 50}))["data"]
    mine = {s["name"]: s for s in scores if s["source"] == "eval"}
    assert mine["says_echo"]["value"] == 1.0 and mine["latency_max"]["value"] == 1.0 and "exact" not in mine
    stats = ok(api.get("/api/v1/traces/stats", params={"group_by": "model"}))["data"]
    fake = next(row for row in stats if row["group"] == "fake-model")
    assert fake["scores"]["says_echo"] == {"count": 10, "mean": 1.0, "values": None}

    assert ok(api.post("/api/v1/evals/online/run"))["rules"]["echo-check"] == {"examined": 0, "scored": 0, "unmeasured": 0}  # no rescoring
    listed = {r["name"]: r for r in ok(api.get("/api/v1/evals/online/rules"))["data"]}
    assert listed["echo-check"]["examined"] == 10 and listed["echo-check"]["scored"] == 20
    ok(api.delete("/api/v1/evals/online/rules/half"))
    assert [r["name"] for r in ok(api.get("/api/v1/evals/online/rules"))["data"]] == ["echo-check"]


def test_bad_rules_are_refused_and_rules_are_per_project(api, evals, other, client_for):  # noqa: F811
    def put(body, name="r"):
        return api.put(f"/api/v1/evals/online/rules/{name}", json=body)

    assert "Unknown filter field colour" in assert_error(put({"filter": {"colour": "red"}, "sample_rate": 1, "scorers": ["contains"]}), 400)["message"]
    assert "sample_rate" in assert_error(put({"sample_rate": 0, "scorers": ["contains"]}), 400)["message"]
    assert "sample_rate" in assert_error(put({"sample_rate": 1.5, "scorers": ["contains"]}), 400)["message"]
    assert "at least one scorer" in assert_error(put({"sample_rate": 1, "scorers": []}), 400)["message"]
    assert "scorers[0]: No scorers plugin named 'contans'" in assert_error(put({"sample_rate": 1, "scorers": ["contans"]}), 400)["message"]
    assert "scorers[0]: unknown parameter" in assert_error(put({"sample_rate": 1, "scorers": [{"type": "contains", "x": 1}]}), 400)["message"]
    assert_error(put({"sample_rate": 1, "scorers": ["contains"]}, name="bad name!"), 400)
    assert ok(api.get("/api/v1/evals/online/rules"))["data"] == []
    ok(put({"sample_rate": 1, "scorers": ["contains"]}, name="mine"))
    theirs = client_for(other.key)
    assert ok(theirs.get("/api/v1/evals/online/rules"))["data"] == []
    assert_error(theirs.delete("/api/v1/evals/online/rules/mine"), 404)
    assert ok(theirs.post("/api/v1/evals/online/run"))["rules"] == {}


def _lifespan_app(settings, interval_s: float):
    """A second app on the same database, with its own Database, whose lifespan the test runs."""
    from stackwright.core.db import Database
    from stackwright.server.app import create_app

    own = settings.model_copy(update={"online_eval_interval_s": interval_s, "jobs_enabled": False})
    return create_app(own, Database(own))


def test_the_server_lifespan_runs_the_rules_every_interval(api, evals, settings):
    """No `eval online run`: the evaluator the lifespan starts scores new traces by itself, and stops with the app."""
    import asyncio

    ok(api.put("/api/v1/evals/online/rules/auto", json={"sample_rate": 1.0, "scorers": [{"type": "contains", "value": "echo", "name": "auto"}]}))
    traces = [chat(api, "fake-model", f"question {i}") for i in range(3)]
    for trace_id in traces:
        wait_trace(api, trace_id)
    served = _lifespan_app(settings, 0.05)

    async def serve() -> dict:
        async with served.router.lifespan_context(served):
            assert served.state.online_evaluator.running
            for _ in range(1200):  # generous: up to two minutes on a slow machine
                rule = (await asyncio.to_thread(lambda: ok(api.get("/api/v1/evals/online/rules"))))["data"][0]
                if rule["examined"] >= 3:
                    return rule
                await asyncio.sleep(0.1)
            return rule

    rule = asyncio.run(serve())
    assert rule["examined"] == 3 and rule["scored"] == 3
    assert not served.state.online_evaluator.running  # stopped with the lifespan
    scores = ok(api.get("/api/v1/scores", params={"trace_id": traces[0], "limit": 50}))["data"]
    assert [s["value"] for s in scores if s["name"] == "auto" and s["author"] == "eval-rule:auto"] == [1.0]


def test_an_interval_of_zero_turns_the_evaluator_off(api, evals, settings):
    import asyncio

    served = _lifespan_app(settings, 0)

    async def serve() -> bool:
        async with served.router.lifespan_context(served):
            return served.state.online_evaluator.running

    assert asyncio.run(serve()) is False
    assert settings.online_eval_interval_s == 30.0  # the default
