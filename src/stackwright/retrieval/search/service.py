"""Search a collection: vector, keyword or hybrid, with filters and ACLs applied before the top-k cut.

    from stackwright.retrieval.search.service import SearchOptions, search
    result = search(db, project_id, "help-center", SearchOptions(query="reset my password", k=5))
    result["data"]   # hits: chunk_id, document_id, source, title, text, score, position, heading_path, metadata
    result["mode"], result["took_ms"], result["timings"], result["span"]

Who may see what (decided for the whole layer): a document without ACL rows is public. A search with
principals sees public documents plus those whose ACL names one of them; without principals, public
documents only; the principal ``*`` sees everything (admin keys and the CLI only: ``allow_all=True``).
Filters and the ACL are part of every candidate query (SQL ``WHERE``, or a row mask over the embedded
matrix built from the documents they exclude), so a search returns ``k`` hits whenever ``k`` permitted
chunks match, and never a chunk its principals may not read. Only documents whose ingest finished
(status ``ready``) are searched.

Modes: ``vector`` (cosine similarity of embeddings: embedded numpy/usearch or pgvector), ``keyword``
(FTS5 bm25 / Postgres ts_rank_cd), ``hybrid`` (reciprocal rank fusion of both lists, each ``k *
oversample`` long, with ``rrf_k`` and per-mode ``weights``). Then optional MMR diversification
(``mmr_lambda``) and a reranker plugin, both over the fused candidates, and the cut to ``k``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, text

from stackwright.core.errors import InvalidInput, NotFound
from stackwright.retrieval.models import Collection

if TYPE_CHECKING:
    import numpy as np
    from sqlalchemy.orm import Session

    from stackwright.core.db import Database

MODES = ("hybrid", "vector", "keyword")
MAX_K = 100
MAX_QUERY_CHARS = 8000
MAX_PRINCIPALS = 100
DEFAULTS: dict[str, Any] = {
    "mode": "hybrid",
    "rrf_k": 60,
    "weights": {"vector": 1.0, "keyword": 1.0},
    "oversample": 4,
    "mmr_lambda": None,
    "reranker": "none",
    "ef_search": 100,
}


@dataclass
class SearchOptions:
    """One search. ``None`` means the collection's ``search`` setting (else DEFAULTS)."""

    query: str
    k: int = 5
    mode: str | None = None
    filter: str | dict[str, Any] | None = None
    principals: list[str] | None = None
    rrf_k: int | None = None
    weights: dict[str, float] | None = None
    oversample: int | None = None
    mmr_lambda: float | None = None
    reranker: str | None = None
    exact: bool = False  # vector part: exact search (no ANN / HNSW)
    ann: bool | None = None  # embedded backend: use usearch (default: the collection's ``ann``)
    ef_search: int | None = None  # pgvector: hnsw.ef_search
    explain: bool = False  # each hit also carries ``score_parts``: its rank and score in each mode's list, and the fused score


@dataclass
class Plan:
    """The options resolved against the collection's settings and checked."""

    query: str
    k: int
    mode: str
    filter_expr: Any
    principals: list[str]
    rrf_k: int
    weights: dict[str, float]
    pool: int
    mmr_lambda: float | None
    reranker: str
    exact: bool
    ann: bool
    ef_search: int
    timings: dict[str, float] = field(default_factory=dict)
    explain: bool = False


def find_collection(session: Session, project_id: str, name: str) -> Collection:
    """The project's collection ``name`` (another project's answers NotFound like a missing one)."""
    collection = session.scalars(select(Collection).where(Collection.project_id == project_id, Collection.name == name)).first()
    if collection is None:
        raise NotFound(
            f"No collection named {name!r} in this project.",
            hint="List them with `stackwright collections list` (or GET /api/v1/collections); create one with "
            "`stackwright collections create NAME`.",
        )
    return collection


def _number(value: Any, name: str, low: float, high: float, *, integer: bool) -> Any:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and (not integer or float(value).is_integer())
    if not ok or not low <= value <= high:
        kind = "a whole number" if integer else "a number"
        raise InvalidInput(f"{name} must be {kind} from {low:g} to {high:g}; got {value!r}.")
    return int(value) if integer else float(value)


