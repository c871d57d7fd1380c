"""Context assembly: budget, near-duplicates, order, citations; fusion and MMR on plain lists."""

from __future__ import annotations

import numpy as np
import pytest

from stackwright.core.errors import InvalidInput
from stackwright.local.embedder import count_tokens
from stackwright.retrieval.context import assemble_context
from stackwright.retrieval.hybrid import mmr, reciprocal_rank_fusion


def hit(n: int, text: str, document: str = "doc-a", position: int = 0, score: float | None = None) -> dict:
    return {"chunk_id": f"c{n}", "document_id": document, "source": f"{document}.md", "title": document.title(),
            "text": text, "position": position, "score": score if score is not None else 1.0 - n / 100}  # fmt: skip


HITS = [
    hit(1, "To reset your password, open Settings, then Security, and click Reset password.", "doc-a", 2),
    hit(2, "Invoices are emailed on the first day of each month to the billing contact.", "doc-b", 0),
    hit(3, "To reset your password, open Settings, then Security, and click Reset password!", "doc-c", 0),
    hit(4, "Passwords need at least twelve characters, one digit and one symbol.", "doc-a", 0),
]


def test_numbered_blocks_with_citations_best_first() -> None:
    result = assemble_context(HITS, budget_tokens=1000)
    assert result["context"].startswith("[1] To reset your password")
    assert "\n\n[2] Invoices are emailed" in result["context"]
    assert [c["chunk_id"] for c in result["citations"]] == ["c1", "c2", "c4"]
    assert [c["id"] for c in result["citations"]] == [1, 2, 3]
    assert result["citations"][0] == {"id": 1, "chunk_id": "c1", "document_id": "doc-a", "source": "doc-a.md",
                                      "title": "Doc-A", "heading_path": [], "score": 0.99}  # fmt: skip
    assert result["tokens"] == count_tokens(result["context"])


def test_near_duplicates_are_dropped_and_named() -> None:
    result = assemble_context(HITS, budget_tokens=1000)
    assert {"chunk_id": "c3", "reason": "duplicate", "duplicate_of": "c1"} in result["dropped"]
    kept = assemble_context(HITS, budget_tokens=1000, dedupe_threshold=1.0)  # 1.0: only identical texts
    assert "c3" in [c["chunk_id"] for c in kept["citations"]]


def test_budget_is_never_exceeded_and_smaller_hits_still_fit() -> None:
    long = hit(5, "word " * 300, "doc-d")
    hits = [HITS[0], long, HITS[3]]
    budget = count_tokens(f"[1] {HITS[0]['text']}\n\n[2] {HITS[3]['text']}") + 10  # far below the long hit's 300
    result = assemble_context(hits, budget_tokens=budget)
    assert result["tokens"] <= budget
    assert [c["chunk_id"] for c in result["citations"]] == ["c1", "c4"]
    assert any(d["chunk_id"] == "c5" and d["reason"] == "budget" for d in result["dropped"])
    for budget in (1, 5, 20, 40, 80):
        assert assemble_context(HITS, budget_tokens=budget)["tokens"] <= budget


def test_nothing_fits_gives_an_empty_context() -> None:
    result = assemble_context(HITS, budget_tokens=2)
    assert result["context"] == "" and result["citations"] == [] and result["tokens"] == 0
    assert {d["reason"] for d in result["dropped"]} == {"budget"}


def test_document_order_groups_a_document_and_follows_positions() -> None:
    result = assemble_context(HITS, budget_tokens=1000, order="document")
    assert [c["chunk_id"] for c in result["citations"]] == ["c4", "c1", "c2"]  # doc-a (best) at positions 0, 2; then doc-b
    assert result["context"].startswith("[1] Passwords need")


def test_empty_texts_and_no_hits() -> None:
    assert assemble_context([], budget_tokens=10) == {"context": "", "citations": [], "tokens": 0, "dropped": []}
    result = assemble_context([hit(1, "   ")], budget_tokens=10)
    assert result["dropped"] == [{"chunk_id": "c1", "reason": "empty"}]


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"budget_tokens": 0}, "budget_tokens"),
        ({"budget_tokens": 10, "dedupe_threshold": 0}, "dedupe_threshold"),
        ({"budget_tokens": 10, "dedupe_threshold": 1.5}, "dedupe_threshold"),
        ({"budget_tokens": 10, "order": "random"}, "order must be one of score, document"),
    ],
)
def test_bad_arguments(kwargs: dict, fragment: str) -> None:
    with pytest.raises(InvalidInput, match=fragment):
        assemble_context(HITS, **kwargs)


# -- fusion and diversification ----------------------------------------------------------------------


def test_rrf_sums_weighted_reciprocal_ranks() -> None:
    fused = reciprocal_rank_fusion({"vector": [1, 2, 3], "keyword": [3, 4]}, rrf_k=60)
    scores = dict(fused)
    assert scores[3] == pytest.approx(1 / 63 + 1 / 61)
    assert scores[1] == pytest.approx(1 / 61)
    assert [item for item, _ in fused] == [3, 1, 2, 4]  # 2 and 4 tie at 1/62: the first seen comes first
    weighted = reciprocal_rank_fusion({"vector": [1, 2], "keyword": [2, 1]}, {"vector": 1.0, "keyword": 3.0}, rrf_k=0)
    assert [item for item, _ in weighted] == [2, 1]
    assert reciprocal_rank_fusion({"vector": [1], "keyword": [2]}, {"keyword": 0}) == [(1, pytest.approx(1 / 61))]


def test_mmr_prefers_novel_rows_as_lambda_drops() -> None:
    q = np.array([1.0, 0.0, 0.0])
    rows = np.array([[0.99, 0.14, 0.0], [0.98, 0.199, 0.0], [0.7, 0.0, 0.714]])
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    assert mmr(q, rows, 3, lambda_=1.0) == [0, 1, 2]  # relevance only
    assert mmr(q, rows, 2, lambda_=0.3) == [0, 2]  # the near copy of row 0 gives way
    assert mmr(q, rows, 10) == mmr(q, rows, 3)
    assert mmr(q, rows[:0], 3) == []
    with pytest.raises(ValueError):
        mmr(q, rows, 2, lambda_=2)
