"""An in-memory accelerator for SQLite keyword search: FTS5's bm25 ranking, computed with numpy.

FTS5 evaluates ``bm25()`` for every row that matches any query word; a query with common words matches
tens of thousands of chunks in a large collection and then takes tens of milliseconds. This index holds,
per collection and process, the postings (row, term frequency) and the length of every chunk, tokenized
by FTS5 itself (an in-memory FTS5 table with the same columns and tokenizer as ``retrieval_chunks_fts``),
and scores with FTS5's own bm25 formula and statistics: the row count, the average length and each
word's document frequency are read from ``retrieval_chunks_fts`` at query time. So a query ranks exactly
as ``ORDER BY bm25(retrieval_chunks_fts)`` would (a test checks it), in about a millisecond.

It is kept up to date like the vector index: when the collection's ``index_version`` moves, the chunks
in the database are compared with the rows held (row id and chunk id), new chunks are tokenized and added
as a segment, rows of deleted chunks are masked and dropped once they are a third of the rows.
Filters and ACLs come in as the same row mask as for the vector index (documents they exclude).
"""

from __future__ import annotations

import math
import sqlite3
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from stackwright.core.db import plain_rows
from stackwright.retrieval.index_schema import FTS_VOCAB_TABLE

if TYPE_CHECKING:
    import numpy as np
    from sqlalchemy.orm import Session

TOKENIZE = "porter unicode61"  # as in stackwright.retrieval.index_schema.sqlite_fts_ddl
K1 = 1.2  # FTS5's bm25 constants
B = 0.75
MIN_ROWS = 2000  # smaller collections are searched with FTS5 directly (as fast, same ranking)
_MAX_SEGMENTS = 4
_COMPACT_DEAD_SHARE = 1 / 3
_TOKENIZE_BATCH = 5000


class _Tokenizer(threading.local):
    """A per-thread in-memory FTS5 table used to tokenize exactly like ``retrieval_chunks_fts``."""

    def __init__(self) -> None:
        self.conn = sqlite3.connect(":memory:", check_same_thread=True)
        self.conn.execute(f"CREATE VIRTUAL TABLE t USING fts5(text, heading_path, tokenize='{TOKENIZE}')")
        self.conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")
        self.stems: dict[str, tuple[str, ...]] = {}

    def postings(self, rows: list[tuple[int, str, str]]) -> tuple[list[str], np.ndarray, np.ndarray]:
        """For rows given as (local row, text, heading path text): the distinct terms, how many token
        instances each has, and the local row of every instance, grouped by term (rows ascending)."""
        import numpy as np

        conn = sqlite3.connect(":memory:")  # a fresh one: deleting the rows again would cost as much as adding them
        try:
            conn.execute(f"CREATE VIRTUAL TABLE t USING fts5(text, heading_path, tokenize='{TOKENIZE}')")
            conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")
            conn.executemany("INSERT INTO t(rowid, text, heading_path) VALUES (?, ?, ?)", rows)
            # One row per term with its instances' rows as text: far fewer Python objects than one per instance.
            groups = conn.execute("SELECT term, group_concat(doc, ' ') FROM v GROUP BY term").fetchall()
        finally:
            conn.close()
        terms = [term for term, _ in groups]
        sizes = np.fromiter((docs.count(" ") + 1 for _, docs in groups), dtype=np.int64, count=len(groups))
        instances = np.fromstring(" ".join(docs for _, docs in groups), dtype=np.int64, sep=" ") if groups else np.zeros(0, np.int64)
        if len(instances) != int(sizes.sum()):
            raise RuntimeError("could not read the FTS5 postings")
        return terms, sizes, instances

    def stem(self, words: list[str]) -> list[tuple[str, ...]]:
        """The tokens each word becomes (usually one stem), cached."""
        unknown = [w for w in dict.fromkeys(words) if w not in self.stems]
        if unknown:
            with self.conn:
                self.conn.executemany("INSERT INTO t(rowid, text, heading_path) VALUES (?, ?, '')", list(enumerate(unknown)))
                tokens: dict[int, list[tuple[int, str]]] = {}
                for term, doc, offset in self.conn.execute("SELECT term, doc, offset FROM v"):
                    tokens.setdefault(doc, []).append((offset, term))
                self.conn.execute("DELETE FROM t")
            if len(self.stems) > 100_000:
                self.stems.clear()
            for i, word in enumerate(unknown):
                self.stems[word] = tuple(term for _, term in sorted(tokens.get(i, [])))
        return [self.stems[w] for w in words]


_tokenizer = _Tokenizer()