def plan(collection: Collection, options: SearchOptions, *, allow_all: bool = False) -> Plan:
    """Check ``options`` and fill in the collection's defaults; InvalidInput names what is wrong."""
    from stackwright.retrieval.filters import parse_any
    from stackwright.retrieval.rerankers import get_reranker

    settings = {**DEFAULTS, **(collection.search or {})}
    if not isinstance(options.query, str) or not options.query.strip():
        raise InvalidInput("query must be a non-empty text.", hint="Pass what you are looking for, e.g. 'reset my password'.")
    if len(options.query) > MAX_QUERY_CHARS:
        raise InvalidInput(f"query is longer than {MAX_QUERY_CHARS} characters.", hint="Shorten the query.")
    k = _number(options.k, "k", 1, MAX_K, integer=True)
    mode = options.mode or settings["mode"]
    if mode not in MODES:
        raise InvalidInput(f"mode must be one of {', '.join(MODES)}; got {mode!r}.")
    principals = list(options.principals or [])
    if len(principals) > MAX_PRINCIPALS or not all(isinstance(p, str) and 0 < len(p) <= 200 for p in principals):
        raise InvalidInput(f"principals must be up to {MAX_PRINCIPALS} non-empty names of at most 200 characters, such as group:support.")
    if "*" in principals and not allow_all:
        from stackwright.core.errors import Forbidden

        raise Forbidden("The principal '*' (every document) needs an admin key.", hint="Search as the principals of the end user instead.")
    weights = {**DEFAULTS["weights"], **(settings.get("weights") or {}), **(options.weights or {})}
    for name, value in weights.items():
        if name not in ("vector", "keyword"):
            raise InvalidInput(f"weights has an unknown mode {name!r}; use vector and keyword.")
        _number(value, f"weights.{name}", 0, 100, integer=False)
    mmr_lambda = options.mmr_lambda if options.mmr_lambda is not None else settings.get("mmr_lambda")
    if mmr_lambda is not None:
        mmr_lambda = _number(mmr_lambda, "mmr_lambda", 0, 1, integer=False)
    reranker = options.reranker or settings.get("reranker") or "none"
    get_reranker(reranker)
    oversample = _number(options.oversample if options.oversample is not None else settings["oversample"], "oversample", 1, 50, integer=True)
    needs_pool = mode == "hybrid" or mmr_lambda is not None or reranker != "none"
    return Plan(
        query=options.query,
        k=k,
        mode=mode,
        filter_expr=parse_any(options.filter),
        principals=principals,
        rrf_k=_number(options.rrf_k if options.rrf_k is not None else settings["rrf_k"], "rrf_k", 0, 10_000, integer=True),
        weights={name: float(value) for name, value in weights.items()},
        pool=min(max(k * oversample, k + 20), 1000) if needs_pool else k,
        mmr_lambda=mmr_lambda,
        reranker=reranker,
        exact=bool(options.exact),
        ann=bool(collection.ann if options.ann is None else options.ann) and not options.exact,
        ef_search=_number(options.ef_search if options.ef_search is not None else settings["ef_search"], "ef_search", 1, 1000, integer=True),
        explain=bool(options.explain),
    )


def _conditions(session: Session, plan: Plan) -> tuple[str, dict[str, Any]]:
    from stackwright.retrieval.filter_sql import acl_condition, compile_filter

    dialect = session.get_bind().dialect.name
    flt = compile_filter(plan.filter_expr, dialect)
    acl = acl_condition(plan.principals, dialect)
    return f"d.status = 'ready' AND {acl.sql} AND {flt.sql}", {**flt.params, **acl.params}


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


class _Permitted:
    """The search's filter and ACL: as SQL (``where``, ``params``) for the SQL paths, and as the documents
    they exclude (keys, read once per search) for the row masks of the in-memory indexes."""

    def __init__(self, session: Session, collection: Collection, plan: Plan):
        self.session, self.collection, self.plan = session, collection, plan
        self.where, self.params = _conditions(session, plan)
        self._excluded: np.ndarray | None = None

    def excluded_documents(self) -> np.ndarray:
        """Keys of the collection's documents the search may not return (filtered out, not readable, not
        ready). Usually few: most documents of a collection pass."""
        import numpy as np

        from stackwright.retrieval.vector_index import id_keys

        if self._excluded is None:
            started = time.perf_counter()
            ids: Sequence[str] = self.session.execute(
                text(f"SELECT d.id FROM retrieval_documents d WHERE d.collection_id = :vx_collection AND NOT ({self.where})"),
                {**self.params, "vx_collection": self.collection.id},
            ).scalars().all()
            self._excluded = id_keys(list(ids)) if ids else np.zeros(0, dtype=np.int64)
            self.plan.timings["acl_filter_ms"] = _ms(started)
        return self._excluded


