"""Releases over REST on SQLite and Postgres: set, canary, promote, rollback, status, history, list, resolve,
audit entries and scopes."""

from __future__ import annotations

from tests.auth.conftest import audit_entries
from tests.conftest import assert_error
from tests.releases.conftest import (  # noqa: F401
    ROUTE,
    client_for,
    default,
    make_key,
    ok,
    other,
    set_stable,
    start_canary,
)

BASE = f"/api/v1/releases/{ROUTE}"


def test_set_resolves_the_prompt_to_an_exact_version_and_is_idempotent(api, prompts):
    api.put("/api/v1/prompts/support-answer/labels/staging", json={"version": 3})
    first = set_stable(api, "support-answer@staging", params={"temperature": 0.2}, settings={"retrieval_k": 5})
    assert first["changed"] is True and first["revision"] == 1 and first["candidate"] is None
    stable = first["stable"]
    assert stable["prompt"] == "support-answer@3" and stable["prompt_version"] == 3 and stable["prompt_ref"] == "support-answer@staging"
    assert stable["model"] == "gpt-4o-mini" and stable["params"] == {"temperature": 0.2} and stable["settings"] == {"retrieval_k": 5}
    again = set_stable(api, "support-answer@3", params={"temperature": 0.2}, settings={"retrieval_k": 5})
    assert again["changed"] is False and again["revision"] == 1
    assert set_stable(api, "support-answer@4")["revision"] == 2
    assert [e["action"] for e in audit_entries(api, object_type="release")] == ["release.set", "release.set"]


def test_canary_promote_and_history(api, prompts):
    set_stable(api)
    canary = start_canary(api, share=10, model="gpt-4o", params={"temperature": 0.0})
    assert canary["revision"] == 2
    candidate = canary["candidate"]
    assert candidate["mode"] == "canary" and candidate["share"] == 10 and candidate["started_at"]
    assert candidate["config"]["prompt"] == "support-answer@2" and candidate["config"]["model"] == "gpt-4o"
    assert candidate["config"]["params"] == {"temperature": 0.0}
    # Raising the share keeps the candidate (same salt and start), so sticky subjects stay on it.
    ramp = start_canary(api, share=50, model="gpt-4o", params={"temperature": 0.0})
    assert ramp["candidate"]["started_at"] == candidate["started_at"] and ramp["revision"] == 3

    promoted = ok(api.post(f"{BASE}/promote", json={"env": "production"}))
    assert promoted["candidate"] is None and promoted["stable"]["prompt"] == "support-answer@2" and promoted["revision"] == 4
    history = ok(api.get(f"{BASE}/history", params={"env": "production"}))
    assert [c["action"] for c in history["data"]] == ["promote", "canary", "canary", "set"]
    assert [c["revision"] for c in history["data"]] == [4, 3, 2, 1]
    newest = history["data"][0]
    assert newest["before"]["candidate"]["config"]["prompt"] == "support-answer@2"
    assert newest["after"]["stable"]["prompt"] == "support-answer@2" and newest["actor"].startswith("key:")
    audit = audit_entries(api, object_type="release")
    assert [e["action"] for e in audit] == ["release.promote", "release.canary", "release.canary", "release.set"]
    assert audit[0]["before"]["stable"]["prompt"] == "support-answer@1"


def test_rollback_drops_the_candidate_then_walks_back_through_stable_configs(api, prompts):
    set_stable(api, "support-answer@1")
    set_stable(api, "support-answer@2")
    set_stable(api, "support-answer@3")
    start_canary(api, "support-answer@4")
    dropped = ok(api.post(f"{BASE}/rollback", json={"env": "production", "reason": "bad answers"}))
    assert dropped["candidate"] is None and dropped["stable"]["prompt"] == "support-answer@3"
    last = dropped["last_rollback"]
    assert last["kind"] == "candidate" and last["reason"] == "bad answers" and last["automatic"] is False
    assert last["from"]["prompt"] == "support-answer@4" and last["at"]

    back = [ok(api.post(f"{BASE}/rollback", json={"env": "production"}))["stable"]["prompt"] for _ in range(2)]
    assert back == ["support-answer@2", "support-answer@1"]
    error = assert_error(api.post(f"{BASE}/rollback", json={"env": "production"}), 409, "conflict")
    assert "no earlier stable config" in error["message"]
    # A new stable config after rollbacks is undone first.
    set_stable(api, "support-answer@4")
    assert ok(api.post(f"{BASE}/rollback", json={"env": "production"}))["stable"]["prompt"] == "support-answer@1"

    status = ok(api.get(BASE, params={"env": "production"}))
    assert status["last_rollback"]["kind"] == "stable" and status["last_rollback"]["from"]["prompt"] == "support-answer@4"
    assert status["last_rollback_effect"]["took_effect_s"] is None  # no traffic traced since
    history = ok(api.get(f"{BASE}/history", params={"env": "production"}))
    assert history["last_rollback"] == status["last_rollback"]
    assert [c["action"] for c in history["data"]][:2] == ["rollback", "set"]


def test_environments_are_independent_and_listed(api, prompts):
    set_stable(api, "support-answer@1", env="production")
    set_stable(api, "support-answer@2", env="staging")
    set_stable(api, "support-answer@3", env="eu-canary")
    start_canary(api, "support-answer@3", env="staging", share=25, mode="ab")
    listed = ok(api.get("/api/v1/releases"))["data"]
    assert [(r["route"], r["env"]) for r in listed] == [(ROUTE, "eu-canary"), (ROUTE, "production"), (ROUTE, "staging")]
    assert ok(api.get("/api/v1/releases", params={"env": "staging"}))["data"][0]["candidate"]["mode"] == "ab"
    production = ok(api.get(f"{BASE}/resolve", params={"env": "production", "subject": "u1"}))
    assert production["config"]["prompt"] == "support-answer@1" and production["arm"] == "stable" and production["mode"] is None


