"""Summaries and comparisons on constructed data: bootstrap intervals, unmeasured counting, McNemar,
Wilcoxon, regressions/improvements and judge variance across repeats."""

from __future__ import annotations

import pytest
from scipy.stats import binomtest, wilcoxon

from stackwright.evals.compare import compare_rows, judge_variance, mcnemar
from stackwright.evals.stats import bootstrap_ci, scorer_stats, summarize


def row(item, value, passed=None, repeat=0, **extra):
    score = {"value": value, "passed": passed} if value is not None else {"value": None, "passed": None, "reason": "no context"}
    return {"item_id": item, "repeat_index": repeat, "scores": {"s": score}, **extra}


def test_scorer_stats_exclude_and_count_unmeasured():
    scores = [{"value": 1.0, "passed": True}, {"value": 0.0, "passed": False}, {"value": 1.0, "passed": True},
              {"value": None, "passed": None, "reason": "no context"}, None]  # fmt: skip
    stats = scorer_stats(scores, seed=0)
    assert stats["measured"] == 3 and stats["unmeasured"] == 2 and stats["mean"] == pytest.approx(2 / 3, abs=1e-6)
    assert stats["pass_rate"] == pytest.approx(2 / 3, abs=1e-6) and stats["unmeasured_reasons"] == {"no context": 1, "no score": 1}
    assert 0 <= stats["ci_low"] <= stats["mean"] <= stats["ci_high"] <= 1
    empty = scorer_stats([{"value": None, "passed": None, "reason": "x"}], seed=0)
    assert empty["mean"] is None and empty["ci_low"] is None and empty["measured"] == 0


def test_bootstrap_is_deterministic_and_sane():
    values = [0.1, 0.4, 0.35, 0.8, 0.9, 0.55, 0.6, 0.2] * 5
    assert bootstrap_ci(values, 3) == bootstrap_ci(values, 3)
    low, high = bootstrap_ci(values, 3)
    assert low < sum(values) / len(values) < high and high - low < 0.3
    assert bootstrap_ci([0.5, 0.5, 0.5], 0) == (0.5, 0.5) and bootstrap_ci([0.7], 0) == (0.7, 0.7)


def test_summary_totals():
    rows = [row("a", 1.0, True, cost=0.01, latency_ms=100.0, input_tokens=5, output_tokens=3),
            row("b", None, error="boom", cost=None, latency_ms=None),
            row("c", 0.0, False, cost=0.02, latency_ms=300.0, input_tokens=7, output_tokens=1)]  # fmt: skip
    summary = summarize(rows, ["s"], seed=1)
    assert summary["cases"] == 3 and summary["errors"] == 1 and summary["cost_usd"] == pytest.approx(0.03)
    assert summary["input_tokens"] == 12 and summary["latency_ms"] == {"p50": 200.0, "p95": 290.0}
    assert summary["scorers"]["s"]["measured"] == 2


def test_compare_pass_fail_flips_with_mcnemar():
    a = [row(f"i{i}", 1.0, True) for i in range(12)] + [row("x", 0.0, False)]
    b = [row(f"i{i}", 0.0 if i < 10 else 1.0, i >= 10) for i in range(12)] + [row("x", 1.0, True)]
    result = compare_rows(a, b, ["s"])["scorers"]["s"]
    assert result["regressions"] == 10 and result["improvements"] == 1 and result["paired"] == 13
    assert [c["item_id"] for c in result["improved_cases"]] == ["x"]
    assert result["mcnemar_p"] == pytest.approx(binomtest(10, 11, 0.5).pvalue, abs=1e-6) and result["mcnemar_p"] < 0.05
    assert mcnemar(0, 0) == 1.0 and mcnemar(3, 3) == 1.0


def test_compare_scores_with_wilcoxon_and_unpaired_cases():
    a = [row(f"i{i}", 0.5 + i / 100) for i in range(10)] + [row("only-a", 0.3)]
    b = [row(f"i{i}", 0.6 + i / 50) for i in range(10)] + [row("only-b", 0.9), row("i0", None, repeat=1)]
    result = compare_rows(a, b, ["s"])["scorers"]["s"]
    diffs = [(0.6 + i / 50) - (0.5 + i / 100) for i in range(10)]
    assert result["paired"] == 10 and result["unpaired"] == 3 and result["improvements"] == 10 and result["regressions"] == 0
    assert result["wilcoxon_p"] == pytest.approx(wilcoxon(diffs).pvalue, abs=1e-6)
    assert result["mean_diff"] == pytest.approx(sum(diffs) / 10, abs=1e-6)
    same = compare_rows(a, a, ["s"])["scorers"]["s"]
    assert same["wilcoxon_p"] == 1.0 and same["mean_diff"] == 0 and same["regressions"] == 0


def test_judge_variance_across_repeats():
    rows = [row("a", 0.2, repeat=0), row("a", 0.6, repeat=1), row("b", 1.0, repeat=0), row("b", 1.0, repeat=1), row("c", 0.5)]
    assert judge_variance(rows, "s") == pytest.approx((0.08 + 0.0) / 2, abs=1e-6)
    assert judge_variance([row("a", 0.2)], "s") is None