@dataclass(frozen=True)
class Segment:
    term_ids: np.ndarray  # int32, sorted
    rows: np.ndarray  # int32 row positions, in term order
    tf: np.ndarray  # float32
    starts: np.ndarray  # int64: term t's postings are [starts[t], starts[t + 1])

    @classmethod
    def of(cls, term_ids: np.ndarray, rows: np.ndarray, tf: np.ndarray) -> Segment:
        """A segment from postings already sorted by term id."""
        import numpy as np

        size = int(term_ids.max()) + 1 if len(term_ids) else 0
        starts = np.zeros(size + 1, dtype=np.int64)
        np.cumsum(np.bincount(term_ids, minlength=size), out=starts[1:])
        return cls(term_ids, rows, tf, starts)

    def postings(self, term_id: int) -> tuple[np.ndarray, np.ndarray]:
        if term_id + 1 >= len(self.starts):
            return self.rows[:0], self.tf[:0]
        lo, hi = self.starts[term_id], self.starts[term_id + 1]
        return self.rows[lo:hi], self.tf[lo:hi]


@dataclass(frozen=True)
class KeywordSnapshot:
    version: int
    vocabulary: dict[str, int]
    segments: tuple[Segment, ...]
    row_ids: np.ndarray
    chunk_keys: np.ndarray
    doc_keys: np.ndarray
    live: np.ndarray
    doc_length: np.ndarray  # float64 tokens per row (both columns), as FTS5's docsize
    doc_unique: np.ndarray
    row_doc: np.ndarray


@dataclass(frozen=True)
class Fts5Stats:
    rows: int
    average_length: float
    document_frequency: dict[str, int]


def _varint(blob: bytes, at: int) -> tuple[int, int]:
    value = 0
    for i in range(9):
        byte = blob[at + i]
        if i == 8:
            return (value << 8) | byte, at + 9
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            return value, at + i + 1
    raise ValueError("bad varint")


VOCAB_TABLE = FTS_VOCAB_TABLE  # fts5vocab 'row' of retrieval_chunks_fts, made by migration 0014
_vocab_ready: set[str] = set()


def _vocabulary_table(session: Session) -> bool:
    """Whether the fts5vocab table over ``retrieval_chunks_fts`` is there (migration 0014 makes it).

    It is a view of the FTS5 index, holding no data of its own; Alembic's comparison skips it like the
    FTS5 table (its name starts with retrieval_chunks_fts). Without it, searches answer through FTS5 directly.
    """
    url = str(session.get_bind().engine.url)
    if url in _vocab_ready:
        return True
    if session.execute(text("SELECT 1 FROM sqlite_master WHERE name = :n"), {"n": VOCAB_TABLE}).first():
        _vocab_ready.add(url)
        return True
    return False


def fts5_stats(session: Session, stems: list[str]) -> Fts5Stats | None:
    """Row count, average row length and the stems' document frequencies of ``retrieval_chunks_fts``
    (what its bm25 uses), or None when they cannot be read (yet)."""
    if not _vocabulary_table(session):
        return None
    blob = session.execute(text("SELECT block FROM retrieval_chunks_fts_data WHERE id = 1")).scalar()
    if not blob:
        return None
    blob = bytes(blob)
    rows, at = _varint(blob, 0)
    total = 0
    while at < len(blob):
        size, at = _varint(blob, at)
        total += size
    if rows <= 0 or total <= 0:
        return None
    frequency: dict[str, int] = {}
    unique = sorted(set(stems))
    if unique:
        params = {f"s{i}": s for i, s in enumerate(unique)}
        names = ", ".join(f":{n}" for n in params)
        sql = f"SELECT term, doc FROM {VOCAB_TABLE} WHERE term IN ({names})"
        frequency = {term: int(doc) for term, doc in plain_rows(session.execute(text(sql), params))}
    return Fts5Stats(rows, total / rows, frequency)


