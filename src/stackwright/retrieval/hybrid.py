"""Fusing and diversifying result lists: reciprocal rank fusion (hybrid search) and MMR.

Both work on row ids (``retrieval_chunks.row_id``) so that no chunk text is read before the final cut.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

DEFAULT_RRF_K = 60


def reciprocal_rank_fusion(
    rankings: Mapping[str, Sequence[int]],
    weights: Mapping[str, float] | None = None,
    rrf_k: int = DEFAULT_RRF_K,
) -> list[tuple[int, float]]:
    """Fuse ranked lists: each item scores ``sum(weight / (rrf_k + rank))`` over the lists it is in
    (rank 1 is the best). Returns ``(item, score)`` best first; ties keep the order of first appearance
    in the lists, taken in the order given (so the result is deterministic)."""
    if rrf_k < 0:
        raise ValueError("rrf_k must be 0 or more")
    weights = weights or {}
    scores: dict[int, float] = {}
    for name, ranking in rankings.items():
        weight = float(weights.get(name, 1.0))
        if weight == 0:
            continue
        for rank, item in enumerate(ranking, 1):
            scores[item] = scores.get(item, 0.0) + weight / (rrf_k + rank)
    order = {item: i for i, item in enumerate(scores)}
    return sorted(scores.items(), key=lambda pair: (-pair[1], order[pair[0]]))


def mmr(query: np.ndarray, candidates: np.ndarray, k: int, lambda_: float = 0.5, relevance: np.ndarray | None = None) -> list[int]:
    """Maximal marginal relevance: indices of ``k`` rows of ``candidates`` (unit vectors, best first by
    relevance) chosen one by one to maximise ``lambda_ * relevance - (1 - lambda_) * max similarity to
    the rows already chosen``. ``relevance`` defaults to the cosine with ``query``; ``lambda_=1`` keeps
    the relevance order, lower values favour diversity."""
    import numpy as np

    if not 0.0 <= lambda_ <= 1.0:
        raise ValueError("lambda_ must be between 0 and 1")
    count = candidates.shape[0]
    k = min(k, count)
    if k <= 0:
        return []
    cands = np.asarray(candidates, dtype=np.float64)
    rel = np.asarray(relevance, dtype=np.float64) if relevance is not None else cands @ np.asarray(query, dtype=np.float64)
    chosen: list[int] = []
    max_sim = np.full(count, -np.inf)
    available = np.ones(count, dtype=bool)
    for _ in range(k):
        penalty = np.where(np.isfinite(max_sim), max_sim, 0.0)
        value = lambda_ * rel - (1.0 - lambda_) * penalty
        value[~available] = -np.inf
        best = int(np.argmax(value))  # the first of equal values: the more relevant one
        chosen.append(best)
        available[best] = False
        max_sim = np.maximum(max_sim, cands @ cands[best])
    return chosen
