"""Retrieval evaluation (no HTTP): run labelled queries through search and score the rankings.

A label is ``{"query": "...", "relevant": ["billing-refunds-annual.md", ...]}`` or, graded,
``{"query": "...", "relevant": {"billing-refunds-annual.md": 2, "billing-refunds-monthly.md": 1}}``,
with an optional ``id``; other keys are ignored. A relevant id may be:

- a document's source: exact, or a path suffix (``billing/refunds.md`` or the file name) when exactly one
  document's source ends with it;
- a document id, or a chunk id, of the collection.

``granularity="document"`` scores documents: each hit counts as its document, at the rank of the
document's best chunk (the search fetches up to 4 x k chunks so that k distinct documents can be
ranked); a chunk id label stands for its document. ``granularity="chunk"`` scores chunks: a document
label makes each of the document's chunks relevant with the document's gain.

Ids that match nothing in the collection are reported per query (``unknown_ids``, with the reason) and
left out of the query's relevant set; a query left with no relevant id is unmeasured (with the reason),
never scored as a miss. Queries run through the same code path as ``stackwright search`` (filters,
ACL principals, the collection's search settings); the query texts are embedded in batches.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from stackwright.core.errors import InvalidInput
from stackwright.retrieval import metrics
from stackwright.retrieval.models import Collection, RetrievalChunk, RetrievalDocument

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from stackwright.core.db import Database

MODES = ("vector", "keyword", "hybrid")
GRANULARITIES = ("document", "chunk")
MAX_LABELS = 5000
MAX_RELEVANT = 1000  # ids per label
MAX_K = 100  # the search's own limit
DOCUMENT_DEPTH = 4  # chunks fetched per wanted document at document granularity
_IN_BATCH = 500


@dataclass(frozen=True)
class Label:
    """One labelled query: ``relevant`` maps ids (sources, document or chunk ids) to gains."""

    query: str
    relevant: dict[str, float]
    id: str | None = None


# -- parsing labels --------------------------------------------------------------------------------


def parse_label(raw: Any, where: str) -> Label:
    """One label from its JSON form; InvalidInput names ``where`` (e.g. ``labels.jsonl, line 3``) and the fault."""
    from stackwright.retrieval.search.service import MAX_QUERY_CHARS

    if not isinstance(raw, Mapping):
        raise InvalidInput(f"{where}: a label must be an object with query and relevant; got {type(raw).__name__}.",
                           hint='Example: {"query": "how do I get a refund", "relevant": ["billing-refunds.md"]}')  # fmt: skip
    if "query" not in raw:
        raise InvalidInput(f"{where}: 'query' is missing.", hint="Add the question to search for.")
    query = raw["query"]
    if not isinstance(query, str) or not query.strip():
        raise InvalidInput(f"{where}: 'query' must be a non-empty text; got {query!r}.")
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidInput(f"{where}: 'query' is longer than {MAX_QUERY_CHARS} characters.")
    if "relevant" not in raw:
        raise InvalidInput(f"{where}: 'relevant' is missing.",
                           hint="List the relevant ids (document sources, document ids or chunk ids), or give an object of id: gain.")  # fmt: skip
    relevant = raw["relevant"]
    if isinstance(relevant, str) or not isinstance(relevant, (list, Mapping)):
        raise InvalidInput(f"{where}: 'relevant' must be a list of ids or an object of id: gain; got {type(relevant).__name__}.",
                           hint='Example: ["billing-refunds.md"] or {"billing-refunds.md": 2, "billing-plans.md": 1}.')  # fmt: skip
    if len(relevant) > MAX_RELEVANT:
        raise InvalidInput(f"{where}: 'relevant' has {len(relevant)} ids; at most {MAX_RELEVANT} are allowed.")
    try:
        gains = metrics.relevance_gains(relevant)
    except ValueError as exc:
        raise InvalidInput(f"{where}: 'relevant': {exc}.") from None
    if any(len(rid) > 1000 for rid in gains):
        raise InvalidInput(f"{where}: 'relevant' has an id longer than 1000 characters.")
    label_id = raw.get("id")
    if label_id is not None and not isinstance(label_id, (str, int)):
        raise InvalidInput(f"{where}: 'id' must be a text or a number; got {type(label_id).__name__}.")
    return Label(query=query, relevant=gains, id=None if label_id is None else str(label_id))


def parse_labels(items: Iterable[Any], *, where: str = "labels") -> list[Label]:
    """Labels from a list of JSON objects (``where[0]``, ``where[1]``... in errors)."""
    labels = [parse_label(raw, f"{where}[{index}]") for index, raw in enumerate(items)]
    _check_count(labels, where)
    return labels


def parse_labels_jsonl(text: str, *, source: str = "labels.jsonl") -> list[Label]:
    """Labels from JSONL text, one object a line (blank lines skipped); errors name the line."""
    import orjson

    labels = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(f"{source}, line {number}: not valid JSON ({exc}).",
                               hint="Each line must be one JSON object, e.g. {\"query\": \"...\", \"relevant\": [\"doc.md\"]}.") from None  # fmt: skip
        labels.append(parse_label(raw, f"{source}, line {number}"))
        if len(labels) > MAX_LABELS:
            break
    _check_count(labels, source)
    return labels


def _check_count(labels: list[Label], where: str) -> None:
    if not labels:
        raise InvalidInput(f"{where}: no labelled queries.", hint='Give at least one {"query": ..., "relevant": [...]}.')
    if len(labels) > MAX_LABELS:
        raise InvalidInput(f"{where}: more than {MAX_LABELS} labelled queries.", hint="Split them into several evaluations.")


# -- resolving label ids ---------------------------------------------------------------------------


def _normalise(path: str) -> str:
    path = path.replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    return path


class _Resolver:
    """Maps label ids to the collection's document ids (document granularity) or chunk ids (chunk)."""

    def __init__(self, session: Session, collection: Collection, granularity: str):
        self.session = session
        self.collection_id = collection.id
        self.granularity = granularity
        rows = session.execute(
            select(RetrievalDocument.id, RetrievalDocument.source).where(RetrievalDocument.collection_id == collection.id)
        ).all()
        self.sources = {doc_id: source for doc_id, source in rows}
        self.by_source = {source: doc_id for doc_id, source in rows}
        self.by_suffix: dict[str, set[str]] = {}
        for doc_id, source in rows:
            parts = _normalise(source).split("/")
            for start in range(len(parts)):
                self.by_suffix.setdefault("/".join(parts[start:]), set()).add(doc_id)
        self.chunk_document: dict[str, str] = {}
        self.document_chunks: dict[str, list[str]] = {}

    def load(self, labels: list[Label]) -> None:
        """Look up, in batches, the chunk ids the labels name and, for chunk granularity, documents' chunks."""
        unknown = {rid for label in labels for rid in label.relevant if rid not in self.sources and rid not in self.by_source}
        wanted = [rid for rid in unknown if len(rid) <= 64]
        for i in range(0, len(wanted), _IN_BATCH):
            rows = self.session.execute(
                select(RetrievalChunk.chunk_id, RetrievalChunk.document_id).where(
                    RetrievalChunk.collection_id == self.collection_id, RetrievalChunk.chunk_id.in_(wanted[i : i + _IN_BATCH])
                )
            ).all()
            self.chunk_document.update({chunk_id: doc_id for chunk_id, doc_id in rows})
        if self.granularity == "chunk":
            documents = sorted({doc for label in labels for rid in label.relevant if (doc := self._document(rid)[0])})
            for i in range(0, len(documents), _IN_BATCH):
                rows = self.session.execute(
                    select(RetrievalChunk.document_id, RetrievalChunk.chunk_id)
                    .where(RetrievalChunk.document_id.in_(documents[i : i + _IN_BATCH]))
                    .order_by(RetrievalChunk.document_id, RetrievalChunk.position)
                ).all()
                for doc_id, chunk_id in rows:
                    self.document_chunks.setdefault(doc_id, []).append(chunk_id)

    def _document(self, rid: str) -> tuple[str | None, str]:
        """(document id, "") for a source or document id, else (None, why not)."""
        if rid in self.sources:
            return rid, ""
        if rid in self.by_source:
            return self.by_source[rid], ""
        matches = self.by_suffix.get(_normalise(rid).lstrip("/"), set())
        if len(matches) == 1:
            return next(iter(matches)), ""
        if len(matches) > 1:
            return None, f"ambiguous: the sources of {len(matches)} documents end with it; give a longer path"
        return None, "no document source, document id or chunk id of the collection matches it"

    def resolve(self, label: Label) -> tuple[dict[str, float], list[dict[str, str]]]:
        """The label's relevant ids at this granularity with their gains, and the ids that match nothing."""
        resolved: dict[str, float] = {}
        unknown: list[dict[str, str]] = []

        def add(key: str, gain: float) -> None:
            resolved[key] = max(resolved.get(key, 0.0), gain)

        for rid, gain in label.relevant.items():
            if rid in self.chunk_document:
                add(rid if self.granularity == "chunk" else self.chunk_document[rid], gain)
                continue
            doc_id, reason = self._document(rid)
            if doc_id is None:
                unknown.append({"id": rid, "reason": reason})
            elif self.granularity == "document":
                add(doc_id, gain)
            elif not self.document_chunks.get(doc_id):
                unknown.append({"id": rid, "reason": "the document has no chunks (empty, or its ingest has not finished)"})
            else:
                for chunk_id in self.document_chunks[doc_id]:
                    add(chunk_id, gain)
        return resolved, unknown


