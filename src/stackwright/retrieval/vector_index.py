"""The embedded vector index: exact numpy search over a memory-mapped float32 matrix, plus usearch ANN.

Per collection, under ``<home>/vectors/``:

- ``<collection_id>.<dims>.f32``: the vectors, one row of ``dims`` float32 per chunk, in append order;
- ``<collection_id>.<dims>.keys``: per row, three int64: the chunk's ``row_id``, a key of its ``chunk_id``
  and a key of its ``document_id`` (the first 60 bits of the hex ids);
- ``<collection_id>.<dims>.usearch`` (+ ``.usearch.rows``): the HNSW graph, when the collection has ``ann``.

The files are a cache of ``retrieval_chunks.embedding``: missing or damaged files are rebuilt from the
database. Each process keeps one snapshot per collection in memory and refreshes it when the collection's
``index_version`` moves: the database's list of embedded chunks is compared with the file's rows, new
rows are appended (their vectors read from the database), rows whose chunk is gone are masked as dead,
and the files are rewritten without them once dead rows pass a third of the file. A row whose row id
came back with another chunk (SQLite reuses the largest row id after a delete) has another chunk key,
so it is never mistaken for the old one. Processes sharing a data dir update the files under a file lock.

Searches never reload vectors: ``search`` multiplies the memory-mapped matrix by the query (one BLAS
call), masks rows that are dead or not permitted, and cuts the top with ``argpartition``. Scores of the
top rows are then recomputed in float64 and rounded to 6 decimals, ties broken by chunk id, so exact
search ranks the same as the Postgres backend, which rescores the same way.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from stackwright.core.db import plain_rows

if TYPE_CHECKING:
    import numpy as np
    from sqlalchemy.orm import Session

log = logging.getLogger("stackwright.retrieval")

ANN_CONNECTIVITY = 16
ANN_EXPANSION_ADD = 128
ANN_EXPANSION_SEARCH = 256
ANN_OVERSAMPLE = 8
SCORE_DECIMALS = 6
_COMPACT_DEAD_SHARE = 1 / 3
_FETCH_BATCH = 500


def id_key(hex_id: str) -> int:
    """A 60-bit integer for a hex id (chunk or document): its first 15 hex digits; order follows the id's."""
    try:
        return int(hex_id[:15], 16)
    except ValueError:
        import hashlib

        return int.from_bytes(hashlib.blake2b(hex_id.encode(), digest_size=8).digest(), "big") >> 4


def id_keys(hex_ids: list[str]) -> np.ndarray:
    """``id_key`` of many ids at once (int64 array)."""
    import numpy as np

    if hex_ids and all(len(i) >= 16 for i in hex_ids):
        try:
            return (np.frombuffer(bytes.fromhex("".join(i[:16] for i in hex_ids)), dtype=">u8") >> np.uint64(4)).astype(np.int64)
        except ValueError:
            pass
    return np.fromiter((id_key(i) for i in hex_ids), dtype=np.int64, count=len(hex_ids))


