"""The runner through the real gateway and the fake upstream: outputs, traces, scores, errors, retries."""

from __future__ import annotations

from tests.evals.conftest import base_spec


def test_a_run_scores_every_case_and_links_its_trace(evals):
    result = evals.run(base_spec(scorers=["contains", {"type": "exact", "name": "exact"}]))
    assert result["status"] == "completed" and result["dataset"].startswith("file:")
    summary = result["summary"]
    assert summary["cases"] == 4 and summary["errors"] == 0
    contains = summary["scorers"]["contains"]
    # outputs are "echo: <question>": three of four expected texts appear (the third never does)
    assert contains["measured"] == 4 and contains["passed"] == 3 and contains["mean"] == 0.75
    assert contains["ci_low"] <= 0.75 <= contains["ci_high"]
    cases = evals.cases(result["id"])
    assert all(c["trace_id"] and len(c["trace_id"]) == 32 for c in cases)
    assert {c["output"] for c in cases} == {"echo: refund policy", "echo: reset password", "echo: delete account", "echo: shipping time"}
    assert all(c["input_tokens"] for c in cases)
