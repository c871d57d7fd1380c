"""Retrieval metrics: pure functions over one ranking and its relevance labels, and their aggregate.

``score_ranking(retrieved_ids, relevant, k)`` scores one query:

- ``retrieved_ids``: ids best first (documents or chunks). Repeats are dropped, keeping the first rank,
  so a document retrieved through several of its chunks counts once, at its best rank.
- ``relevant``: the relevant ids, as a list (each gain 1) or a mapping id -> gain (graded relevance,
  e.g. 2 = answers the query, 1 = related). A gain of 0 marks an id as judged not relevant.
- ``k``: the cut-off.

It returns ``hit_rate`` (1 if a relevant id is in the top k), ``mrr`` (1 / rank of the first relevant
id in the top k, else 0; ``mrr_cutoff=False`` looks at the whole ranking), ``ndcg`` (DCG of the top k
over the ideal DCG, gain / log2(rank + 1)), ``precision`` (relevant ids in the top k / k) and
``recall`` (relevant ids in the top k / all relevant ids). A query with no relevant id cannot be
measured: ``score_ranking`` raises ``Unmeasured`` with the reason, never returns NaN.
``aggregate`` averages the measured queries and counts the unmeasured ones.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

METRICS = ("hit_rate", "mrr", "ndcg", "precision", "recall")


class Unmeasured(ValueError):
    """The query cannot be scored (no relevant id); ``reason`` says why, for people."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


def relevance_gains(relevant: Iterable[str] | Mapping[str, float]) -> dict[str, float]:
    """Relevant ids with their gains: a list gives each id gain 1; a mapping keeps its gains.

    Raises ValueError for a gain that is not a finite number >= 0, or an id that is not a string.
    """
    items = relevant.items() if isinstance(relevant, Mapping) else ((rid, 1.0) for rid in relevant)
    gains: dict[str, float] = {}
    for rid, gain in items:
        if not isinstance(rid, str) or not rid:
            raise ValueError(f"relevant ids must be non-empty strings, got {rid!r}")
        if isinstance(gain, bool) or not isinstance(gain, (int, float)) or not math.isfinite(gain) or gain < 0:
            raise ValueError(f"the gain of {rid!r} must be a number >= 0, got {gain!r}")
        gains[rid] = max(gains.get(rid, 0.0), float(gain))
    return gains


def unique_ranking(retrieved_ids: Iterable[str]) -> list[str]:
    """The ids in rank order with repeats dropped (each id keeps its first, best rank)."""
    return list(dict.fromkeys(retrieved_ids))


def _dcg(gains: Sequence[float]) -> float:
    return sum(gain / math.log2(rank + 1) for rank, gain in enumerate(gains, start=1))


def score_ranking(
    retrieved_ids: Iterable[str],
    relevant: Iterable[str] | Mapping[str, float],
    k: int,
    *,
    mrr_cutoff: bool = True,
) -> dict[str, float]:
    """hit_rate, mrr, ndcg, precision and recall at ``k`` for one ranking (see the module docstring)."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    gains = relevance_gains(relevant)
    positive = {rid: gain for rid, gain in gains.items() if gain > 0}
    if not positive:
        raise Unmeasured("no relevant ids" if not gains else "every listed id has gain 0 (none is relevant)")
    ranking = unique_ranking(retrieved_ids)
    top = ranking[:k]
    found = [rid for rid in top if rid in positive]
    first = next((rank for rank, rid in enumerate(ranking if not mrr_cutoff else top, start=1) if rid in positive), None)
    ideal = _dcg(sorted(positive.values(), reverse=True)[:k])
    return {
        "hit_rate": 1.0 if found else 0.0,
        "mrr": 1.0 / first if first else 0.0,
        "ndcg": _dcg([positive.get(rid, 0.0) for rid in top]) / ideal,
        "precision": len(found) / k,
        "recall": len(found) / len(positive),
    }


def aggregate(scores: Iterable[Mapping[str, float] | None]) -> dict[str, float | int | None]:
    """Mean of each metric over the measured queries (``None`` marks an unmeasured one), with counts.

    With no measured query every metric is ``None`` (not NaN, not 0): there is nothing to average.
    """
    measured: list[Mapping[str, float]] = []
    unmeasured = 0
    for score in scores:
        if score is None:
            unmeasured += 1
        else:
            measured.append(score)
    out: dict[str, float | int | None] = {
        name: (sum(s[name] for s in measured) / len(measured)) if measured else None for name in METRICS
    }
    out["measured"] = len(measured)
    out["unmeasured"] = unmeasured
    return out
