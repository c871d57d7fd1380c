"""Retrieval speed and quality: ingest, search latency, ANN recall, and quality on the shipped labelled set.

On SQLite (a temporary data dir), through the real services (no HTTP):

1. Ingest throughput: ``--chunks`` (default 100,000) chunks of synthetic documents, each about ten
   chunks long (``fixed`` chunking, 64 tokens, overlap 8), whose sentences are drawn at random from
   the help-center sample, ingested with the local/wordllama embedder by ``ingest_documents``
   (parse, chunk, embed, write rows, FTS5 and the vector index) -> chunks/s.
   Baseline in the same run: the same chunk texts embedded by raw wordllama, then written with one
   sqlite3 ``executemany`` into a plain table plus an FTS5 table (no parsing, no chunking, no ids).
2. Query latency over those chunks: p50 (and p95) of ``search`` in vector, keyword and hybrid mode,
   k = 10, over ``--queries`` queries (the labelled queries plus word runs drawn from the corpus),
   including embedding the query. Target: hybrid p50 <= 20 ms. On SQLite the collection has ``ann`` on
   (usearch HNSW, what a collection this size should use; its graph is built by the ingest), so vector
   and hybrid use the graph; "hybrid exact" (information) is the same with exact vector search.
   Baseline: the raw numpy product of the query with the in-memory 100,000 x 256 float32 matrix and
   an ``argpartition`` top 10.
3. ANN: recall@10 of the usearch HNSW search against exact search on the same queries (target
   >= 0.95), its p50, and the first ANN search's time (the graph was built by the ingest).
4. Postgres with pgvector (``--postgres-url`` of an empty database, else one started with
   scripts/postgres.sh in its own state folder; ``--no-postgres`` to skip): the same ingest and
   latencies, and the HNSW recall@10 against exact search (the collection's default ef_search, which
   pgvector_search raises with the rows wanted, see stackwright.retrieval.pgvector; relaxed-order
   iterative scans). Keyword search there ranks a bounded candidate set on large match sets
   (stackwright.retrieval.keyword).
5. Quality on the shipped labelled set (61 help-center articles, 97 queries, document granularity):
   hit@5, MRR@10 and nDCG@10 for vector, keyword and hybrid search, per backend.

No figure is asserted: compare the ratios; the machines are small (2 cores) and noisy.
Usage: .venv/bin/python bench/retrieval.py [--chunks 100000] [--queries 200] [--postgres-url URL | --no-postgres] [--no-sqlite]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
HYBRID_TARGET_MS = 20.0
RECALL_TARGET = 0.95
SYNTHETIC_CHUNKING = {"strategy": "fixed", "size": 64, "overlap": 8}
SENTENCES_PER_DOCUMENT = 22  # about ten 64-token chunks
K = 10


def verdict(ok: bool) -> str:
    return "target met" if ok else "MISSED"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# -- data ------------------------------------------------------------------------------------------


def corpus_sentences() -> list[str]:
    from stackwright.retrieval.sample import corpus_dir

    sentences = []
    for path in sorted(corpus_dir().glob("*.md")):
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip().lstrip("-0123456789. ").strip()
            if not line or line.startswith(("#", "|", "`")):
                continue
            sentences.extend(s.strip() for s in re.split(r"(?<=[.!?])\s+", line) if len(s.split()) >= 5)
    return sentences


def synthetic_documents(count: int, sentences: list[str], seed: int = 7) -> list[Any]:
    """``count`` distinct documents of sentences drawn from the corpus, with a title and a category."""
    from stackwright.retrieval.ingest import DocumentInput

    rng = random.Random(seed)
    categories = ["account", "billing", "data", "integrations", "teams", "troubleshooting", "security", "projects"]
    docs = []
    for number in range(count):
        body = " ".join(rng.choice(sentences) for _ in range(SENTENCES_PER_DOCUMENT))
        docs.append(DocumentInput(source=f"synthetic/{number:06d}.txt", text=f"Note {number}. {body}",
                                  title=f"Note {number}", metadata={"category": rng.choice(categories)}))  # fmt: skip
    return docs


def chunks_per_document(docs: list[Any]) -> float:
    from stackwright.retrieval.chunking import chunk_document

    sample = docs[:50]
    return sum(len(chunk_document(d.text, None, SYNTHETIC_CHUNKING)) for d in sample) / len(sample)


def bench_queries(count: int, sentences: list[str], seed: int = 11) -> list[str]:
    from stackwright.retrieval.sample import load_labels

    queries = [label.query for label in load_labels()]
    rng = random.Random(seed)
    while len(queries) < count:
        words = rng.choice(sentences).rstrip(".").split()
        size = rng.randint(3, min(8, len(words)))
        start = rng.randrange(0, len(words) - size + 1)
        queries.append(" ".join(words[start : start + size]))
    return queries[:count]


def refuse_non_empty(url: str) -> None:
    """The bench writes tables and rows: it only runs on an empty database (never someone's data)."""
    from sqlalchemy import create_engine, inspect

    engine = create_engine(url)
    try:
        tables = inspect(engine).get_table_names()
    finally:
        engine.dispose()
    if tables:
        raise SystemExit(f"{url} is not empty ({len(tables)} tables): give --postgres-url an empty database (CREATE DATABASE ...).")


# -- a store ---------------------------------------------------------------------------------------


class Store:
    """A migrated data dir (SQLite, or Postgres at ``url``) with the default project."""

    def __init__(self, url: str | None):
        from stackwright.core.config import Settings
        from stackwright.server.startup import prepare

        if url is not None:
            refuse_non_empty(url)
        self.url = url
        self.home = Path(tempfile.mkdtemp(prefix="sw-bench-retrieval-"))
        database_url = url or f"sqlite:///{self.home / 'stackwright.db'}"
        self.settings = Settings(home=self.home, database_url=database_url, log_format="text", log_level="warning")
        self.db, _ = prepare(self.settings)
        from stackwright.auth import service as auth_service

        with self.db.read() as session:
            self.project_id = auth_service.find_project(session, "default").id

    def create(self, name: str, chunking: dict[str, Any] | None = None, ann: bool = False) -> Any:
        from stackwright.auth.actors import cli_actor
        from stackwright.retrieval.collections import service as collections
        from stackwright.retrieval.embedders import EmbedContext

        spec: dict[str, Any] = {"name": name, "ann": ann}
        if chunking:
            spec["chunking"] = chunking
        collections.create(EmbedContext(db=self.db, project_id=self.project_id), cli_actor(), spec)
        return self.collection(name)

    def collection(self, name: str) -> Any:
        from stackwright.retrieval.collections.service import get_collection

        with self.db.read() as session:
            collection = get_collection(session, self.project_id, name)
            session.expunge(collection)
        return collection

    def ingest(self, name: str, docs: list[Any]) -> Any:
        from stackwright.retrieval.ingest import ingest_documents

        return ingest_documents(self.db, self.collection(name), docs)

    def search(self, name: str, query: str, **options: Any) -> dict[str, Any]:
        from stackwright.retrieval.search.service import SearchOptions, search

        return search(self.db, self.project_id, name, SearchOptions(query=query, k=K, **options), allow_all=True)

    def close(self) -> None:
        self.db.dispose()
        shutil.rmtree(self.home, ignore_errors=True)


# -- 1. ingest -------------------------------------------------------------------------------------


def raw_baseline(texts: list[str]) -> float:
    """Seconds to embed ``texts`` with raw wordllama and write them with sqlite3 executemany (+ FTS5)."""
    from stackwright.local.embedder import embed

    folder = Path(tempfile.mkdtemp(prefix="sw-bench-raw-"))
    try:
        started = time.perf_counter()
        vectors = embed(texts, 256)
        conn = sqlite3.connect(folder / "raw.db")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE chunks (row_id INTEGER PRIMARY KEY, chunk_id TEXT, document_id TEXT, position INTEGER, "
                     "text TEXT, embedding BLOB)")  # fmt: skip
        conn.execute("CREATE VIRTUAL TABLE chunks_fts USING fts5(text, content='chunks', content_rowid='row_id')")
        rows = [(i, uuid.uuid4().hex, f"d{i // 10}", i % 10, t, vectors[i].astype("<f4").tobytes()) for i, t in enumerate(texts)]
        with conn:
            conn.executemany("INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?)", rows)
            conn.executemany("INSERT INTO chunks_fts (rowid, text) VALUES (?, ?)", [(r[0], r[4]) for r in rows])
        conn.close()
        return time.perf_counter() - started
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def bench_ingest(store: Store, label: str, docs: list[Any], baseline: float | None) -> int:
    # SQLite: a collection with `ann` on, as large collections should be: the ingest also builds the
    # usearch graph, and vector and hybrid searches use it (Postgres: pgvector HNSW in any case).
    store.create("bench", chunking=SYNTHETIC_CHUNKING, ann=store.url is None)
    started = time.perf_counter()
    report = store.ingest("bench", docs)
    seconds = time.perf_counter() - started
    chunks = report.chunks_added
    rate = chunks / seconds
    line = f"{label:9} ingest {chunks:>8,} chunks ({len(docs):,} documents) in {seconds:6.1f} s: {rate:8,.0f} chunks/s"
    line += " (ANN graph built too)" if store.url is None else ""
    if baseline is not None:
        base_rate = chunks / baseline
        line += f"   baseline raw wordllama + sqlite3 executemany {base_rate:8,.0f} chunks/s, ratio {rate / base_rate:.2f}"
    print(line, flush=True)
    return chunks


# -- 2. and 3. queries -----------------------------------------------------------------------------


def latencies(func: Any, queries: list[str]) -> list[float]:
    for query in queries[:10]:  # warm: the index snapshot, the embedder, statement caches
        func(query)
    out = []
    for query in queries:
        started = time.perf_counter()
        func(query)
        out.append((time.perf_counter() - started) * 1000)
    return out


def numpy_baseline_ms(store: Store, queries: list[str]) -> float:
    """p50 of a raw numpy top-10 over the collection's vectors held in memory."""
    from sqlalchemy import text

    from stackwright.local.embedder import embed

    with store.db.read() as session:
        blobs = session.execute(text("SELECT embedding FROM retrieval_chunks WHERE embedding IS NOT NULL")).scalars().all()
    matrix = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(blobs), -1)
    vectors = embed(queries, matrix.shape[1])

    def top(vector: np.ndarray) -> np.ndarray:
        scores = matrix @ vector
        best = np.argpartition(-scores, K)[:K]
        return best[np.argsort(-scores[best])]

    times = []
    for vector in vectors:
        started = time.perf_counter()
        top(vector)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def bench_queries_latency(store: Store, label: str, chunks: int, queries: list[str], baseline_ms: float | None) -> None:
    for mode, exact in (("vector", False), ("keyword", False), ("hybrid", False), ("hybrid", True)):
        parts: dict[str, list[float]] = {}

        def run(query: str, mode: str = mode, exact: bool = exact) -> None:
            for name, ms in store.search("bench", query, mode=mode, exact=exact)["timings"].items():
                parts.setdefault(name, []).append(ms)

        times = latencies(run, queries)
        where = ", ".join(f"{name.removesuffix('_ms')} {statistics.median(values):.1f}" for name, values in parts.items())
        shown = f"{mode} exact" if exact else mode
        line = f"{label:9} {shown:7} query p50 {statistics.median(times):6.1f} ms, p95 {pct(times, 0.95):6.1f} ms over {chunks:,} chunks"
        line += f" (p50 of its parts, ms: {where})"
        if exact:
            line += "   (information: exact vector search, no ANN)"
        elif mode == "hybrid":
            line += f"   target <= {HYBRID_TARGET_MS:g} ms: {verdict(statistics.median(times) <= HYBRID_TARGET_MS)}"
        if mode == "vector" and baseline_ms is not None:
            line += f"   baseline numpy top-{K} p50 {baseline_ms:.2f} ms, ratio {statistics.median(times) / baseline_ms:.1f}"
        print(line, flush=True)


