"""Retrieval metrics on rankings small enough to compute by hand."""

from __future__ import annotations

import math

import pytest

from stackwright.retrieval.metrics import METRICS, Unmeasured, aggregate, relevance_gains, score_ranking, unique_ranking

LOG2_3 = math.log2(3)


def test_binary_relevance_at_k():
    # top 3 = a, b, c; b is relevant at rank 2; d (relevant) is beyond the cut.
    scores = score_ranking(["a", "b", "c", "d"], ["b", "d"], 3)
    assert scores["hit_rate"] == 1.0
    assert scores["mrr"] == 0.5
    assert scores["precision"] == pytest.approx(1 / 3)
    assert scores["recall"] == 0.5
    # DCG = 1/log2(3); ideal = 1 + 1/log2(3)
    assert scores["ndcg"] == pytest.approx((1 / LOG2_3) / (1 + 1 / LOG2_3))
    assert scores["ndcg"] == pytest.approx(0.386853, abs=1e-6)
    assert set(scores) == set(METRICS)


def test_graded_ndcg():
    # gains: a=2, b=1, c=3 (never retrieved); ranking x, a, b.
    scores = score_ranking(["x", "a", "b"], {"a": 2, "b": 1, "c": 3}, 3)
    dcg = 2 / LOG2_3 + 1 / 2  # ranks 2 and 3
    ideal = 3 + 2 / LOG2_3 + 1 / 2  # 3, 2, 1 in the best order
    assert scores["ndcg"] == pytest.approx(dcg / ideal)
    assert scores["ndcg"] == pytest.approx(0.369995, abs=1e-6)
    assert scores["mrr"] == 0.5
    assert scores["precision"] == pytest.approx(2 / 3)
    assert scores["recall"] == pytest.approx(2 / 3)


def test_ideal_dcg_is_cut_at_k():
    # Three relevant ids but k = 1: the best possible ranking at 1 holds the gain-3 id only.
    assert score_ranking(["c"], {"a": 1, "b": 2, "c": 3}, 1)["ndcg"] == 1.0
    assert score_ranking(["b"], {"a": 1, "b": 2, "c": 3}, 1)["ndcg"] == pytest.approx(2 / 3)


def test_perfect_ranking_scores_one():
    scores = score_ranking(["a", "b"], {"a": 2, "b": 1}, 2)
    assert scores == {"hit_rate": 1.0, "mrr": 1.0, "ndcg": 1.0, "precision": 1.0, "recall": 1.0}


def test_duplicates_count_once_at_their_first_rank():
    # a document retrieved through several chunks: a, a, b, a, c -> a, b, c
    assert unique_ranking(["a", "a", "b", "a", "c"]) == ["a", "b", "c"]
    scores = score_ranking(["a", "a", "b", "a", "c"], ["c"], 3)
    assert scores["mrr"] == pytest.approx(1 / 3)
    assert scores["hit_rate"] == 1.0
    assert scores["precision"] == pytest.approx(1 / 3)
    assert scores["recall"] == 1.0
    assert scores["ndcg"] == pytest.approx(1 / math.log2(4))
    # repeating a relevant id does not inflate precision or DCG
    assert score_ranking(["c", "c", "c"], ["c"], 3)["precision"] == pytest.approx(1 / 3)
    assert score_ranking(["c", "c", "c"], ["c"], 3)["ndcg"] == 1.0


def test_nothing_relevant_retrieved():
    scores = score_ranking(["a", "b"], ["z"], 2)
    assert scores == {"hit_rate": 0.0, "mrr": 0.0, "ndcg": 0.0, "precision": 0.0, "recall": 0.0}
    assert score_ranking([], ["z"], 5)["hit_rate"] == 0.0


def test_precision_divides_by_k_even_when_fewer_were_retrieved():
    assert score_ranking(["a"], ["a"], 4)["precision"] == 0.25


def test_mrr_cutoff():
    assert score_ranking(["a", "b", "c", "d"], ["d"], 2)["mrr"] == 0.0
    assert score_ranking(["a", "b", "c", "d"], ["d"], 2, mrr_cutoff=False)["mrr"] == 0.25
    # the other metrics keep the cut
    assert score_ranking(["a", "b", "c", "d"], ["d"], 2, mrr_cutoff=False)["hit_rate"] == 0.0


def test_gain_zero_marks_judged_not_relevant():
    scores = score_ranking(["n", "a"], {"n": 0, "a": 1}, 2)
    assert scores["mrr"] == 0.5
    assert scores["recall"] == 1.0
    assert scores["precision"] == 0.5


def test_no_relevant_ids_is_unmeasured_never_nan():
    with pytest.raises(Unmeasured) as exc:
        score_ranking(["a"], [], 5)
    assert exc.value.reason == "no relevant ids"
    with pytest.raises(Unmeasured) as exc:
        score_ranking(["a"], {"a": 0, "b": 0}, 5)
    assert "gain 0" in exc.value.reason


def test_list_gains_and_repeated_ids():
    assert relevance_gains(["a", "b", "a"]) == {"a": 1.0, "b": 1.0}
    assert relevance_gains({"a": 2, "b": 0.5}) == {"a": 2.0, "b": 0.5}


@pytest.mark.parametrize(
    ("relevant", "message"),
    [
        ({"a": -1}, "must be a number >= 0"),
        ({"a": float("nan")}, "must be a number >= 0"),
        ({"a": float("inf")}, "must be a number >= 0"),
        ({"a": True}, "must be a number >= 0"),
        ({"a": "2"}, "must be a number >= 0"),
        ([1, 2], "non-empty strings"),
        ([""], "non-empty strings"),
    ],
)
def test_bad_relevance_labels(relevant, message):
    with pytest.raises(ValueError, match=message):
        score_ranking(["a"], relevant, 3)


@pytest.mark.parametrize("k", [0, -1, 2.5, True, "3"])
def test_bad_k(k):
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        score_ranking(["a"], ["a"], k)


def test_aggregate_means_measured_and_counts_unmeasured():
    first = score_ranking(["a", "b"], ["a"], 2)  # all 1 except precision 0.5
    second = score_ranking(["x", "b"], ["b"], 2)  # mrr 0.5
    result = aggregate([first, None, second])
    assert result["measured"] == 2
    assert result["unmeasured"] == 1
    assert result["hit_rate"] == 1.0
    assert result["mrr"] == pytest.approx(0.75)
    assert result["precision"] == 0.5
    assert result["ndcg"] == pytest.approx((1 + 1 / LOG2_3) / 2)


def test_aggregate_with_nothing_measured_has_no_numbers():
    result = aggregate(iter([None, None]))
    assert result == {"hit_rate": None, "mrr": None, "ndcg": None, "precision": None, "recall": None, "measured": 0, "unmeasured": 2}
    assert aggregate([])["measured"] == 0