def test_resolve_answers_arm_config_and_span_attributes(api, prompts):
    set_stable(api)
    start_canary(api, share=100)
    answer = ok(api.get(f"{BASE}/resolve", params={"env": "production", "subject": "user-123"}))
    assert answer["arm"] == "candidate" and answer["config"]["prompt"] == "support-answer@2" and answer["shadow"] is None
    assert answer["route"] == ROUTE and answer["env"] == "production" and answer["revision"] == 2 and answer["release_id"]
    assert answer["span_attributes"] == {
        "stackwright.route": ROUTE, "stackwright.environment": "production", "stackwright.release.arm": "candidate",
        "stackwright.release.revision": 2, "stackwright.prompt.name": "support-answer", "stackwright.prompt.version": "2",
    }  # fmt: skip
    start_canary(api, share=0)
    assert ok(api.get(f"{BASE}/resolve", params={"env": "production", "subject": "user-123"}))["arm"] == "stable"


def test_shadow_resolution_returns_stable_and_the_shadow_config(api, prompts):
    set_stable(api)
    start_canary(api, "support-answer@3", share=100, mode="shadow")
    for subject in ("u1", "u2", None):
        params = {"env": "production", **({"subject": subject} if subject else {})}
        answer = ok(api.get(f"{BASE}/resolve", params=params))
        assert answer["arm"] == "stable" and answer["mode"] == "shadow"
        assert answer["config"]["prompt"] == "support-answer@1"
        assert answer["shadow"]["prompt"] == "support-answer@3"
        assert answer["shadow_span_attributes"]["stackwright.release.arm"] == "shadow"
        assert answer["span_attributes"]["stackwright.release.arm"] == "stable"
    start_canary(api, "support-answer@3", share=0, mode="shadow")
    assert ok(api.get(f"{BASE}/resolve", params={"env": "production", "subject": "u1"}))["shadow"] is None


def test_rules_and_requirement_are_stored_and_cleared(api, prompts):
    set_stable(api)
    rules = {"error_rate_margin": 0.05, "p95_margin_ms": 500, "scores": {"helpfulness": 0.1}, "min_requests": 30}
    start_canary(api, rollback_rules=rules, require_eval="support-regression")
    status = ok(api.get(BASE, params={"env": "production"}))
    assert status["rollback_rules"] == rules and status["required_eval"] == "support-regression"
    changed = ok(api.put(f"{BASE}/rules", json={"env": "production", "rollback_rules": {"p95_margin_ms": 200}}))
    assert changed["rollback_rules"] == {"error_rate_margin": None, "p95_margin_ms": 200.0, "scores": {}, "min_requests": 100}
    assert changed["required_eval"] == "support-regression"
    cleared = ok(api.put(f"{BASE}/rules", json={"env": "production", "rollback_rules": None, "require_eval": None}))
    assert cleared["rollback_rules"] is None and cleared["required_eval"] is None and cleared["changed"] is True
    assert ok(api.put(f"{BASE}/rules", json={"env": "production", "rollback_rules": None}))["changed"] is False
    assert [e["action"] for e in audit_entries(api, object_type="release")][:2] == ["release.rules", "release.rules"]


def test_scopes_read_resolves_write_changes_admin_clears_requirements(api, prompts, make_key, client_for):  # noqa: F811
    set_stable(api)
    start_canary(api, require_eval="support-regression")
    reader = client_for(make_key(["read"])[1])
    writer = client_for(make_key(["write"])[1])
    assert ok(reader.get(f"{BASE}/resolve", params={"env": "production"}))["route"] == ROUTE
    assert ok(reader.get(BASE, params={"env": "production"}))["revision"] == 2
    assert ok(reader.get("/api/v1/releases"))["data"]
    for method, path, body in [
        ("POST", "set", {"prompt": "support-answer@3", "model": "m"}),
        ("POST", "canary", {"prompt": "support-answer@3", "share": 5}),
        ("POST", "promote", {}),
        ("POST", "rollback", {}),
        ("POST", "check", {}),
        ("PUT", "rules", {"require_eval": None}),
    ]:
        assert_error(reader.request(method, f"{BASE}/{path}", json={"env": "production", **body}), 403, "forbidden")
    # write may add rules and change configs, but not weaken the promotion requirement.
    error = assert_error(writer.put(f"{BASE}/rules", json={"env": "production", "require_eval": None}), 403, "forbidden")
    assert "admin" in error["message"]
    assert_error(writer.put(f"{BASE}/rules", json={"env": "production", "require_eval": "other"}), 403)
    assert ok(writer.put(f"{BASE}/rules", json={"env": "production", "rollback_rules": {"error_rate_margin": 0.1}}))["changed"]
    assert ok(writer.post(f"{BASE}/rollback", json={"env": "production"}))["candidate"] is None
    assert ok(api.put(f"{BASE}/rules", json={"env": "production", "require_eval": None}))["required_eval"] is None


def test_alerts_list_is_empty_and_paged(api):
    assert ok(api.get("/api/v1/alerts")) == {"data": [], "next_cursor": None}
    assert_error(api.get("/api/v1/alerts", params={"cursor": "nope"}), 400)