# -- running the queries ---------------------------------------------------------------------------


def _check_options(k: Any, modes: Any, granularity: Any) -> list[str]:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise InvalidInput(f"k must be a whole number from 1 to {MAX_K}; got {k!r}.")
    if isinstance(modes, str) or not modes or not all(isinstance(m, str) for m in modes):
        raise InvalidInput(f"modes must be a non-empty list of {', '.join(MODES)}; got {modes!r}.")
    wrong = [m for m in modes if m not in MODES]
    if wrong:
        raise InvalidInput(f"Unknown mode {wrong[0]!r}: modes are {', '.join(MODES)}.")
    if granularity not in GRANULARITIES:
        raise InvalidInput(f"granularity must be document or chunk; got {granularity!r}.")
    return list(dict.fromkeys(modes))


def _embed_queries(db: Database, collection: Collection, labels: list[Label], embed_context: Any) -> Any:
    from stackwright.retrieval.embedders import EmbedContext, open_embedder

    context = embed_context or EmbedContext(db=db, project_id=collection.project_id)
    texts = list(dict.fromkeys(label.query for label in labels))
    with open_embedder(context, collection.embedder, collection.dimensions) as embedder:
        vectors = embedder.embed(texts)
    return dict(zip(texts, vectors, strict=True))


