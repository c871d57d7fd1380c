"""Each built-in scorer on constructed cases, including the cases it cannot score (unmeasured, with why)."""

from __future__ import annotations

import asyncio
import math

import pytest

from stackwright.evals.scorers import Case, Score, build
from stackwright.evals.spec import ScorerSpec
from stackwright.evals.trust import CodePolicy


def scorer(spec):
    return build(ScorerSpec.model_validate(spec), CodePolicy.operator())


def score(spec, output, expected=None, **fields):
    s = scorer(spec)
    case = Case("item", fields.pop("input", {}), expected, fields.pop("metadata", {}), output=output, **fields)
    if hasattr(s, "ascore"):
        return asyncio.run(s.ascore(case, None))
    return s.score(case)


def test_exact_and_contains():
    assert score("exact", " Paris ", "Paris") == Score(1.0, True)
    assert score({"type": "exact", "case_sensitive": False}, "paris", "Paris").passed is True
    assert score("exact", "Lyon", "Paris") == Score(0.0, False)
    assert score("exact", {"a": 1}, {"a": 1}).passed is True
    missing = score("exact", "Paris", None)
    assert missing.value is None and missing.passed is None and "no expected value" in missing.reason
    assert score("contains", "Refunds take 5 days", "refunds").passed is True  # case-insensitive by default
    partial = score("contains", "refunds take days", ["refunds", "5 days"])
    assert partial.value == 0.5 and partial.passed is False and partial.details == {"missing": ["5 days"]}
    assert score({"type": "contains", "value": ["take"]}, "refunds take days").passed is True
    assert score("contains", "anything", None).value is None


def test_regex_json_and_schema():
    assert score({"type": "regex", "pattern": r"\d+ days"}, "within 5 days").passed is True
    assert score({"type": "regex", "pattern": "^no", "flags": "i"}, "No way").passed is True
    assert score("regex", "abc", "a.c").passed is True  # the expected value as the pattern
    assert "not a valid regular expression" in score("regex", "abc", "(").reason
    assert score("json_valid", '{"a": 1}').passed is True
    bad = score("json_valid", "{a: 1}")
    assert bad.passed is False and "not JSON" in bad.reason
    schema = {"type": "object", "required": ["answer"], "properties": {"answer": {"type": "string"}}}
    assert score({"type": "json_schema", "schema": schema}, '{"answer": "yes"}').passed is True
    wrong = score({"type": "json_schema", "schema": schema}, {"answer": 3})
    assert wrong.passed is False and "answer" in wrong.reason


def test_numeric_and_similarity():
    assert score({"type": "numeric", "abs_tol": 0.5}, "It costs 12.3 dollars", 12).passed is True
    assert score({"type": "numeric", "rel_tol": 0.01}, "1,000", "1005").passed is True
    assert score("numeric", "12", "12.5").passed is False
    assert score("numeric", "no digits", 3) == Score(0.0, False, "the output holds no number", None)
    assert "not a number" in score("numeric", "3", "three").reason
    close = score({"type": "similarity", "threshold": 0.8}, "Refunds take five days", "Refunds take 5 days")
    assert 0.8 <= close.value < 1 and close.passed is True
    assert score("similarity", "totally different", "Refunds take 5 days").passed is False


def test_embedding_similarity_and_groundedness():
    same = score({"type": "embedding_similarity", "threshold": 0.7}, "Refunds take five business days.", "A refund takes five business days.")
    assert same.passed is True and 0.7 <= same.value <= 1
    assert score("embedding_similarity", "", "x").passed is False
    context = {"context": ["Refunds are processed within five business days. Shipping is free over 50 euros."]}
    grounded = score("groundedness", "Refunds are processed within five business days.", input=context)
    assert grounded.value == 1.0 and grounded.passed is True
    half = score({"type": "groundedness", "min_share": 0.5}, "Refunds are processed within five business days. Our CEO loves sailing boats.",
                 input=context)  # fmt: skip
    assert half.value == 0.5 and half.details["unsupported"] == ["Our CEO loves sailing boats."]
    none = score("groundedness", "Anything.", input={})
    assert none.value is None and "no `context`" in none.reason


def test_limits_and_python_scorers():
    assert score({"type": "cost_max", "max_usd": 0.01}, "x", cost=0.002).passed is True
    assert score({"type": "cost_max", "max_usd": 0.001}, "x", cost=0.002).passed is False
    assert "no cost was recorded" in score({"type": "cost_max", "max_usd": 0.01}, "x").reason
    assert score({"type": "latency_max", "max_ms": 100}, "x", latency_ms=250.0).passed is False
    assert score({"type": "python", "function": "tests.evals.pyfuncs:length_scorer", "threshold": 0.05}, "0123456789").value == 0.1
    verdict = score({"type": "python", "function": "tests.evals.pyfuncs:verdict_scorer"}, "echo: refund", "refund")
    assert verdict.value == 1.0 and verdict.reason == "looked for the expected text"
    broken = score({"type": "python", "function": "tests.evals.pyfuncs:broken_scorer"}, "x")
    assert broken.value is None and "ValueError: scorer bug" in broken.reason
    nan = score({"type": "python", "function": "tests.evals.pyfuncs:nan_scorer"}, "x")
    assert nan.value is None and "not a score" in nan.reason and not (isinstance(nan.value, float) and math.isnan(nan.value))


def test_retrieval_metrics():
    pytest.importorskip("stackwright.retrieval.metrics")
    result = score({"type": "retrieval", "metric": "recall", "k": 2}, {"retrieved_ids": ["d3", "d1", "d9"]}, ["d1", "d9"])
    assert result.value == 0.5 and result.details["k"] == 2
    assert "retrieved_ids" in score("retrieval", "plain text", ["d1"]).reason
    assert "no relevant ids" in score("retrieval", {"retrieved_ids": ["d1"]}, None).reason


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ({"type": "regex", "pattern": "("}, "not a valid regular expression"),
        ({"type": "json_schema", "schema": {"type": "nonsense"}}, "not a valid JSON Schema"),
        ({"type": "json_schema"}, "give `schema`"),
        ({"type": "similarity", "threshold": 2}, "between 0 and 1"),
        ({"type": "cost_max"}, "give `max_usd`"),
        ({"type": "contains", "colour": "red"}, "unknown parameter 'colour'"),
        ({"type": "python", "function": "no_such_module_x:f"}, "cannot import"),
        ({"type": "llm_judge", "model": "judge"}, "give `rubric`"),
        ({"type": "llm_judge", "rubric": "r", "model": "judge", "retries": 9}, "retries must be"),
    ],
)
def test_bad_scorer_parameters_are_refused(spec, needle):
    with pytest.raises(ValueError, match=None) as info:
        scorer(spec)
    assert needle in str(info.value)


def test_built_ins_are_the_entry_points_pyproject_declares():
    import tomllib
    from pathlib import Path

    from stackwright.core.plugins import scorers
    from stackwright.evals.scorers import BUILTINS, ensure_builtins

    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert pyproject["project"]["entry-points"]["stackwright.scorers"] == BUILTINS
    ensure_builtins()
    assert set(BUILTINS) <= set(scorers.names())
