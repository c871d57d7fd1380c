"""The embedded vector index: built from the database, refreshed incrementally, masks, ANN."""

from __future__ import annotations

import numpy as np
import pytest

from stackwright.retrieval.vector_index import EmbeddedIndex, embedded_index, forget, id_key
from tests.retrieval.search_corpus import add_document, default_project_id, delete_document, document_id, make_collection

DIMS = 32


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture
def corpus(prepared, settings):
    """A collection of 40 documents x 5 chunks with random unit vectors (the vectors are kept to check against)."""
    rng = np.random.default_rng(7)
    collection = make_collection(prepared, default_project_id(prepared), dimensions=DIMS)
    vectors: dict[str, np.ndarray] = {}
    for n in range(40):
        rows = unit(rng.normal(size=(5, DIMS)))
        add_document(prepared, collection, f"doc{n}", [f"doc {n} chunk {i}" for i in range(5)], vectors=rows)
        vectors[f"doc{n}"] = rows
    return prepared, settings, collection, vectors


def version(db, collection) -> int:
    from sqlalchemy import text

    with db.read() as session:
        return session.scalar(text("SELECT index_version FROM collections WHERE id = :c"), {"c": collection.id})


def snapshot(db, settings, collection, *, ann: bool = False, index: EmbeddedIndex | None = None):
    index = index or embedded_index(settings.home, collection.id, collection.dimensions)
    with db.read() as session:
        return index, index.current(session, version(db, collection), ann=ann)


def brute_force(vectors: dict[str, np.ndarray], query: np.ndarray, allowed: set[str] | None = None) -> list[tuple[str, int]]:
    scored = [(float(v @ query), source, i) for source, rows in vectors.items() if allowed is None or source in allowed
              for i, v in enumerate(rows)]  # fmt: skip
    return [(source, i) for _, source, i in sorted(scored, reverse=True)]


def positions_to_chunks(db, snap, positions) -> list[tuple[str, int]]:
    from sqlalchemy import text

    with db.read() as session:
        rows = dict(session.execute(text(
            "SELECT c.row_id, d.source || ':' || c.position FROM retrieval_chunks c JOIN retrieval_documents d ON d.id = c.document_id"
        )).all())  # fmt: skip
    out = []
    for row_id in snap.row_ids[positions]:
        source, position = rows[int(row_id)].split(":")
        out.append((source, int(position)))
    return out


def test_exact_search_matches_brute_force(corpus) -> None:
    db, settings, collection, vectors = corpus
    index, snap = snapshot(db, settings, collection)
    query = unit(np.random.default_rng(1).normal(size=(1, DIMS)))[0]
    hits = index.search(snap, query, 10, None)
    assert positions_to_chunks(db, snap, hits.positions) == brute_force(vectors, query)[:10]
    assert list(hits.scores) == sorted(hits.scores, reverse=True)
    assert not hits.used_ann


def test_same_version_reuses_the_snapshot(corpus) -> None:
    db, settings, collection, _ = corpus
    index, first = snapshot(db, settings, collection)
    _, second = snapshot(db, settings, collection, index=index)
    assert second is first


def test_refresh_appends_new_rows_and_masks_deleted_ones(corpus) -> None:
    db, settings, collection, vectors = corpus
    index, before = snapshot(db, settings, collection)
    old_matrix = np.array(before.matrix)
    extra = unit(np.random.default_rng(3).normal(size=(3, DIMS)))
    add_document(db, collection, "new", ["n0", "n1", "n2"], vectors=extra)
    delete_document(db, collection, "doc0")
    vectors = {**{k: v for k, v in vectors.items() if k != "doc0"}, "new": extra}
    _, after = snapshot(db, settings, collection, index=index)
    assert len(after.row_ids) == len(before.row_ids) + 3  # appended, nothing rewritten
    assert np.array_equal(np.asarray(after.matrix[: len(old_matrix)]), old_matrix)
    assert after.live_count == 200 - 5 + 3
    query = extra[1]
    hits = index.search(after, query, 20, None)
    found = positions_to_chunks(db, after, hits.positions)
    assert found[0] == ("new", 1)
    assert found == brute_force(vectors, query)[:20]
    assert all(source != "doc0" for source, _ in found)


def test_files_are_compacted_once_a_third_is_dead(corpus) -> None:
    db, settings, collection, vectors = corpus
    index, _ = snapshot(db, settings, collection)
    for n in range(13):
        delete_document(db, collection, f"doc{n}")
    _, masked = snapshot(db, settings, collection, index=index)
    assert (len(masked.row_ids), masked.live_count) == (200, 135)  # 65 dead of 200: not yet
    delete_document(db, collection, "doc13")
    _, compacted = snapshot(db, settings, collection, index=index)
    assert len(compacted.row_ids) == compacted.live_count == 130  # 70 dead: rewritten without them
    assert index.matrix_path.stat().st_size == 130 * DIMS * 4
    remaining = {k: v for k, v in vectors.items() if int(k[3:]) >= 14}
    query = remaining["doc30"][2]
    hits = index.search(compacted, query, 5, None)
    assert positions_to_chunks(db, compacted, hits.positions) == brute_force(remaining, query)[:5]


