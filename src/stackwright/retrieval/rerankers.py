"""Rerankers: plugins that reorder a search's candidates, behind the ``stackwright.rerankers`` registry.

A reranker is a callable ``(query: str, hits: list[dict]) -> list[dict]`` returning the hits (the same
dicts, or copies) best first, each with its new ``score``. It sees the candidates before the final cut
(``k`` times the oversample factor), with ``text``, ``source``, ``title``, ``metadata``... Register one
from a package with an entry point::

    [project.entry-points."stackwright.rerankers"]
    cross-encoder = "my_package.rerank:cross_encoder"

or at run time with ``rerankers.register("name", fn)``. Built in: ``none`` (keeps the order) and
``overlap`` (the share of the query's words found in the chunk, ties kept in the previous order; cheap,
offline, useful when exact wording matters such as error codes or product names).
"""

from __future__ import annotations

from typing import Any

from stackwright.core.errors import InvalidInput, NotFound, StackwrightError
from stackwright.core.plugins import Registry

rerankers: Registry[Any] = Registry("rerankers", "Rerank a search's candidates: (query, hits) -> hits best first.")


def no_rerank(query: str, hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return hits


def overlap_rerank(query: str, hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from stackwright.retrieval.keyword import _WORD, terms

    words = terms(query)
    if not words:
        return hits
    scored = []
    for hit in hits:
        found = {w.lower() for w in _WORD.findall(f"{hit.get('title') or ''} {hit.get('text') or ''}")}
        share = sum(1 for w in words if w in found) / len(words)
        scored.append({**hit, "score": round(share, 6)})
    return sorted(scored, key=lambda h: -h["score"])  # stable: ties keep the search's order


rerankers.register("none", no_rerank, source="built-in")
rerankers.register("overlap", overlap_rerank, source="built-in")


def get_reranker(name: str) -> Any:
    try:
        return rerankers.get(name)
    except NotFound as exc:
        raise InvalidInput(exc.message) from None


def rerank(name: str, query: str, hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run reranker ``name``; a plugin that fails or answers something else is reported by name."""
    fn = get_reranker(name)
    try:
        result = fn(query, hits)
    except StackwrightError:
        raise
    except Exception as exc:
        raise StackwrightError(f"Reranker {name!r} failed: {exc}", code="reranker_failed") from exc
    if not isinstance(result, list) or not all(isinstance(h, dict) and "chunk_id" in h for h in result):
        raise StackwrightError(f"Reranker {name!r} must return a list of hits (dicts with chunk_id).", code="reranker_failed")
    return result