def bench_ann(store: Store, label: str, queries: list[str], what: str, options: dict[str, Any]) -> None:
    """Recall@10 of the approximate vector search (``options``) against exact search, and its p50."""
    exact = {q: [h["chunk_id"] for h in store.search("bench", q, mode="vector", exact=True)["data"]] for q in queries}
    started = time.perf_counter()
    store.search("bench", queries[0], mode="vector", **options)  # builds the graph when it is not there yet
    first_s = time.perf_counter() - started
    recalls = []
    for query in queries:
        found = [h["chunk_id"] for h in store.search("bench", query, mode="vector", **options)["data"]]
        recalls.append(len(set(found) & set(exact[query])) / max(1, len(exact[query])))
    recall = statistics.mean(recalls)
    times = latencies(lambda q: store.search("bench", q, mode="vector", **options), queries)
    exact_times = latencies(lambda q: store.search("bench", q, mode="vector", exact=True), queries)
    print(f"{label:9} {what} recall@{K} vs exact {recall:.3f}   target >= {RECALL_TARGET}: {verdict(recall >= RECALL_TARGET)}; "
          f"p50 {statistics.median(times):.1f} ms vs exact {statistics.median(exact_times):.1f} ms; first search {first_s:.1f} s",
          flush=True)  # fmt: skip


