"""Built-in scorers on meaning: embedding similarity and groundedness (local embedder), and the retrieval
metrics of the retrieval layer."""

from __future__ import annotations

from typing import Any

from stackwright.evals.scorers import Case, Score, check_params, number, output_text


def _cosines(texts_a: list[str], texts_b: list[str]) -> Any:
    from stackwright.local.embedder import embed

    vectors = embed([*texts_a, *texts_b])
    return vectors[: len(texts_a)] @ vectors[len(texts_a) :].T  # rows are unit length


class EmbeddingSimilarity:
    """Cosine similarity of output and expected text (local embedder); passes at ``threshold``."""

    def __init__(self, params: dict[str, Any]):
        check_params(params, {"threshold"}, "embedding_similarity")
        self.threshold = number(params, "threshold", 0.8, low=-1, high=1)

    def score(self, case: Case) -> Score:
        if case.expected is None:
            return Score.unmeasured("the case has no expected text")
        wanted = case.expected if isinstance(case.expected, list) else [case.expected]
        text = output_text(case.output)
        if not text.strip():
            return Score.of_bool(False, "the output is empty")
        value = float(_cosines([text], [output_text(w) for w in wanted]).max())
        value = max(0.0, min(1.0, value))
        return Score(value, value >= self.threshold)


def _context_texts(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [str(value.get("text") or value.get("content") or "")]
    if isinstance(value, list):
        return [t for v in value for t in _context_texts(v)]
    return [str(value)]


def find_context(case: Case, field: str) -> list[str]:
    """The context the answer should rest on: the output's, the input's, then the metadata's ``field``."""
    for source in (case.output if isinstance(case.output, dict) else None, case.input if isinstance(case.input, dict) else None,
                   case.metadata, case.extra):  # fmt: skip
        if isinstance(source, dict) and source.get(field) is not None:
            return [t for t in _context_texts(source[field]) if t.strip()]
    return []


class Groundedness:
    """Share of answer sentences supported by the context: a sentence is supported when its embedding is
    within ``threshold`` cosine of some context sentence. Passes at ``min_share``."""

    def __init__(self, params: dict[str, Any]):
        check_params(params, {"threshold", "min_share", "context_field", "answer_field"}, "groundedness")
        self.threshold = number(params, "threshold", 0.75, low=-1, high=1)
        self.min_share = number(params, "min_share", 1.0, low=0, high=1)
        self.field = str(params.get("context_field", "context"))
        self.answer_field = params.get("answer_field")

    def score(self, case: Case) -> Score:
        from stackwright.local.sentences import split_sentences

        context = find_context(case, self.field)
        if not context:
            return Score.unmeasured(f"the case has no `{self.field}` (in its output, input or metadata) to check the answer against")
        answer = case.output.get(self.answer_field) if self.answer_field and isinstance(case.output, dict) else case.output
        sentences = split_sentences(output_text(answer))
        if not sentences:
            return Score.unmeasured("the answer has no sentences")
        context_sentences = [s for text in context for s in split_sentences(text)] or context
        best = _cosines(sentences, context_sentences).max(axis=1)
        unsupported = [s for s, b in zip(sentences, best, strict=True) if b < self.threshold]
        share = 1 - len(unsupported) / len(sentences)
        return Score(share, share >= self.min_share, None, {"unsupported": unsupported[:10], "sentences": len(sentences)})


METRICS = ("hit_rate", "mrr", "ndcg", "precision", "recall")
MAX_K = 1000  # the cut-off of a ranking


class Retrieval:
    """Ranking metrics of retrieved ids against the relevant ones (stackwright.retrieval.metrics):
    ``metric`` (e.g. recall, precision, mrr, ndcg, hit_rate) at ``k``. Retrieved ids come from the output's
    ``retrieved_ids`` (or ``field``), relevant ids from the expected value or the metadata's ``relevant``."""

    def __init__(self, params: dict[str, Any]):
        check_params(params, {"metric", "k", "field", "threshold"}, "retrieval")
        try:
            from stackwright.retrieval.metrics import score_ranking
        except ImportError:
            raise ValueError(
                "the retrieval metrics are not available in this install (stackwright.retrieval.metrics.score_ranking is missing)"
            ) from None
        self.score_ranking = score_ranking
        self.metric = str(params.get("metric", "recall"))
        if self.metric not in METRICS:
            raise ValueError(f"metric must be one of {', '.join(METRICS)}, not {self.metric!r}")
        k = params.get("k", 5)
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
            raise ValueError(f"k must be a whole number from 1 to {MAX_K}, not {k!r}")
        self.k = k
        self.field = str(params.get("field", "retrieved_ids"))
        self.threshold = number(params, "threshold", None, low=0, high=1)

    def score(self, case: Case) -> Score:
        retrieved = case.output.get(self.field) if isinstance(case.output, dict) else None
        if retrieved is None:
            retrieved = case.extra.get(self.field)
        if not isinstance(retrieved, list):
            return Score.unmeasured(f"the output has no `{self.field}` list")
        relevant = case.metadata.get("relevant") if case.expected is None else case.expected
        if isinstance(relevant, dict):
            relevant = {str(k): v for k, v in relevant.items()}
        elif isinstance(relevant, list) and relevant:
            relevant = [str(r) for r in relevant]
        else:
            return Score.unmeasured("the case names no relevant ids (a list or {id: gain} as expected, or metadata.relevant)")
        try:
            result = self.score_ranking([str(r) for r in retrieved], relevant, self.k)
        except Exception as exc:  # the metrics' Unmeasured (no relevant id) and bad gains
            return Score.unmeasured(f"retrieval metrics: {exc}")
        if self.metric not in result:
            return Score.unmeasured(f"the retrieval metrics have no {self.metric!r} (they have {', '.join(result)})")
        value = float(result[self.metric])
        return Score(value, None if self.threshold is None else value >= self.threshold, None, {"k": self.k, **result})
