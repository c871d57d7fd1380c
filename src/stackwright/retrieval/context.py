"""Context assembly: the best hits, fitted into a token budget, near-duplicates dropped, numbered for citation.

    result = assemble_context(hits, budget_tokens=800)
    result["context"]    # "[1] text of the best chunk\n\n[2] ..."
    result["citations"]  # [{"id": 1, "chunk_id", "document_id", "source", "title", "heading_path", "score"}, ...]
    result["tokens"]     # tokens of result["context"] (stackwright.local.embedder.count_tokens)
    result["dropped"]    # [{"chunk_id", "reason": "duplicate" | "budget", ...}]

Hits are taken best first (their order in ``hits``). A hit whose text is at least ``dedupe_threshold``
similar (rapidfuzz's normalised Indel similarity, 0..1) to one already taken is dropped as a duplicate;
one that does not fit in what is left of the budget is dropped and smaller ones after it may still fit.
``order="document"`` then sorts the chosen hits by document (best document first) and position within
it, so neighbouring chunks of one document read in their original order; ``"score"`` keeps best first.
"""

from __future__ import annotations

from typing import Any

from stackwright.core.errors import InvalidInput

SEPARATOR = "\n\n"
ORDERS = ("score", "document")


def _block(number: int, text: str) -> str:
    return f"[{number}] {text.strip()}"


def _similar(a: str, b: str) -> float:
    from rapidfuzz.distance import Indel

    return Indel.normalized_similarity(a, b)


def _check(budget_tokens: int, dedupe_threshold: float, order: str) -> None:
    if isinstance(budget_tokens, bool) or not isinstance(budget_tokens, int) or budget_tokens < 1:
        raise InvalidInput(f"budget_tokens must be a whole number of tokens, 1 or more; got {budget_tokens!r}.")
    if not 0.0 < dedupe_threshold <= 1.0:
        raise InvalidInput(f"dedupe_threshold must be above 0 and at most 1 (1 drops only identical texts); got {dedupe_threshold!r}.")
    if order not in ORDERS:
        raise InvalidInput(f"order must be one of {', '.join(ORDERS)}; got {order!r}.")


def _pick(hits: list[dict[str, Any]], budget_tokens: int, dedupe_threshold: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from stackwright.local.embedder import count_tokens, count_tokens_many

    chosen: list[dict[str, Any]] = []
    dropped: list[dict[str, Any]] = []
    separator_tokens = count_tokens(SEPARATOR)
    # Each block is counted with a wide number ("[99] "), so renumbering never makes it longer.
    sizes = count_tokens_many([_block(99, hit.get("text") or "") for hit in hits])
    used = 0
    for hit, size in zip(hits, sizes, strict=True):
        text = (hit.get("text") or "").strip()
        if not text:
            dropped.append({"chunk_id": hit.get("chunk_id"), "reason": "empty"})
            continue
        twin = next((c for c in chosen if _similar(text, c["text"].strip()) >= dedupe_threshold), None)
        if twin is not None:
            dropped.append({"chunk_id": hit.get("chunk_id"), "reason": "duplicate", "duplicate_of": twin.get("chunk_id")})
            continue
        cost = size + (separator_tokens if chosen else 0)
        if used + cost > budget_tokens:
            dropped.append({"chunk_id": hit.get("chunk_id"), "reason": "budget", "tokens": size})
            continue
        chosen.append(hit)
        used += cost
    return chosen, dropped


def _ordered(chosen: list[dict[str, Any]], order: str) -> list[dict[str, Any]]:
    if order == "score":
        return chosen
    document_rank: dict[Any, int] = {}
    for hit in chosen:
        document_rank.setdefault(hit.get("document_id"), len(document_rank))
    return sorted(chosen, key=lambda h: (document_rank[h.get("document_id")], h.get("position") or 0))


def assemble_context(
    hits: list[dict[str, Any]],
    budget_tokens: int,
    *,
    dedupe_threshold: float = 0.9,
    order: str = "score",
) -> dict[str, Any]:
    """Fit ``hits`` (best first; each with ``text`` and ideally ``chunk_id``, ``document_id``, ``source``,
    ``title``, ``position``, ``score``) into ``budget_tokens``; see the module docstring for the result."""
    from stackwright.local.embedder import count_tokens

    _check(budget_tokens, dedupe_threshold, order)
    chosen, dropped = _pick(hits, budget_tokens, dedupe_threshold)
    chosen = _ordered(chosen, order)
    while True:
        context = SEPARATOR.join(_block(i, hit["text"]) for i, hit in enumerate(chosen, 1))
        tokens = count_tokens(context)
        if tokens <= budget_tokens or not chosen:
            break
        # Tokens can merge across block boundaries; drop the weakest chosen hit until it fits.
        weakest = min(range(len(chosen)), key=lambda i: (chosen[i].get("score") or 0.0, -i))
        dropped.append({"chunk_id": chosen[weakest].get("chunk_id"), "reason": "budget"})
        chosen.pop(weakest)
    citations = [
        {
            "id": i,
            "chunk_id": hit.get("chunk_id"),
            "document_id": hit.get("document_id"),
            "source": hit.get("source"),
            "title": hit.get("title"),
            "heading_path": hit.get("heading_path") or [],
            "score": hit.get("score"),
        }
        for i, hit in enumerate(chosen, 1)
    ]
    return {"context": context, "citations": citations, "tokens": tokens, "dropped": dropped}