# -- 5. quality ------------------------------------------------------------------------------------


def bench_quality(store: Store, label: str) -> None:
    from stackwright.retrieval.evaluation.service import evaluate
    from stackwright.retrieval.ingest import DocumentInput
    from stackwright.retrieval.sample import corpus_dir, load_labels

    store.create("help-center")
    folder = corpus_dir()
    docs = [DocumentInput(source=p.name, text=p.read_text(encoding="utf-8"), format="markdown") for p in sorted(folder.glob("*.md"))]
    store.ingest("help-center", docs)
    labels = load_labels()
    at5 = evaluate(store.db, store.project_id, "help-center", labels, k=5)
    at10 = evaluate(store.db, store.project_id, "help-center", labels, k=10)
    print(f"{label:9} quality on the help-center set ({len(docs)} articles, {len(labels)} queries, document granularity):")
    print(f"{'':9}   {'mode':8} {'hit@5':>6} {'MRR@10':>7} {'nDCG@10':>8} {'recall@10':>10}")
    for mode in ("vector", "keyword", "hybrid"):
        a5, a10 = at5["modes"][mode], at10["modes"][mode]
        print(f"{'':9}   {mode:8} {a5['hit_rate']:6.3f} {a10['mrr']:7.3f} {a10['ndcg']:8.3f} {a10['recall']:10.3f}")
    sys.stdout.flush()


