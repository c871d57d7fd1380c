"""Acceptance: automatic rollback driven by synthetic candidate traffic written through OTLP ingest.

Each test starts a candidate, sends spans tagged with the route, environment and arm to POST /v1/traces,
then runs the check on demand (API, CLI or the background task's ``run_once``): no waiting on timers.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from stackwright.releases.guard import RollbackTask, check_all
from tests.auth.conftest import audit_entries
from tests.releases.conftest import (
    ROUTE,
    ok,
    request_span,
    send_spans,
    set_stable,
    start_canary,
    traffic,
)

BASE = f"/api/v1/releases/{ROUTE}"
RULES = {"error_rate_margin": 0.05, "p95_margin_ms": 500, "min_requests": 20}


def _check(api, dry_run: bool = False) -> dict:
    return ok(api.post(f"{BASE}/check", json={"env": "production", "dry_run": dry_run}))


def test_failing_candidate_is_rolled_back_with_audit_alert_and_history(api, prompts):
    set_stable(api)
    start_canary(api, share=10, rollback_rules=RULES)
    traffic(api, "stable", 40, errors=1)
    traffic(api, "candidate", 10, errors=5)
    early = _check(api)
    assert early["verdict"] == "insufficient_data" and early["arms"]["candidate"]["requests"] == 10
    traffic(api, "candidate", 15, errors=5)

    preview = _check(api, dry_run=True)
    assert preview["verdict"] == "breach" and [b["rule"] for b in preview["breaches"]] == ["error_rate"]
    assert ok(api.get(BASE, params={"env": "production"}))["candidate"] is not None  # a dry run changes nothing

    report = _check(api)
    assert report["verdict"] == "rolled_back" and "error rate 40.0% vs stable 2.5%" in report["reason"]
    arms = report["arms"]
    assert arms["stable"]["requests"] == 40 and arms["candidate"]["requests"] == 25 and arms["candidate"]["errors"] == 10
    status = ok(api.get(BASE, params={"env": "production"}))
    assert status["candidate"] is None and status["stable"]["prompt"] == "support-answer@1"
    last = status["last_rollback"]
    assert last["automatic"] is True and last["kind"] == "candidate" and last["from"]["prompt"] == "support-answer@2"
    assert ok(api.get(f"{BASE}/resolve", params={"env": "production", "subject": "anyone"}))["arm"] == "stable"

    change = ok(api.get(f"{BASE}/history", params={"env": "production"}))["data"][0]
    assert change["action"] == "auto_rollback" and change["details"]["breaches"][0]["rule"] == "error_rate"
    assert change["id"] == last["history_id"]
    [entry] = audit_entries(api, action="release.auto_rollback")
    assert entry["object_id"] == status["id"] and entry["before"]["candidate"]["config"]["prompt"] == "support-answer@2"
    [alert] = ok(api.get("/api/v1/alerts", params={"kind": "release.auto_rollback"}))["data"]
    assert alert["severity"] == "critical" and alert["object_id"] == status["id"] and ROUTE in alert["title"]
    assert "error rate" in alert["message"]
    assert _check(api)["verdict"] == "no_candidate"


def test_slow_candidate_is_rolled_back_by_the_p95_rule(api, prompts):
    set_stable(api)
    start_canary(api, share=50, rollback_rules=RULES)
    traffic(api, "stable", 30, duration_ms=200)
    traffic(api, "candidate", 30, duration_ms=900)
    report = _check(api)
    assert report["verdict"] == "rolled_back" and [b["rule"] for b in report["breaches"]] == ["p95_ms"]
    assert report["arms"]["candidate"]["p95_ms"] == 900 and report["arms"]["stable"]["p95_ms"] == 200


def test_score_rule_compares_mean_scores(api, prompts):
    set_stable(api)
    start_canary(api, share=50, rollback_rules={"scores": {"helpfulness": 0.1}, "min_requests": 5})
    stable, candidate = traffic(api, "stable", 5), traffic(api, "candidate", 5)
    for spans, value in ((stable, 0.9), (candidate, 0.6)):
        for span in spans:
            body = {"trace_id": span["traceId"], "span_id": span["spanId"], "name": "helpfulness", "value": value}
            ok(api.post("/api/v1/scores", json=body), 201)
    report = _check(api, dry_run=True)
    assert report["arms"]["candidate"]["scores"]["helpfulness"] == {"n": 5, "mean": pytest.approx(0.6)}
    assert report["verdict"] == "breach" and report["breaches"][0]["rule"] == "score:helpfulness"


def test_healthy_candidate_stays_and_old_traffic_is_ignored(api, prompts):
    set_stable(api)
    # Failures of an earlier candidate, before this one started, do not count against it.
    send_spans(api, [request_span("candidate", error=True, start_ns=time.time_ns() - 3600 * 10**9) for _ in range(30)])
    start_canary(api, share=10, rollback_rules=RULES)
    traffic(api, "stable", 30, errors=1)
    traffic(api, "candidate", 30, errors=2)
    traffic(api, "candidate", 30, errors=30, env="staging")  # another environment
    report = _check(api)
    assert report["verdict"] == "healthy" and report["arms"]["candidate"]["requests"] == 30
    assert ok(api.get(BASE, params={"env": "production"}))["candidate"] is not None
    start_canary(api, share=10, rollback_rules=None)
    assert _check(api)["verdict"] == "no_rules"


def test_shadow_runs_count_for_the_candidate(api, prompts):
    set_stable(api)
    start_canary(api, "support-answer@3", share=100, mode="shadow", rollback_rules=RULES)
    traffic(api, "stable", 20)
    traffic(api, "shadow", 20, errors=20)
    assert _check(api)["verdict"] == "rolled_back"
    assert ok(api.get(f"{BASE}/resolve", params={"env": "production", "subject": "u"}))["shadow"] is None


def test_background_task_rolls_back_and_rollback_effect_is_measured(app, api, prompts, prepared):
    set_stable(api)
    start_canary(api, share=10, rollback_rules=RULES)
    traffic(api, "stable", 25)
    traffic(api, "candidate", 25, errors=25)
    reports = asyncio.run(RollbackTask(prepared).run_once())
    assert [r["verdict"] for r in reports] == ["rolled_back"]
    assert check_all(prepared) == []  # no candidate left to check

    # Question 8: how fast did the rollback take effect? A straggler served by the old candidate 1.5 s
    # after the rollback (a client with a stale cache), then stable traffic.
    status = ok(api.get(BASE, params={"env": "production"}))
    assert status["last_rollback_effect"] == {
        "requests_since": 0, "old_config_requests_since": 0, "last_old_config_request_at": None, "took_effect_s": None,
    }  # fmt: skip
    from datetime import datetime

    at_ns = int(datetime.fromisoformat(status["last_rollback"]["at"]).timestamp() * 1e9)
    send_spans(api, [request_span("candidate", start_ns=at_ns + 1_500_000_000), request_span("stable", start_ns=at_ns + 2 * 10**9)])
    effect = ok(api.get(BASE, params={"env": "production"}))["last_rollback_effect"]
    assert effect["requests_since"] == 2 and effect["old_config_requests_since"] == 1
    assert 1.4 < effect["took_effect_s"] < 1.6


def test_background_loop_runs_in_the_lifespan(app, api, prompts):
    """The task the app starts in its lifespan checks on its own, every interval."""
    set_stable(api)
    start_canary(api, share=10, rollback_rules=RULES)
    traffic(api, "stable", 25)
    traffic(api, "candidate", 25, errors=25)

    async def run() -> dict:
        task = RollbackTask(app.state.db, interval_s=0.05)
        task.start()
        try:
            for _ in range(600):  # generous: up to a minute on a slow machine
                status = await asyncio.to_thread(lambda: api.get(BASE, params={"env": "production"}).json())
                if status["candidate"] is None:
                    return status
                await asyncio.sleep(0.1)
            return status
        finally:
            await task.stop()

    status = asyncio.run(run())
    assert status["candidate"] is None and status["last_rollback"]["automatic"] is True
    assert status["last_rollback"]["actor"] == "system"
    assert app.state.release_guard is not None