def test_missing_or_damaged_files_are_rebuilt_from_the_database(corpus) -> None:
    db, settings, collection, vectors = corpus
    index, _ = snapshot(db, settings, collection)
    with open(index.matrix_path, "ab") as f:
        f.write(b"\x00" * 10)  # a crash half way through an append
    fresh = EmbeddedIndex(index.folder, collection.id, DIMS)  # another process
    _, snap = snapshot(db, settings, collection, index=fresh)
    assert snap.live_count == 200 and index.matrix_path.stat().st_size == 200 * DIMS * 4
    index.matrix_path.unlink()
    index.keys_path.unlink()
    again = EmbeddedIndex(index.folder, collection.id, DIMS)
    _, rebuilt = snapshot(db, settings, collection, index=again)
    query = vectors["doc7"][0]
    hits = again.search(rebuilt, query, 3, None)
    assert positions_to_chunks(db, rebuilt, hits.positions)[0] == ("doc7", 0)


def test_a_reused_row_id_is_not_mistaken_for_the_old_chunk(corpus, backend) -> None:
    db, settings, collection, _ = corpus
    index, _ = snapshot(db, settings, collection)
    delete_document(db, collection, "doc39")  # the largest row ids: SQLite hands them out again
    fresh = unit(np.random.default_rng(9).normal(size=(5, DIMS)))
    add_document(db, collection, "doc39b", [f"replacement {i}" for i in range(5)], vectors=fresh)
    _, snap = snapshot(db, settings, collection, index=index)
    hits = index.search(snap, fresh[4], 1, None)
    assert positions_to_chunks(db, snap, hits.positions) == [("doc39b", 4)]
    assert hits.scores[0] == pytest.approx(1.0, abs=1e-5)


def test_masks_exclude_documents_before_the_cut(corpus) -> None:
    db, settings, collection, vectors = corpus
    index, snap = snapshot(db, settings, collection)
    query = vectors["doc3"][0]
    best = brute_force(vectors, query)
    forbidden = {source for source, _ in best[:10]}  # every document of the 10 best chunks
    excluded = np.array([id_key(document_id(collection.id, s)) for s in forbidden], dtype=np.int64)
    mask = EmbeddedIndex.permitted(snap, excluded)
    hits = index.search(snap, query, 10, mask)
    allowed = set(vectors) - forbidden
    assert positions_to_chunks(db, snap, hits.positions) == brute_force(vectors, query, allowed)[:10]
    everything = np.array([id_key(document_id(collection.id, s)) for s in vectors], dtype=np.int64)
    none_left = EmbeddedIndex.permitted(snap, everything)
    assert len(index.search(snap, query, 10, none_left).positions) == 0


def test_ann_finds_the_exact_neighbours_and_k_permitted(corpus) -> None:
    pytest.importorskip("usearch")
    db, settings, collection, vectors = corpus
    index, snap = snapshot(db, settings, collection, ann=True)
    assert snap.ann is not None and index.ann_path.exists()
    rng = np.random.default_rng(11)
    agree = 0
    for query in unit(rng.normal(size=(20, DIMS))):
        ann = index.search(snap, query, 10, None, ann=True)
        exact = index.search(snap, query, 10, None)
        assert ann.used_ann
        agree += len(set(ann.row_ids) & set(exact.row_ids))
    assert agree / 200 >= 0.95
    # A mask that leaves few rows: ANN cannot find 10 among its candidates, exact search on them does.
    keep = {"doc5", "doc6"}
    excluded = np.array([id_key(document_id(collection.id, s)) for s in vectors if s not in keep], dtype=np.int64)
    mask = EmbeddedIndex.permitted(snap, excluded)
    query = vectors["doc1"][0]
    hits = index.search(snap, query, 10, mask, ann=True)
    assert positions_to_chunks(db, snap, hits.positions) == brute_force(vectors, query, keep)[:10]


def test_ann_graph_is_updated_incrementally_and_reloaded(corpus) -> None:
    pytest.importorskip("usearch")
    db, settings, collection, _ = corpus
    index, _ = snapshot(db, settings, collection, ann=True)
    extra = unit(np.random.default_rng(5).normal(size=(2, DIMS)))
    add_document(db, collection, "late", ["l0", "l1"], vectors=extra)
    delete_document(db, collection, "doc2")
    _, snap = snapshot(db, settings, collection, ann=True, index=index)
    assert len(snap.ann) == 200 - 5 + 2
    other = EmbeddedIndex(index.folder, collection.id, DIMS)  # another process loads the saved graph
    _, loaded = snapshot(db, settings, collection, ann=True, index=other)
    assert len(loaded.ann) == 197
    hits = other.search(loaded, extra[0], 1, None, ann=True)
    assert positions_to_chunks(db, loaded, hits.positions) == [("late", 0)]


def test_forget_removes_files_and_snapshot(corpus) -> None:
    db, settings, collection, _ = corpus
    index, _ = snapshot(db, settings, collection)
    forget(settings.home, collection.id)
    assert not index.matrix_path.exists() and not index.keys_path.exists()
    assert embedded_index(settings.home, collection.id, DIMS) is not index
