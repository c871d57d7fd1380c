"""Checks by embedding similarity (the local WordLlama embedder: offline, about a millisecond a text):
banned topics and groundedness. Texts are compared sentence by sentence, so one bad sentence in a long
message is not averaged away."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from stackwright.guardrails.checks import (
    Check,
    Context,
    ParamError,
    Result,
    number,
    strings,
)

_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


def sentences(text: str, min_chars: int = 3) -> list[str]:
    parts = [p.strip() for p in _SENTENCE.split(text)]
    return [p for p in parts if len(p) >= min_chars]


def embed(texts: list[str]) -> Any:
    from stackwright.local.embedder import embed as local_embed

    return local_embed(texts)


@lru_cache(maxsize=256)
def embed_fixed(texts: tuple[str, ...]) -> Any:
    """Embeddings of a fixed list (topic descriptions, an attack corpus), computed once per process."""
    return embed(list(texts))


@lru_cache(maxsize=256)
def embed_sentences(text: str) -> tuple[tuple[str, ...], Any]:
    """(sentences, their embeddings) of a text; cached, so the checks of one request embed it once."""
    pieces = tuple(sentences(text) or [text])
    return pieces, embed(list(pieces))


def max_similarity(text: str, references: tuple[str, ...]) -> tuple[float, int, str]:
    """(best cosine, index of the best reference, the sentence that matched) over the text's sentences."""
    import numpy as np

    pieces, vectors = embed_sentences(text)
    matrix = vectors @ embed_fixed(references).T
    flat = int(np.argmax(matrix))
    row, col = divmod(flat, matrix.shape[1])
    return float(matrix[row, col]), col, pieces[row]


class BannedTopics(Check):
    """Triggers when a sentence of the text is about one of ``topics`` (descriptions), cosine ≥ ``threshold``."""

    name = "banned_topics"
    params_known = ("topics", "threshold")

    def __init__(self, params: dict[str, Any]):
        super().__init__(params)
        self.topics = tuple(strings(params, "topics"))
        if not self.topics:
            raise ParamError("topics", "topics must list at least one topic description, e.g. ['medical diagnosis and treatment']")
        self.threshold = number(params, "threshold", 0.2, 0.0, 1.0)  # WordLlama cosines run low: 0.2+ is on topic

    def run(self, text: str, ctx: Context) -> Result:
        if not text.strip():
            return Result(False)
        similarity, index, _ = max_similarity(text, self.topics)
        score = max(0.0, min(1.0, similarity))
        if similarity >= self.threshold:
            return Result(True, score, [f"about banned topic {self.topics[index]!r} (similarity {similarity:.2f})"],
                          [{"topic": self.topics[index], "similarity": round(similarity, 4)}])  # fmt: skip
        return Result(False, score)


class Groundedness(Check):
    """Share of answer sentences supported by the context (cosine ≥ ``threshold`` to a context sentence);
    triggers below ``min_supported``."""

    name = "groundedness"
    directions = ("output",)
    params_known = ("threshold", "min_supported")

    def __init__(self, params: dict[str, Any]):
        super().__init__(params)
        self.threshold = number(params, "threshold", 0.75, 0.0, 1.0)
        self.min_supported = number(params, "min_supported", 0.5, 0.0, 1.0)

    def run(self, text: str, ctx: Context) -> Result:
        if not sentences(text):
            return Result(False, 1.0, ["nothing to ground: the answer is empty"])
        if not sentences(ctx.context or ""):
            return Result(True, 0.0, ["no context to ground the answer in"])
        answer, answer_vectors = embed_sentences(text)
        matrix = answer_vectors @ embed_sentences(ctx.context or "")[1].T
        best = matrix.max(axis=1)
        supported = [float(b) >= self.threshold for b in best]
        share = sum(supported) / len(answer)
        unsupported = [{"sentence": s[:200], "similarity": round(float(b), 4)} for s, b, ok in zip(answer, best, supported, strict=True) if not ok]
        if share < self.min_supported:
            return Result(True, share, [f"{len(unsupported)} of {len(answer)} sentences not supported by the context"], unsupported)
        return Result(False, share, [], unsupported)