# -- runs ------------------------------------------------------------------------------------------


def run_backend(label: str, url: str | None, docs: list[Any], queries: list[str], baseline: float | None) -> None:
    store = Store(url)
    try:
        bench_quality(store, label)
        chunks = bench_ingest(store, label, docs, baseline)
        base_ms = numpy_baseline_ms(store, queries)
        bench_queries_latency(store, label, chunks, queries, base_ms)
        if url is None:
            bench_ann(store, label, queries, "usearch ANN", {"ann": True})
        else:
            bench_ann(store, label, queries, "pgvector HNSW", {})
    finally:
        store.close()


def start_postgres() -> tuple[str, dict[str, str]]:
    env = {**os.environ, "VENV": str(Path(sys.executable).parent.parent), "STACKWRIGHT_PG_STATE": "/tmp/sw-bench-retrieval-pg"}
    url = subprocess.run([str(ROOT / "scripts/postgres.sh"), "start"], env=env, check=True, capture_output=True, text=True)
    return url.stdout.strip(), env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=100_000, help="chunks to ingest and search over")
    parser.add_argument("--queries", type=int, default=200, help="timed queries per mode")
    parser.add_argument("--postgres-url", default=None, help="an empty Postgres database with pgvector (default: start one)")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite backend (the raw baseline still runs)")
    args = parser.parse_args()
    for name in [n for n in os.environ if n.startswith("STACKWRIGHT_")]:
        os.environ.pop(name)  # the bench's own settings only

    sentences = corpus_sentences()
    probe = synthetic_documents(50, sentences)
    per_doc = chunks_per_document(probe)
    docs = synthetic_documents(max(1, round(args.chunks / per_doc)), sentences)
    queries = bench_queries(args.queries, sentences)
    from stackwright.retrieval.chunking import chunk_document

    texts = [c.text for d in docs for c in chunk_document(d.text, None, SYNTHETIC_CHUNKING)]
    baseline = raw_baseline(texts)
    print(f"{len(docs):,} synthetic documents, about {per_doc:.1f} chunks each; {len(queries)} queries; "
          f"baseline: {len(texts):,} chunks embedded and written in {baseline:.1f} s", flush=True)  # fmt: skip
    if not args.no_sqlite:
        run_backend("sqlite", None, docs, queries, baseline)
    if args.no_postgres:
        return
    pg_env = None
    url = args.postgres_url
    if url is None:
        url, pg_env = start_postgres()
    try:
        run_backend("postgres", url, docs, queries, baseline)
    finally:
        if pg_env is not None:
            subprocess.run([str(ROOT / "scripts/postgres.sh"), "stop"], env=pg_env, check=False)


if __name__ == "__main__":
    main()