def _ranking(hits: list[dict[str, Any]], granularity: str, k: int) -> list[dict[str, Any]]:
    """The top ``k`` retrieved ids at this granularity, each once, with its source."""
    key = "document_id" if granularity == "document" else "chunk_id"
    seen: dict[str, dict[str, Any]] = {}
    for hit in hits:
        if hit[key] not in seen:
            seen[hit[key]] = {"id": hit[key], "source": hit.get("source"), "score": hit.get("score")}
        if len(seen) == k:
            break
    return list(seen.values())


def evaluate(
    db: Database,
    project_id: str,
    collection_name: str,
    labels: list[Label],
    *,
    k: int = 10,
    modes: Sequence[str] = MODES,
    granularity: str = "document",
    filter: str | dict[str, Any] | None = None,
    principals: list[str] | None = None,
    allow_all: bool = False,
    embed_context: Any = None,
) -> dict[str, Any]:
    """Score ``labels`` on the collection in each mode: per-mode aggregates and per-query rows.

    Raises NotFound (unknown collection), InvalidInput (bad k, mode, granularity, filter or principals),
    Forbidden (principal ``*`` without ``allow_all``), EmbedderFailed (the query embedder failed).
    """
    from stackwright.retrieval.search.service import SearchOptions, find_collection, plan, search_collection

    started = time.perf_counter()
    modes = _check_options(k, modes, granularity)
    if not labels:
        raise InvalidInput("No labelled queries to evaluate.")
    if len(labels) > MAX_LABELS:
        raise InvalidInput(f"At most {MAX_LABELS} labelled queries per evaluation; got {len(labels)}.", hint="Split them.")
    depth = min(MAX_K, k * DOCUMENT_DEPTH) if granularity == "document" else k
    with db.read() as session:
        collection = find_collection(session, project_id, collection_name)
        plans = {mode: plan(collection, SearchOptions(query=labels[0].query, k=depth, mode=mode, filter=filter,
                                                      principals=principals), allow_all=allow_all) for mode in modes}  # fmt: skip
        resolver = _Resolver(session, collection, granularity)
        resolver.load(labels)
        resolved = [resolver.resolve(label) for label in labels]
    vectors = _embed_queries(db, collection, labels, embed_context) if {"vector", "hybrid"} & set(modes) else {}
    rows = [_row(label, relevant, unknown) for label, (relevant, unknown) in zip(labels, resolved, strict=True)]
    scores: dict[str, list[dict[str, float] | None]] = {mode: [] for mode in modes}
    with db.read() as session:
        collection = find_collection(session, project_id, collection_name)
        for label, (relevant, _), row in zip(labels, resolved, rows, strict=True):
            for mode in modes:
                query_plan = replace(plans[mode], query=label.query, timings={})
                hits = search_collection(session, db.settings.home, collection, query_plan, vectors.get(label.query))
                ranking = _ranking(hits, granularity, k)
                score = None if row["unmeasured"] else metrics.score_ranking([r["id"] for r in ranking], relevant, k)
                scores[mode].append(score)
                for item in ranking:
                    item["gain"] = relevant.get(item["id"], 0.0)
                row["modes"][mode] = {**(score or {}), "retrieved": ranking}
    return {
        "collection": collection.name,
        "k": k,
        "granularity": granularity,
        "modes": {mode: metrics.aggregate(scores[mode]) for mode in modes},
        "queries": rows,
        "labels": len(labels),
        "unknown_ids": sum(len(row["unknown_ids"]) for row in rows),
        "took_ms": round((time.perf_counter() - started) * 1000, 3),
    }


def _row(label: Label, relevant: dict[str, float], unknown: list[dict[str, str]]) -> dict[str, Any]:
    unmeasured = None
    if not any(gain > 0 for gain in relevant.values()):
        if unknown:
            unmeasured = "none of its relevant ids is in the collection"
        elif not label.relevant:
            unmeasured = "no relevant ids"
        else:
            unmeasured = "every listed id has gain 0 (none is relevant)"
    return {
        "id": label.id,
        "query": label.query,
        "relevant": label.relevant,
        "relevant_ids": relevant,
        "unknown_ids": unknown,
        "unmeasured": unmeasured,
        "modes": {},
    }