class KeywordIndex:
    """One collection's keyword postings in this process; get it with ``keyword_index``."""

    def __init__(self, collection_id: str):
        self.collection_id = collection_id
        self._lock = threading.Lock()
        self.snapshot: KeywordSnapshot | None = None

    def current(self, session: Session, version: int) -> KeywordSnapshot:
        snap = self.snapshot
        if snap is not None and snap.version == version:
            return snap
        with self._lock:
            snap = self.snapshot
            if snap is None or snap.version != version:
                snap = self._refresh(session, version, snap)
                self.snapshot = snap
        return snap

    def _refresh(self, session: Session, version: int, old: KeywordSnapshot | None) -> KeywordSnapshot:
        import numpy as np

        from stackwright.retrieval.vector_index import _matches, id_keys

        listed = session.execute(
            text("SELECT row_id, chunk_id, document_id FROM retrieval_chunks WHERE collection_id = :c"), {"c": self.collection_id}
        ).fetchall()
        db_rows = np.fromiter((r[0] for r in listed), dtype=np.int64, count=len(listed))
        db_chunks = id_keys([r[1] for r in listed])
        db_docs = id_keys([r[2] for r in listed])
        if old is None:
            keys, vocabulary, segments, doc_length = np.zeros((0, 3), dtype=np.int64), {}, [], np.zeros(0)
        else:
            keys = np.stack([old.row_ids, old.chunk_keys, old.doc_keys], axis=1)
            vocabulary, segments, doc_length = dict(old.vocabulary), list(old.segments), old.doc_length
        live = _matches(keys, db_rows, db_chunks)
        if len(keys) and (len(keys) - int(live.sum())) > _COMPACT_DEAD_SHARE * len(keys):
            keys, segments, doc_length, live = _compact(keys, segments, doc_length, live)
        missing = ~np.isin(db_rows, keys[live, 0]) if len(keys) else np.ones(len(db_rows), dtype=bool)
        if missing.any():
            added, segment, lengths = self._tokenize(session, db_rows[missing], db_chunks[missing], db_docs[missing],
                                                     len(keys), vocabulary, everything=not len(keys))  # fmt: skip
            keys = np.vstack([keys, added])
            live = np.concatenate([live, np.ones(len(added), dtype=bool)])
            doc_length = np.concatenate([doc_length, lengths])
            segments.append(segment)
        if len(segments) > _MAX_SEGMENTS:
            segments = [_merge(segments)]
        doc_unique, row_doc = np.unique(keys[:, 2], return_inverse=True)
        return KeywordSnapshot(version, vocabulary, tuple(segments), np.ascontiguousarray(keys[:, 0]),
                               np.ascontiguousarray(keys[:, 1]), np.ascontiguousarray(keys[:, 2]), live, doc_length,
                               doc_unique, row_doc.reshape(-1))  # fmt: skip

    def _tokenize(self, session: Session, row_ids: np.ndarray, chunk_keys: np.ndarray, doc_keys: np.ndarray, offset: int,
                  vocabulary: dict[str, int], *, everything: bool) -> tuple[np.ndarray, Segment, np.ndarray]:  # fmt: skip
        import numpy as np

        texts: dict[int, tuple[str, str]] = {}
        if everything:
            query = text("SELECT row_id, text, heading_path FROM retrieval_chunks WHERE collection_id = :c")
            for row_id, body, heading in plain_rows(session.execute(query, {"c": self.collection_id})):
                texts[row_id] = (body, _heading_text(heading))
        else:
            ids = [int(r) for r in row_ids]
            for start in range(0, len(ids), 500):
                params = {f"r{i}": r for i, r in enumerate(ids[start : start + 500])}
                sql = f"SELECT row_id, text, heading_path FROM retrieval_chunks WHERE row_id IN ({', '.join(':' + n for n in params)})"
                for row_id, body, heading in plain_rows(session.execute(text(sql), params)):
                    texts[row_id] = (body, _heading_text(heading))
        keep = np.array([int(r) in texts for r in row_ids], dtype=bool)
        row_ids, chunk_keys, doc_keys = row_ids[keep], chunk_keys[keep], doc_keys[keep]
        term_ids: list[np.ndarray] = []
        rows: list[np.ndarray] = []
        counts: list[np.ndarray] = []
        for start in range(0, len(row_ids), _TOKENIZE_BATCH):
            batch = [(start + i, *texts[int(r)]) for i, r in enumerate(row_ids[start : start + _TOKENIZE_BATCH])]
            terms, sizes, instances = _tokenizer.postings(batch)
            batch_term_ids = np.fromiter((vocabulary.setdefault(t, len(vocabulary)) for t in terms), dtype=np.int32, count=len(terms))
            term_of = np.repeat(batch_term_ids, sizes)
            # Instances of one term come row by row: each run of equal (term, row) is one posting.
            new_run = np.ones(len(instances), dtype=bool)
            new_run[1:] = (term_of[1:] != term_of[:-1]) | (instances[1:] != instances[:-1])
            starts = np.flatnonzero(new_run)
            term_ids.append(term_of[starts])
            rows.append((instances[starts] + offset).astype(np.int32))
            counts.append(np.diff(np.append(starts, len(instances))).astype(np.float32))
        all_terms = np.concatenate(term_ids) if term_ids else np.zeros(0, dtype=np.int32)
        all_rows = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int32)
        all_tf = np.concatenate(counts) if counts else np.zeros(0, dtype=np.float32)
        order = np.argsort(all_terms, kind="stable")
        segment = Segment.of(all_terms[order], all_rows[order], all_tf[order])
        lengths = np.bincount(all_rows - offset, weights=all_tf, minlength=len(row_ids)).astype(np.float64)
        added = np.stack([row_ids, chunk_keys, doc_keys], axis=1).astype(np.int64)
        return added, segment, lengths

    def search(self, snap: KeywordSnapshot, phrases: list[str], stats: Fts5Stats, count: int,
               mask: np.ndarray | None) -> list[tuple[int, float]]:  # fmt: skip
        """``(row_id, score)`` of the ``count`` best permitted rows matching any of ``phrases`` (stems),
        scored like FTS5's bm25 (higher is better, as ``-bm25()``)."""
        import numpy as np

        n = len(snap.row_ids)
        scores = np.zeros(n, dtype=np.float64)
        matched = np.zeros(n, dtype=bool)
        norm = K1 * (1 - B + B * snap.doc_length / stats.average_length)
        for stem in phrases:
            term_id = snap.vocabulary.get(stem)
            if term_id is None:
                continue
            hits = stats.document_frequency.get(stem, 0)
            idf = math.log((stats.rows - hits + 0.5) / (hits + 0.5))
            idf = idf if idf > 0 else 1e-6
            for segment in snap.segments:
                rows, tf = segment.postings(term_id)
                if len(rows):
                    tf = tf.astype(np.float64)  # FTS5 computes in double
                    scores[rows] += idf * ((tf * (K1 + 1.0)) / (tf + norm[rows]))
                    matched[rows] = True
        matched &= snap.live if mask is None else mask
        candidates = np.flatnonzero(matched)
        if not len(candidates) or count <= 0:
            return []
        if len(candidates) > count:
            cut = np.argpartition(-scores[candidates], count - 1)[:count]
            threshold = scores[candidates[cut]].min()
            candidates = candidates[scores[candidates] >= threshold]  # keep ties at the cut for the chunk id order
        order = np.lexsort((snap.chunk_keys[candidates], -scores[candidates]))[:count]
        chosen = candidates[order]
        return [(int(r), float(s)) for r, s in zip(snap.row_ids[chosen], scores[chosen], strict=True)]


