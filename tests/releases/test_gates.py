"""The promotion gate: a stored requirement refuses promotion until the evaluations layer's checker passes it."""

from __future__ import annotations

import pytest

from stackwright.releases import gates
from tests.conftest import assert_error
from tests.releases.conftest import ROUTE, ok, set_stable, start_canary

BASE = f"/api/v1/releases/{ROUTE}"


@pytest.fixture
def verdicts():
    """A checker registered through the hook, answering from a dict (evaluation name -> passed)."""
    answers: dict[str, bool] = {}

    def checker(session, project_id, requirement, release):
        if requirement not in answers:
            return None  # no opinion: the next checker (or the default refusal) decides
        candidate = release.candidate["prompt"]
        return gates.GateResult(answers[requirement], f"{requirement} on {candidate}: {'pass' if answers[requirement] else 'fail'}",
                                {"run_id": "run_1"})  # fmt: skip

    gates.register_eval_checker(checker)
    yield answers
    gates.unregister_eval_checker(checker)


def test_promotion_waits_for_a_passing_evaluation(api, prompts, verdicts):
    set_stable(api)
    start_canary(api, require_eval="support-regression")
    error = assert_error(api.post(f"{BASE}/promote", json={"env": "production"}), 409)
    assert "no passing result exists" in error["message"]  # no checker has an opinion yet

    verdicts["support-regression"] = False
    error = assert_error(api.post(f"{BASE}/promote", json={"env": "production"}), 409)
    assert "support-regression on support-answer@2: fail" in error["message"]
    assert error["details"]["gate"] == {"passed": False, "detail": "support-regression on support-answer@2: fail", "evidence": {"run_id": "run_1"}}

    verdicts["support-regression"] = True
    promoted = ok(api.post(f"{BASE}/promote", json={"env": "production"}))
    assert promoted["stable"]["prompt"] == "support-answer@2" and promoted["required_eval"] == "support-regression"
    change = ok(api.get(f"{BASE}/history", params={"env": "production"}))["data"][0]
    assert change["action"] == "promote" and change["details"]["gate"]["evidence"] == {"run_id": "run_1"}


def test_without_a_requirement_promotion_needs_no_checker(api, prompts):
    set_stable(api)
    start_canary(api)
    promoted = ok(api.post(f"{BASE}/promote", json={"env": "production"}))
    assert promoted["candidate"] is None
    change = ok(api.get(f"{BASE}/history", params={"env": "production"}))["data"][0]
    assert change["details"]["gate"]["passed"] is True