def exact_order(vectors: np.ndarray, query: np.ndarray, chunk_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ranking both backends agree on: float64 cosine (vectors are unit length) rounded to 6 decimals,
    best first, ties by chunk id. Returns (order indices into ``vectors``, scores in that order)."""
    import numpy as np

    scores = np.round(np.asarray(vectors, dtype=np.float64) @ np.asarray(query, dtype=np.float64), SCORE_DECIMALS)
    order = np.lexsort((np.asarray(chunk_keys, dtype=np.int64), -scores))
    return order, scores[order]


@dataclass(frozen=True)
class Snapshot:
    """One consistent view of a collection's index; queries hold it while the next one is built."""

    version: int
    matrix: Any  # np.memmap (n, dims) float32, or an empty array
    row_ids: np.ndarray  # int64 (n,)
    chunk_keys: np.ndarray  # int64 (n,)
    doc_keys: np.ndarray  # int64 (n,)
    live: np.ndarray  # bool (n,)
    doc_unique: np.ndarray  # sorted unique doc keys
    row_doc: np.ndarray  # index into doc_unique per row
    ann: Any = None  # usearch Index keyed by row position, or None

    @property
    def live_count(self) -> int:
        return int(self.live.sum())


@dataclass(frozen=True)
class VectorHits:
    positions: np.ndarray  # row positions in the snapshot
    row_ids: np.ndarray
    scores: np.ndarray
    used_ann: bool


class EmbeddedIndex:
    """One collection's vector index in this process; get it with ``embedded_index``."""

    def __init__(self, folder: Path, collection_id: str, dimensions: int):
        self.folder = folder
        self.collection_id = collection_id
        self.dimensions = dimensions
        stem = folder / f"{collection_id}.{dimensions}"
        self.matrix_path = stem.with_suffix(f".{dimensions}.f32")
        self.keys_path = stem.with_suffix(f".{dimensions}.keys")
        self.ann_path = stem.with_suffix(f".{dimensions}.usearch")
        self.ann_rows_path = stem.with_suffix(f".{dimensions}.usearch.rows")
        self.lock_path = stem.with_suffix(f".{dimensions}.lock")
        self._lock = threading.Lock()
        self.snapshot: Snapshot | None = None

    # -- keeping up with the database -------------------------------------------------------------

    def current(self, session: Session, version: int, *, ann: bool = False) -> Snapshot:
        """The snapshot for ``version`` (the collection's index_version), refreshed if it moved."""
        snap = self.snapshot
        if snap is not None and snap.version == version and (snap.ann is not None or not ann):
            return snap
        with self._lock:
            snap = self.snapshot
            if snap is None or snap.version != version or (ann and snap.ann is None):
                snap = self._refresh(session, version, ann)
                self.snapshot = snap
        return snap

    @contextmanager
    def _file_lock(self) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _database_rows(self, session: Session) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        import numpy as np

        result = session.execute(
            text("SELECT row_id, chunk_id, document_id FROM retrieval_chunks WHERE collection_id = :c AND embedding IS NOT NULL"),
            {"c": self.collection_id},
        )
        rows = result.fetchall()
        row_ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        chunk_keys = id_keys([r[1] for r in rows])
        doc_keys = id_keys([r[2] for r in rows])
        return row_ids, chunk_keys, doc_keys

    def _read_files(self) -> tuple[np.ndarray, int]:
        """The keys rows (n, 3) and n, after making both files agree (a crash mid-append leaves extra bytes)."""
        import numpy as np

        row_bytes = 4 * self.dimensions
        if not self.keys_path.exists() or not self.matrix_path.exists():
            return np.zeros((0, 3), dtype=np.int64), 0
        n = min(self.keys_path.stat().st_size // 24, self.matrix_path.stat().st_size // row_bytes)
        keys = np.fromfile(self.keys_path, dtype="<i8", count=3 * n).reshape(n, 3)
        if self.keys_path.stat().st_size != 24 * n:
            os.truncate(self.keys_path, 24 * n)
        if self.matrix_path.stat().st_size != row_bytes * n:
            os.truncate(self.matrix_path, row_bytes * n)
        return keys, n

    def _fetch_vectors(self, session: Session, row_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Vectors of ``row_ids`` from the database: (row ids found, float32 (m, dims))."""
        import numpy as np

        size = 4 * self.dimensions
        found: list[int] = []
        blobs: list[bytes] = []
        ids = [int(r) for r in row_ids]
        for start in range(0, len(ids), _FETCH_BATCH):
            batch = ids[start : start + _FETCH_BATCH]
            params = {f"r{i}": r for i, r in enumerate(batch)}
            names = ", ".join(f":{n}" for n in params)
            for row_id, blob in plain_rows(session.execute(
                text(f"SELECT row_id, embedding FROM retrieval_chunks WHERE row_id IN ({names})"), params
            )):
                if blob is None or len(blob) != size:
                    log.warning("chunk row %s has an embedding of %s bytes, not %d; left out of the index", row_id, None if blob is None else len(blob), size)
                    continue
                found.append(row_id)
                blobs.append(bytes(blob))
        vectors = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(blobs), self.dimensions)
        return np.asarray(found, dtype=np.int64), vectors

    def _refresh(self, session: Session, version: int, ann: bool) -> Snapshot:
        import numpy as np

        db_rows, db_chunks, db_docs = self._database_rows(session)
        with self._file_lock():
            keys, n = self._read_files()
            live = _matches(keys, db_rows, db_chunks)
            missing = ~np.isin(db_rows, keys[live, 0]) if n else np.ones(len(db_rows), dtype=bool)
            if n and (n - int(live.sum())) > _COMPACT_DEAD_SHARE * n:
                keys, n, live = self._compact(keys, live)
            if missing.any():
                added = self._append(session, db_rows[missing], db_chunks[missing], db_docs[missing])
                keys = np.vstack([keys, added])
                live = np.concatenate([live, np.ones(len(added), dtype=bool)])
                n = len(keys)
            ann_index = self._ann(keys, live, n) if ann and n else None
        matrix = (
            np.memmap(self.matrix_path, dtype="<f4", mode="r", shape=(n, self.dimensions))
            if n
            else np.zeros((0, self.dimensions), dtype=np.float32)
        )
        doc_unique, row_doc = np.unique(keys[:, 2], return_inverse=True)
        return Snapshot(
            version=version,
            matrix=matrix,
            row_ids=np.ascontiguousarray(keys[:, 0]),
            chunk_keys=np.ascontiguousarray(keys[:, 1]),
            doc_keys=np.ascontiguousarray(keys[:, 2]),
            live=live,
            doc_unique=doc_unique,
            row_doc=row_doc.reshape(-1),
            ann=ann_index,
        )

    def _append(self, session: Session, row_ids: np.ndarray, chunk_keys: np.ndarray, doc_keys: np.ndarray) -> np.ndarray:
        import numpy as np

        found, vectors = self._fetch_vectors(session, row_ids)
        order = np.argsort(row_ids)
        position = np.searchsorted(row_ids[order], found)
        index = order[position]
        added = np.stack([found, chunk_keys[index], doc_keys[index]], axis=1).astype("<i8")
        with open(self.matrix_path, "ab") as matrix_file:
            matrix_file.write(np.ascontiguousarray(vectors, dtype="<f4").tobytes())
            matrix_file.flush()
            os.fsync(matrix_file.fileno())
        with open(self.keys_path, "ab") as keys_file:
            keys_file.write(added.tobytes())
        return added

    def _compact(self, keys: np.ndarray, live: np.ndarray) -> tuple[np.ndarray, int, np.ndarray]:
        """Rewrite the files with live rows only (new files replace the old: open memmaps keep working)."""
        import numpy as np

        n = len(keys)
        old = np.memmap(self.matrix_path, dtype="<f4", mode="r", shape=(n, self.dimensions))
        kept = keys[live]
        for path, data in ((self.matrix_path, np.asarray(old[live])), (self.keys_path, kept)):
            tmp = path.with_name(path.name + ".tmp")
            data.astype(data.dtype.newbyteorder("<")).tofile(tmp)
            os.replace(tmp, path)
        for stale in (self.ann_path, self.ann_rows_path):  # positions changed: the graph is rebuilt
            stale.unlink(missing_ok=True)
        return kept, len(kept), np.ones(len(kept), dtype=bool)

    def _ann(self, keys: np.ndarray, live: np.ndarray, n: int) -> Any:
        """The HNSW graph over live rows, keyed by row position: loaded, extended with new rows, saved."""
        import numpy as np
        from usearch.index import Index

        matrix = np.memmap(self.matrix_path, dtype="<f4", mode="r", shape=(n, self.dimensions))
        index = Index(ndim=self.dimensions, metric="cos", dtype="f32", connectivity=ANN_CONNECTIVITY,
                      expansion_add=ANN_EXPANSION_ADD, expansion_search=ANN_EXPANSION_SEARCH)  # fmt: skip
        covered = 0
        if self.ann_path.exists() and self.ann_rows_path.exists():
            try:
                covered = int(self.ann_rows_path.read_text().strip())
                if covered > n:
                    raise ValueError("graph covers rows the files do not have")
                index.load(str(self.ann_path))
                index.expansion_search = ANN_EXPANSION_SEARCH  # type: ignore[misc]  # usearch has the setter; mypy misses it (not next to its getter)
            except Exception as exc:  # a damaged or foreign file: build again
                log.warning("rebuilding the ANN index of collection %s: %s", self.collection_id, exc)
                index = Index(ndim=self.dimensions, metric="cos", dtype="f32", connectivity=ANN_CONNECTIVITY,
                              expansion_add=ANN_EXPANSION_ADD, expansion_search=ANN_EXPANSION_SEARCH)  # fmt: skip
                covered = 0
        new = np.arange(covered, n, dtype=np.uint64)
        new = new[live[covered:n]]
        if len(new):
            index.add(new, np.asarray(matrix[new.astype(np.int64)]))
        dead = np.flatnonzero(~live[:covered]).astype(np.uint64)
        if len(dead):
            present = dead[np.asarray(index.contains(dead), dtype=bool)]
            if len(present):
                index.remove(present)
        if len(new) or len(dead) or covered != n:
            tmp = self.ann_path.with_name(self.ann_path.name + ".tmp")
            index.save(str(tmp))
            os.replace(tmp, self.ann_path)
            self.ann_rows_path.write_text(str(n))
        return index

    # -- searching --------------------------------------------------------------------------------

    @staticmethod
    def permitted(snap: Snapshot, excluded_docs: np.ndarray | None) -> np.ndarray | None:
        """Row mask of live rows not in ``excluded_docs`` (doc keys); None when every live row may be used."""
        import numpy as np

        if excluded_docs is None or not len(excluded_docs):
            return None if snap.live.all() else snap.live
        excluded_docs = np.asarray(excluded_docs, dtype=np.int64)
        position = np.searchsorted(snap.doc_unique, excluded_docs)
        inside = position < len(snap.doc_unique)
        position, excluded_docs = position[inside], excluded_docs[inside]
        doc_ok = np.ones(len(snap.doc_unique), dtype=bool)
        doc_ok[position[snap.doc_unique[position] == excluded_docs]] = False
        return doc_ok[snap.row_doc] & snap.live

    def search(self, snap: Snapshot, query: np.ndarray, count: int, mask: np.ndarray | None, *, ann: bool = False) -> VectorHits:
        """The ``count`` best permitted rows for a unit ``query`` (exact, or ANN when asked and built)."""
        import numpy as np

        query = np.asarray(query, dtype=np.float32).reshape(-1)
        allowed = snap.live_count if mask is None else int(mask.sum())
        count = min(count, allowed)
        if count <= 0:
            empty = np.zeros(0, dtype=np.int64)
            return VectorHits(empty, empty, np.zeros(0), False)
        if ann and snap.ann is not None:
            positions = self._ann_candidates(snap, query, count, mask)
            if positions is not None:
                return self._ranked(snap, query, positions, count, used_ann=True)
        scores = snap.matrix @ query
        if mask is not None:
            scores = np.where(mask, scores, -np.inf)
        margin = min(len(scores), count + 16)  # near-ties at the cut are settled by the exact rescoring
        top = np.argpartition(scores, len(scores) - margin)[-margin:] if margin < len(scores) else np.arange(len(scores))
        top = top[np.isfinite(scores[top])]
        return self._ranked(snap, query, top, count, used_ann=False)

    def _ann_candidates(self, snap: Snapshot, query: np.ndarray, count: int, mask: np.ndarray | None) -> np.ndarray | None:
        import numpy as np

        wanted = min(max(count * ANN_OVERSAMPLE, 128), snap.live_count)
        matches = snap.ann.search(query, wanted)
        positions = np.asarray(matches.keys, dtype=np.int64)
        if mask is not None:
            positions = positions[mask[positions]]
        else:
            positions = positions[snap.live[positions]]
        return positions if len(positions) >= count else None  # not enough permitted: exact on the permitted rows

    @staticmethod
    def _ranked(snap: Snapshot, query: np.ndarray, positions: np.ndarray, count: int, *, used_ann: bool) -> VectorHits:
        import numpy as np

        positions = np.sort(positions)  # sequential reads of the memmap
        order, scores = exact_order(np.asarray(snap.matrix[positions]), query, snap.chunk_keys[positions])
        chosen = positions[order[:count]]
        return VectorHits(chosen, snap.row_ids[chosen], scores[:count], used_ann)

    def vectors(self, snap: Snapshot, positions: np.ndarray) -> np.ndarray:
        import numpy as np

        return np.asarray(snap.matrix[np.asarray(positions, dtype=np.int64)], dtype=np.float32)


def _matches(keys: np.ndarray, db_rows: np.ndarray, db_chunks: np.ndarray) -> np.ndarray:
    """Which file rows are still in the database with the same chunk (the last copy wins on repeats)."""
    import numpy as np

    if not len(keys):
        return np.zeros(0, dtype=bool)
    order = np.argsort(db_rows)
    sorted_rows, sorted_chunks = db_rows[order], db_chunks[order]
    position = np.searchsorted(sorted_rows, keys[:, 0])
    inside = position < len(sorted_rows)
    position = np.where(inside, position, 0)
    live = inside & (sorted_rows[position] == keys[:, 0]) & (sorted_chunks[position] == keys[:, 1]) if len(sorted_rows) else np.zeros(len(keys), dtype=bool)
    # A row appended twice (never expected) counts once: keep its last copy.
    _, last = np.unique(keys[::-1, 0], return_index=True)
    keep = np.zeros(len(keys), dtype=bool)
    keep[len(keys) - 1 - last] = True
    return live & keep


_indexes: dict[tuple[str, str, int], EmbeddedIndex] = {}
_indexes_lock = threading.Lock()


def embedded_index(home: Path, collection_id: str, dimensions: int) -> EmbeddedIndex:
    """The process-wide index object of a collection (files under ``home / "vectors"``)."""
    folder = Path(home).resolve() / "vectors"
    key = (str(folder), collection_id, dimensions)
    index = _indexes.get(key)
    if index is None:
        with _indexes_lock:
            index = _indexes.setdefault(key, EmbeddedIndex(folder, collection_id, dimensions))
    return index


def forget(home: Path, collection_id: str) -> None:
    """Drop a deleted collection's index: its in-memory snapshot and its files."""
    folder = Path(home).resolve() / "vectors"
    with _indexes_lock:
        for key in [k for k in _indexes if k[0] == str(folder) and k[1] == collection_id]:
            del _indexes[key]
    if folder.exists():
        for path in folder.glob(f"{collection_id}.*"):
            path.unlink(missing_ok=True)