def _vector_part(session: Session, home: Any, collection: Collection, plan: Plan, vector: np.ndarray,
                 permitted: _Permitted) -> list[tuple[int, float]]:  # fmt: skip
    started = time.perf_counter()
    where, params = permitted.where, permitted.params
    if collection.backend == "pgvector":
        from stackwright.retrieval.pgvector import pgvector_search

        ranked, _ = pgvector_search(session, collection.id, collection.dimensions, vector, plan.pool, where, params,
                                    exact=plan.exact, ef_search=plan.ef_search)  # fmt: skip
        plan.timings["vector_ms"] = _ms(started)
        return ranked
    from stackwright.retrieval.vector_index import EmbeddedIndex, embedded_index

    index = embedded_index(home, collection.id, collection.dimensions)
    snap = index.current(session, collection.index_version, ann=plan.ann)
    mask = EmbeddedIndex.permitted(snap, permitted.excluded_documents())
    hits = index.search(snap, vector, plan.pool, mask, ann=plan.ann)
    plan.timings["vector_ms"] = _ms(started)
    return [(int(r), float(s)) for r, s in zip(hits.row_ids, hits.scores, strict=True)]


def _keyword_part(session: Session, collection: Collection, plan: Plan, permitted: _Permitted) -> list[tuple[int, float]]:
    """FTS5 / Postgres full-text in SQL; on SQLite, large collections go through the in-memory
    accelerator (stackwright.retrieval.keyword_index), which ranks the same way."""
    from stackwright.retrieval import keyword_index as accel
    from stackwright.retrieval.keyword import keyword_search, terms

    started = time.perf_counter()
    ranked = None
    if session.get_bind().dialect.name == "sqlite" and collection.chunk_count >= accel.MIN_ROWS:
        stems = accel.stem_phrases(terms(plan.query))
        stats = accel.fts5_stats(session, stems) if stems else None
        if stems and stats is not None:
            index = accel.keyword_index(collection.id, str(session.get_bind().engine.url))
            snap = index.current(session, collection.index_version)
            mask = accel.permitted(snap, permitted.excluded_documents())
            ranked = index.search(snap, stems, stats, plan.pool, mask)
    if ranked is None:
        ranked = keyword_search(session, collection.id, plan.query, plan.pool, permitted.where, permitted.params)
    plan.timings["keyword_ms"] = _ms(started)
    return ranked


def _embed_query(db: Database, collection: Collection, query: str, context: Any) -> np.ndarray:
    from stackwright.retrieval.embedders import EmbedContext, open_embedder

    context = context or EmbedContext(db=db, project_id=collection.project_id)
    with open_embedder(context, collection.embedder, collection.dimensions) as embedder:
        vectors = embedder.embed([query])
    if vectors.shape != (1, collection.dimensions):
        raise InvalidInput(f"The embedder {collection.embedder!r} answered {vectors.shape[-1]} dimensions; the collection has {collection.dimensions}.")
    return vectors[0]


# By row id only: with "c.collection_id = ..." too, SQLite may walk the collection's index instead of
# looking the rows up (the collection is checked on the rows that come back).
_HIT_SQL = (
    "SELECT c.row_id, c.chunk_id, c.document_id, c.position, c.text, c.heading_path, c.embedding, "
    "d.source, d.title, d.metadata, c.collection_id FROM retrieval_chunks c "
    "JOIN retrieval_documents d ON d.id = c.document_id WHERE c.row_id IN ({ids}) AND {where}"
)


def _fetch_hits(session: Session, collection: Collection, ranked: list[tuple[int, float]], where: str,
                params: dict[str, Any]) -> list[dict[str, Any]]:  # fmt: skip
    """Hit dicts for ``ranked`` (row id, score), in that order; the filter and ACL are checked again."""
    import orjson

    if not ranked:
        return []
    ids = {f"hit{i}": row_id for i, (row_id, _) in enumerate(ranked)}
    sql = _HIT_SQL.format(ids=", ".join(f":{n}" for n in ids), where=where)
    rows = {row[0]: row for row in session.execute(text(sql), {**params, **ids}) if row[10] == collection.id}
    hits = []
    for row_id, score in ranked:
        row = rows.get(row_id)
        if row is None:  # deleted, or its document changed, since the candidates were read
            continue
        heading, metadata = row[5], row[9]
        hits.append({
            "chunk_id": row[1],
            "document_id": row[2],
            "source": row[7],
            "title": row[8] or "",
            "text": row[4],
            "score": float(score),
            "position": row[3],
            "heading_path": orjson.loads(heading) if isinstance(heading, str) else (heading or []),
            "metadata": orjson.loads(metadata) if isinstance(metadata, str) else (metadata or {}),
            "_row_id": row_id,
            "_embedding": row[6],
        })  # fmt: skip
    return hits