def permitted(snap: KeywordSnapshot, excluded_docs: np.ndarray | None) -> np.ndarray | None:
    from stackwright.retrieval.vector_index import EmbeddedIndex

    return EmbeddedIndex.permitted(snap, excluded_docs)  # type: ignore[arg-type]


def _heading_text(heading: Any) -> str:
    if heading is None or isinstance(heading, str):
        return heading or ""
    import orjson

    return orjson.dumps(heading).decode()


def _merge(segments: list[Segment]) -> Segment:
    import numpy as np

    terms = np.concatenate([s.term_ids for s in segments])
    order = np.argsort(terms, kind="stable")
    return Segment.of(terms[order], np.concatenate([s.rows for s in segments])[order], np.concatenate([s.tf for s in segments])[order])


def _compact(keys: np.ndarray, segments: list[Segment], doc_length: np.ndarray, live: np.ndarray) -> tuple[Any, ...]:
    import numpy as np

    new_position = np.cumsum(live) - 1
    merged = _merge(segments) if segments else Segment.of(np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.float32))
    keep = live[merged.rows]
    segment = Segment.of(merged.term_ids[keep], new_position[merged.rows[keep]].astype(np.int32), merged.tf[keep])
    return keys[live], [segment], doc_length[live], np.ones(int(live.sum()), dtype=bool)


def stem_phrases(words: list[str]) -> list[str] | None:
    """One stem per query word (FTS5's tokenizer), or None if a word is not a single token."""
    stems = _tokenizer.stem(words)
    if any(len(s) != 1 for s in stems):
        return None
    return [s[0] for s in stems]


_indexes: dict[str, KeywordIndex] = {}
_indexes_lock = threading.Lock()


def keyword_index(collection_id: str, database_url: str) -> KeywordIndex:
    key = f"{database_url}#{collection_id}"
    index = _indexes.get(key)
    if index is None:
        with _indexes_lock:
            index = _indexes.setdefault(key, KeywordIndex(collection_id))
    return index


def forget(collection_id: str) -> None:
    with _indexes_lock:
        for key in [k for k in _indexes if k.endswith("#" + collection_id)]:
            del _indexes[key]
