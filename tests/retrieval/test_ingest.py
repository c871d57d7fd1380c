"""Ingest on SQLite and Postgres: only what changed is re-chunked and embedded, chunk ids stay stable,
deleted sources go, a failed embedder resumes without duplicates, keyword and vector columns follow."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import func, select, text

from stackwright.retrieval import ingest as ingest_module
from stackwright.retrieval.embedders import EmbedderFailed
from stackwright.retrieval.ingest import chunk_ids, document_id
from stackwright.retrieval.models import RetrievalChunk, RetrievalDocument, RetrievalDocumentAcl

GUIDE = """# Account

## Passwords

To reset your password, open Settings and choose Security. Click Reset and follow the email.

## Billing

Invoices are sent on the first day of each month. Refunds take five business days.
"""
FAQ = "Can I export my data?\n\nYes. Open Settings, choose Export and pick CSV or JSON."


def _chunks(db, collection_id: str) -> dict[str, dict]:
    with db.read() as session:
        rows = session.execute(select(RetrievalChunk).where(RetrievalChunk.collection_id == collection_id)).scalars().all()
        return {r.chunk_id: {"row_id": r.row_id, "document_id": r.document_id, "position": r.position, "text": r.text,
                             "heading_path": r.heading_path, "embedding": r.embedding} for r in rows}  # fmt: skip


def _docs(db, collection_id: str) -> dict[str, RetrievalDocument]:
    with db.read() as session:
        rows = session.execute(select(RetrievalDocument).where(RetrievalDocument.collection_id == collection_id)).scalars().all()
        return {r.source: r for r in rows}


def _keyword_rows(db, word: str) -> set[int]:
    """Row ids the keyword index finds for ``word`` (FTS5 on SQLite, search_tsv on Postgres)."""
    with db.read() as session:
        if db.is_sqlite:
            query = "SELECT rowid FROM retrieval_chunks_fts WHERE retrieval_chunks_fts MATCH :w"
        else:
            query = "SELECT row_id FROM retrieval_chunks WHERE search_tsv @@ plainto_tsquery('english', :w)"
        return set(session.execute(text(query), {"w": word}).scalars())


def test_first_ingest_stores_documents_chunks_and_indexes(prepared, make_collection, ingest_texts, reload_collection):
    collection = make_collection()
    report = ingest_texts(collection, [{"source": "guide.md", "text": GUIDE, "format": "markdown", "metadata": {"lang": "en"}},
                                       {"source": "faq.txt", "text": FAQ}])  # fmt: skip
    assert (report.documents_added, report.documents_updated, report.failures) == (2, 0, [])
    chunks = _chunks(prepared, collection.id)
    assert report.chunks_added == report.chunks_embedded == len(chunks) >= 3
    docs = _docs(prepared, collection.id)
    guide = docs["guide.md"]
    assert guide.id == document_id(collection.id, "guide.md") and guide.status == "ready" and guide.public
    assert guide.title == "Account" and guide.metadata_ == {"lang": "en"} and guide.chunk_count == 2
    guide_chunks = sorted((c for c in chunks.values() if c["document_id"] == guide.id), key=lambda c: c["position"])
    assert [c["heading_path"] for c in guide_chunks] == [["Account", "Passwords"], ["Account", "Billing"]]
    assert guide_chunks[0]["text"].startswith("## Passwords") and "Refunds take five" in guide_chunks[1]["text"]
    assert set(chunks) >= set(chunk_ids(guide.id, [c["text"] for c in guide_chunks]))
    vector = np.frombuffer(guide_chunks[0]["embedding"], dtype="<f4")
    assert vector.shape == (256,) and abs(float(np.linalg.norm(vector)) - 1) < 1e-5
    stored = reload_collection(collection)
    assert (stored.document_count, stored.chunk_count) == (2, len(chunks)) and stored.index_version >= 1
    refunds = {c["row_id"] for c in guide_chunks if "Refunds" in c["text"]}
    assert _keyword_rows(prepared, "refunds") == refunds and _keyword_rows(prepared, "billing") == refunds  # heading words too


def test_reingest_touches_only_what_changed(prepared, make_collection, ingest_texts, counting_embedder, reload_collection):
    collection = make_collection(embedder="test/counting")
    docs = [{"source": "a.md", "text": GUIDE, "format": "markdown"}, {"source": "b.txt", "text": FAQ},
            {"source": "c.txt", "text": "Shipping takes two days.\n\nTracking links arrive by email."}]  # fmt: skip
    first = ingest_texts(collection, docs)
    before = _chunks(prepared, collection.id)
    assert first.documents_added == 3 and len(counting_embedder.texts) == len(before)
    version = reload_collection(collection).index_version

    counting_embedder.texts.clear()
    again = ingest_texts(collection, docs)
    assert (again.documents_unchanged, again.chunks_added, again.chunks_embedded) == (3, 0, 0)
    assert counting_embedder.texts == [] and _chunks(prepared, collection.id) == before
    assert reload_collection(collection).index_version == version  # nothing changed: the index stays

    edited = GUIDE.replace("Refunds take five business days.", "Refunds take ten business days.")
    report = ingest_texts(collection, [{**docs[0], "text": edited}, *docs[1:]])
    after = _chunks(prepared, collection.id)
    assert (report.documents_updated, report.documents_unchanged) == (1, 2)
    assert report.chunks_added == report.chunks_deleted == 1 and report.chunks_kept == 1  # the Passwords section
    assert counting_embedder.texts == [t["text"] for t in after.values() if t["text"] not in {b["text"] for b in before.values()}]
    assert len(counting_embedder.texts) == 1 and "ten business days" in counting_embedder.texts[0]
    kept = set(before) & set(after)
    assert len(kept) == len(before) - 1 and all(before[k]["row_id"] == after[k]["row_id"] for k in kept)  # same rows, same ids
    assert all(before[k]["embedding"] == after[k]["embedding"] for k in kept)
    assert _keyword_rows(prepared, "five") == set() and len(_keyword_rows(prepared, "ten")) == 1
    assert reload_collection(collection).index_version > version


def test_metadata_title_and_acl_changes_update_without_reembedding(prepared, make_collection, ingest_texts, counting_embedder):
    collection = make_collection(embedder="test/counting")
    ingest_texts(collection, [{"source": "faq", "text": FAQ, "title": "FAQ"}], acl=["group:support"], metadata={"lang": "en"})
    doc = _docs(prepared, collection.id)["faq"]
    assert doc.public is False and doc.metadata_ == {"lang": "en"}
    counting_embedder.texts.clear()
    report = ingest_texts(collection, [{"source": "faq", "text": FAQ, "title": "FAQ v2", "metadata": {"lang": "de"}}],
                          acl=["group:billing", "user:ann"])  # fmt: skip
    assert report.documents_updated == 1 and report.chunks_embedded == 0 and counting_embedder.texts == []
    doc = _docs(prepared, collection.id)["faq"]
    assert (doc.title, doc.metadata_, doc.public) == ("FAQ v2", {"lang": "de"}, False)
    with prepared.read() as session:
        acl = sorted(session.scalars(select(RetrievalDocumentAcl.principal).where(RetrievalDocumentAcl.document_id == doc.id)))
    assert acl == ["group:billing", "user:ann"]
    ingest_texts(collection, [{"source": "faq", "text": FAQ, "title": "FAQ v2", "metadata": {"lang": "de"}}])
    assert _docs(prepared, collection.id)["faq"].public is True  # no ACL any more: public


def test_sync_deletes_sources_that_are_gone(prepared, make_collection, ingest_texts, reload_collection):
    collection = make_collection()
    ingest_texts(collection, {"docs/a.txt": FAQ, "docs/b.txt": "Second document about invoices.", "other/c.txt": "Kept: not synced."})
    report = ingest_texts(collection, {"docs/a.txt": FAQ}, sync_prefixes=["docs/"])
    assert report.documents_deleted == 1 and report.chunks_deleted == 1
    assert sorted(_docs(prepared, collection.id)) == ["docs/a.txt", "other/c.txt"]
    stored = reload_collection(collection)
    assert stored.document_count == 2 and stored.chunk_count == len(_chunks(prepared, collection.id))
    assert _keyword_rows(prepared, "invoices") == set()  # the keyword index lost it too


def test_resume_after_the_embedder_fails_without_duplicates(prepared, make_collection, ingest_texts, flaky_embedder, monkeypatch,
                                                           reload_collection):  # fmt: skip
    monkeypatch.setattr(ingest_module, "SLICE_CHUNKS", 2)  # two new chunks per transaction
    collection = make_collection(embedder="test/flaky")
    docs = {f"doc-{i}.txt": f"Document {i} explains topic {i}.\n\nA second paragraph for document {i}." for i in range(5)}
    flaky_embedder.fail_on = 3
    with pytest.raises(EmbedderFailed) as failed:
        ingest_texts(collection, docs, chunking={"strategy": "fixed", "size": 16, "overlap": 0})
    assert "'test/flaky' failed: ConnectionError: the embedding service went away" in failed.value.message
    assert "run the same ingest again" in failed.value.message and failed.value.details["report"]["chunks_added"] == 4
    stored = _chunks(prepared, collection.id)
    assert len(stored) == 4 and reload_collection(collection).chunk_count == 4
    flaky_embedder.fail_on = None
    flaky_embedder.texts.clear()
    report = ingest_texts(collection, docs, chunking={"strategy": "fixed", "size": 16, "overlap": 0})
    after = _chunks(prepared, collection.id)
    assert report.chunks_added == len(after) - 4 and not set(flaky_embedder.texts) & {c["text"] for c in stored.values()}
    with prepared.read() as session:
        statuses = set(session.scalars(select(RetrievalDocument.status).where(RetrievalDocument.collection_id == collection.id)))
        distinct = session.scalar(select(func.count(func.distinct(RetrievalChunk.chunk_id))).where(RetrievalChunk.collection_id == collection.id))
    assert statuses == {"ready"} and distinct == len(after) == reload_collection(collection).chunk_count


def test_a_document_larger_than_a_slice_stays_pending_until_complete(prepared, make_collection, ingest_texts, flaky_embedder,
                                                                      monkeypatch):  # fmt: skip
    monkeypatch.setattr(ingest_module, "SLICE_CHUNKS", 3)
    collection = make_collection(embedder="test/flaky", chunking={"strategy": "fixed", "size": 16, "overlap": 0})
    long_text = " ".join(f"Sentence number {i} talks about a subject of its own." for i in range(30))
    flaky_embedder.fail_on = 2
    with pytest.raises(EmbedderFailed):
        ingest_texts(collection, {"long.txt": long_text})
    doc = _docs(prepared, collection.id)["long.txt"]
    assert doc.status == "pending" and len(_chunks(prepared, collection.id)) == 3
    flaky_embedder.fail_on = None
    report = ingest_texts(collection, {"long.txt": long_text})
    doc = _docs(prepared, collection.id)["long.txt"]
    assert doc.status == "ready" and report.chunks_kept == 3 and doc.chunk_count == len(_chunks(prepared, collection.id)) > 3


def test_bad_documents_are_reported_and_the_rest_ingests(prepared, make_collection, ingest_texts):
    collection = make_collection()
    report = ingest_texts(collection, [
        {"source": "ok.txt", "text": FAQ},
        {"source": "blank.txt", "text": "   \n\n  "},
        {"source": "", "text": "no source"},
        {"source": "bad-acl.txt", "text": "x", "acl": ["*"]},
        {"source": "page.html", "text": "<script>var x;</script><nav>menu</nav>", "format": "html"},
        {"source": "ok.txt", "text": "the same source again"},
        {"source": "copy.txt", "text": FAQ},
        {"source": "bad-format.txt", "text": "x", "format": "docx"},
    ])  # fmt: skip
    reasons = {f["source"]: f["reason"] for f in report.failures}
    assert report.documents_added == 1 and sorted(_docs(prepared, collection.id)) == ["ok.txt"]
    assert reasons["blank.txt"].startswith("empty") and reasons["page.html"].startswith("empty")
    assert "1 to 1000 characters" in reasons[""] and "'*' is not allowed" in reasons["bad-acl.txt"]
    assert "appears twice" in reasons["ok.txt"] and "docx" in reasons["bad-format.txt"]
    assert report.duplicates == [{"source": "copy.txt", "duplicate_of": "ok.txt"}]


def test_per_call_chunking_and_html_structure(prepared, make_collection, ingest_texts):
    collection = make_collection()
    html = ("<html><head><title>Help</title><style>p{}</style></head><body><nav>Home | Docs</nav><h1>Help</h1>"
            "<h2>Passwords</h2><p>Reset it in Settings.</p><script>track()</script><h2>Billing</h2><p>Invoices monthly.</p></body></html>")  # fmt: skip
    ingest_texts(collection, [{"source": "help.html", "text": html, "format": "html"}])
    chunks = sorted(_chunks(prepared, collection.id).values(), key=lambda c: c["position"])
    assert [(c["heading_path"], c["text"]) for c in chunks] == [
        (["Help", "Passwords"], "Passwords\n\nReset it in Settings."),
        (["Help", "Billing"], "Billing\n\nInvoices monthly."),
    ]
    assert _docs(prepared, collection.id)["help.html"].title == "Help"
    report = ingest_texts(collection, [{"source": "help.html", "text": html, "format": "html"}], chunking={"strategy": "fixed", "size": 64, "overlap": 0})
    assert report.documents_updated == 1 and report.chunks_added == 1 and report.chunks_deleted == 2


def test_pgvector_column_holds_the_same_vectors(prepared, make_collection, ingest_texts, backend):
    collection = make_collection()
    assert collection.backend == ("embedded" if backend == "sqlite" else "pgvector")
    ingest_texts(collection, {"faq.txt": FAQ, "guide.md": GUIDE})
    if backend == "sqlite":
        with prepared.read() as session:
            session.execute(text("INSERT INTO retrieval_chunks_fts(retrieval_chunks_fts) VALUES ('integrity-check')"))
        return
    with prepared.read() as session:
        rows = session.execute(text("SELECT embedding, embedding_vec::real[] FROM retrieval_chunks")).all()
        index = session.scalar(text("SELECT indexdef FROM pg_indexes WHERE indexname = :n"), {"n": f"ix_retrieval_chunks_hnsw_{collection.id}"})
    assert rows and all(np.array_equal(np.frombuffer(b, dtype="<f4"), np.array(v, dtype=np.float32)) for b, v in rows)
    assert "hnsw" in index and "vector(256)" in index and collection.id in index


def test_concurrent_ingests_into_one_collection_store_each_chunk_once(prepared, make_collection, ingest_texts, reload_collection):
    import threading

    collection = make_collection()
    docs = {f"doc-{i}.txt": f"Shared document {i} about subject {i}.\n\nMore words for document {i}." for i in range(40)}
    errors: list[BaseException] = []
    barrier = threading.Barrier(3)

    def run(part: dict[str, str]) -> None:
        try:
            barrier.wait()
            ingest_texts(collection, part)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    parts = [docs, dict(list(docs.items())[:25]), dict(list(docs.items())[15:])]
    threads = [threading.Thread(target=run, args=(p,)) for p in parts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == [] and not any(t.is_alive() for t in threads)
    chunks = _chunks(prepared, collection.id)
    stored = reload_collection(collection)
    assert len(_docs(prepared, collection.id)) == stored.document_count == 40
    assert len(chunks) == stored.chunk_count and len({c["text"] for c in chunks.values()}) == len(chunks)


def test_an_embedder_that_answers_the_wrong_shape_is_named(prepared, make_collection, ingest_texts, counting_embedder):
    collection = make_collection(embedder="test/counting")
    counting_embedder.embed = lambda self, texts: np.ones((len(texts), 3), dtype=np.float32)
    with pytest.raises(EmbedderFailed) as failed:
        ingest_texts(collection, {"a.txt": FAQ})
    assert "'test/counting' answered vectors of shape (1, 3) for 1 texts; expected (1, 64)" in failed.value.message
    assert _chunks(prepared, collection.id) == {} and _docs(prepared, collection.id) == {}