def _diversify(hits: list[dict[str, Any]], vector: np.ndarray, plan: Plan, dimensions: int) -> list[dict[str, Any]]:
    import numpy as np

    from stackwright.retrieval.hybrid import mmr

    usable = [h for h in hits if h["_embedding"] is not None and len(h["_embedding"]) == 4 * dimensions]
    if len(usable) < 2:
        return hits
    vectors = np.frombuffer(b"".join(bytes(h["_embedding"]) for h in usable), dtype="<f4").reshape(len(usable), dimensions)
    order = mmr(vector, vectors, plan.k, plan.mmr_lambda if plan.mmr_lambda is not None else 0.5)
    return [usable[i] for i in order]


def _add_score_parts(hits: list[dict[str, Any]], rankings: dict[str, list[tuple[int, float]]], mode: str) -> None:
    """``score_parts`` of each hit: per searched mode its 1-based rank and score in that mode's list (None when
    the chunk was not in it), and ``fused``: the reciprocal rank fusion score (hybrid) or the mode's score,
    before MMR or a reranker change the order or the score."""
    ranks = {name: {row_id: (rank, score) for rank, (row_id, score) in enumerate(rows, 1)} for name, rows in rankings.items()}
    for hit in hits:
        parts: dict[str, Any] = {}
        for name, found in ranks.items():
            rank_score = found.get(hit["_row_id"])
            parts[name] = {"rank": rank_score[0], "score": rank_score[1]} if rank_score else None
        parts["fused"] = hit["score"] if mode == "hybrid" else (parts[mode] or {}).get("score")
        hit["score_parts"] = parts


def search_collection(session: Session, home: Any, collection: Collection, plan: Plan, vector: np.ndarray | None) -> list[dict[str, Any]]:
    """The hits of a planned search on an open session (``vector``: the embedded query, for vector/hybrid)."""
    from stackwright.retrieval.hybrid import reciprocal_rank_fusion
    from stackwright.retrieval.rerankers import rerank

    permitted = _Permitted(session, collection, plan)
    where, params = permitted.where, permitted.params
    rankings: dict[str, list[tuple[int, float]]] = {}
    if plan.mode in ("vector", "hybrid"):
        assert vector is not None, "a vector or hybrid search needs the embedded query"
        rankings["vector"] = _vector_part(session, home, collection, plan, vector, permitted)
    if plan.mode in ("keyword", "hybrid"):
        rankings["keyword"] = _keyword_part(session, collection, plan, permitted)
    started = time.perf_counter()
    if plan.mode == "hybrid":
        ranked = reciprocal_rank_fusion({m: [r for r, _ in rows] for m, rows in rankings.items()}, plan.weights, plan.rrf_k)
    else:
        ranked = rankings[plan.mode]
    reorder = plan.mmr_lambda is not None or plan.reranker != "none"
    hits = _fetch_hits(session, collection, ranked[: plan.pool if reorder else plan.k], where, params)
    if plan.explain:
        _add_score_parts(hits, rankings, plan.mode)
    if plan.mmr_lambda is not None and vector is not None:
        hits = _diversify(hits, vector, plan, collection.dimensions)
    if plan.reranker != "none":
        hits = rerank(plan.reranker, plan.query, hits)
    plan.timings["fuse_fetch_ms"] = _ms(started)
    return [{k: v for k, v in hit.items() if not k.startswith("_")} for hit in hits[: plan.k]]


def search(
    db: Database,
    project_id: str,
    collection_name: str,
    options: SearchOptions,
    *,
    allow_all: bool = False,
    embed_context: Any = None,
) -> dict[str, Any]:
    """Search the project's collection: ``{"data": hits, "mode", "took_ms", "timings", "collection", "plan"}``.

    ``embed_context`` (stackwright.retrieval.embedders.EmbedContext) lets the server's gateway embed the
    query for gateway embedders; by default a context on ``db`` is made.
    """
    started = time.perf_counter()
    with db.read() as session:
        collection = find_collection(session, project_id, collection_name)
    checked = plan(collection, options, allow_all=allow_all)
    vector = None
    if checked.mode in ("vector", "hybrid"):
        embed_started = time.perf_counter()
        vector = _embed_query(db, collection, checked.query, embed_context)
        checked.timings["embed_ms"] = _ms(embed_started)
    with db.read() as session:
        collection = find_collection(session, project_id, collection_name)  # this snapshot's index_version
        hits = search_collection(session, db.settings.home, collection, checked, vector)
    return {
        "data": hits,
        "mode": checked.mode,
        "took_ms": _ms(started),
        "timings": checked.timings,
        "collection": {"id": collection.id, "name": collection.name, "backend": collection.backend},
        "plan": checked,
    }
