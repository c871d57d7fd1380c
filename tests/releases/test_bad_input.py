"""Bad input over REST: a clear error, the one error shape, and nothing written (history, audit, alerts)."""

from __future__ import annotations

import pytest

from tests.conftest import assert_error
from tests.releases.conftest import (  # noqa: F401
    ROUTE,
    client_for,
    default,
    other,
    release_state,
    set_stable,
    start_canary,
)

BASE = f"/api/v1/releases/{ROUTE}"


@pytest.fixture
def live(api, prompts):
    """A production release with a stable config (revision 1)."""
    set_stable(api)
    return api


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"prompt": "no-such-prompt@1"}, 404, "no prompt named 'no-such-prompt'"),
        ({"prompt": "support-answer@9"}, 404, "has no version 9"),
        ({"prompt": "support-answer@gold"}, 404, "has no label 'gold'"),
        ({"prompt": "support-answer@"}, 400, "nothing after '@'"),
        ({"env": "Prod!"}, 400, "environment 'prod!'"),
        ({"model": "   "}, 400, "model"),
        ({"params": {"bad key": 1}}, 400, "params name"),
        ({"settings": {f"k{i}": i for i in range(65)}}, 400, "at most 64"),
        ({"expected_revision": 3}, 409, "revision 1, not 3"),
    ],
)
def test_set_refuses(live, unchanged, body, status, needle):
    payload = {"env": "production", "prompt": "support-answer@2", "model": "gpt-4o-mini", **body}
    error = assert_error(live.post(f"{BASE}/set", json=payload), status)
    assert needle.lower() in error["message"].lower(), error
    unchanged()


def test_unknown_route_and_env_answer_404_with_what_exists(live, unchanged):
    error = assert_error(live.get("/api/v1/releases/no.such.route/resolve", params={"env": "production"}), 404, "not_found")
    assert "no.such.route" in error["message"] and ROUTE in error["message"]
    error = assert_error(live.get(f"{BASE}/resolve", params={"env": "qa"}), 404, "not_found")
    assert "'qa'" in error["message"] and "production" in error["message"]
    for path in ("", "/history"):
        assert_error(live.get(f"{BASE}{path}", params={"env": "qa"}), 404)
    for action in ("promote", "rollback"):
        assert_error(live.post(f"{BASE}/{action}", json={"env": "qa"}), 404)
    assert_error(live.post(f"{BASE}/canary", json={"env": "qa", "prompt": "support-answer@2", "share": 5}), 404)
    assert_error(live.post("/api/v1/releases/bad route!/set", json={"env": "production", "prompt": "support-answer@1", "model": "m"}), 400)
    assert_error(live.get(f"{BASE}/resolve"), 422)  # env is required
    unchanged()


@pytest.mark.parametrize(("share", "status"), [(-1, 400), (100.5, 400), (1000, 400), ("ten", 422), (None, 422)])
def test_share_outside_0_to_100_is_refused(live, unchanged, share, status):
    error = assert_error(live.post(f"{BASE}/canary", json={"env": "production", "prompt": "support-answer@2", "share": share}), status)
    assert "share" in error["message"].lower()
    unchanged()


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"mode": "blue-green"}, "mode 'blue-green'"),
        ({"rollback_rules": {"error_rate_margin": 2}}, "error_rate_margin"),
        ({"rollback_rules": {"min_requests": 10}}, "set no rule"),
        ({"rollback_rules": {"scores": {"helpfulness": -1}}}, "margin"),
        ({"rollback_rules": {"p95_margin_ms": 10, "window": 5}}, "window"),
        ({"require_eval": ""}, "evaluation name"),
        ({"prompt": "support-answer@99"}, "no version 99"),
    ],
)
def test_canary_refuses(live, unchanged, body, needle):
    payload = {"env": "production", "prompt": "support-answer@2", "share": 10, **body}
    error = assert_error(live.post(f"{BASE}/canary", json=payload), 404 if "version" in needle else 400)
    assert needle.lower() in error["message"].lower(), error
    unchanged()


def test_promoting_without_a_candidate_is_refused(live, unchanged):
    error = assert_error(live.post(f"{BASE}/promote", json={"env": "production"}), 409, "conflict")
    assert "no candidate to promote" in error["message"] and "releases canary" in error["message"]
    unchanged()


def test_a_release_of_another_projects_prompt_is_404(live, other_prompt, client_for, unchanged):  # noqa: F811
    for prompt in ("secret-prompt@1", "secret-prompt"):
        error = assert_error(live.post(f"{BASE}/set", json={"env": "production", "prompt": prompt, "model": "m"}), 404)
        assert "secret-prompt" in error["message"]
        assert_error(live.post(f"{BASE}/canary", json={"env": "production", "prompt": prompt, "share": 5}), 404)
    # The other project sees none of ours, and cannot use our prompt either.
    theirs = client_for(other_prompt.key)
    assert_error(theirs.get(f"{BASE}/resolve", params={"env": "production"}), 404)
    assert_error(theirs.post(f"{BASE}/rollback", json={"env": "production"}), 404)
    assert_error(theirs.post(f"{BASE}/set", json={"env": "production", "prompt": "support-answer@1", "model": "m"}), 404)
    assert theirs.get("/api/v1/releases").json() == {"data": []}
    unchanged()


def test_stale_revision_and_refused_gate_write_nothing(live, unchanged, prepared):
    error = assert_error(live.post(f"{BASE}/rollback", json={"env": "production", "expected_revision": 0}), 409)
    assert "revision 1, not 0" in error["message"]
    unchanged()
    start_canary(live, require_eval="support-regression")
    before = release_state(prepared)
    error = assert_error(live.post(f"{BASE}/promote", json={"env": "production"}), 409)
    assert "support-regression" in error["message"] and "no passing result" in error["message"]
    assert error["details"]["required_eval"] == "support-regression"
    assert release_state(prepared) == before


def test_unknown_fields_and_bad_bodies(live, unchanged):
    assert_error(live.post(f"{BASE}/set", json={"env": "production", "prompt": "support-answer@1", "model": "m", "colour": 1}), 422)
    assert_error(live.post(f"{BASE}/set", content=b"{not json", headers={"Content-Type": "application/json"}), 400)
    assert_error(live.put(f"{BASE}/rules", json={"env": "production"}), 400)  # nothing to change
    assert_error(live.get(f"{BASE}/history", params={"env": "production", "cursor": "a12"}), 400)
    unchanged()
