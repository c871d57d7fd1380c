"""Helpers for the search tests: collections and documents written straight into the tables.

The rows are what the ingest code stores (ids per the layer's rules, float32 embeddings of the local
embedder, ``embedding_vec`` on Postgres with pgvector, ``index_version`` bumped), so the search code
runs against real tables on both backends without depending on the ingest pipeline.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from sqlalchemy import func, select, text

from stackwright.core.clock import utcnow
from stackwright.retrieval.models import Collection, RetrievalChunk, RetrievalDocument, RetrievalDocumentAcl


def default_project_id(db: Any) -> str:
    from stackwright.auth.models import Project

    with db.read() as session:
        return session.scalar(select(Project.id).where(Project.name == "default"))


def make_collection(db: Any, project_id: str, name: str = "kb", *, ann: bool = False, search: dict | None = None,
                    dimensions: int = 256, collection_id: str | None = None) -> Collection:  # fmt: skip
    from stackwright.retrieval.index_schema import create_hnsw_index, has_vector_column

    with db.write() as session:
        backend = "pgvector" if has_vector_column(session.connection()) else "embedded"
        now = utcnow()
        collection = Collection(
            id=collection_id or uuid.uuid4().hex, project_id=project_id, name=name, description="", embedder="local/wordllama",
            dimensions=dimensions, backend=backend, ann=ann, chunking={"strategy": "structure", "size": 256, "overlap": 32},
            search=search or {"mode": "hybrid", "rrf_k": 60, "weights": {"vector": 1.0, "keyword": 1.0}},
            index_version=0, document_count=0, chunk_count=0, created_at=now, updated_at=now,
        )  # fmt: skip
        session.add(collection)
        session.flush()
        if backend == "pgvector":
            create_hnsw_index(session.connection(), collection.id, dimensions)
        session.expunge(collection)
    return collection


def document_id(collection_id: str, source: str) -> str:
    return hashlib.sha256(f"{collection_id}\0{source}".encode()).hexdigest()[:32]


def chunk_ids(doc_id: str, texts: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    ids = []
    for chunk in texts:
        digest = hashlib.sha256(chunk.encode()).hexdigest()
        n = seen.get(digest, 0)
        seen[digest] = n + 1
        ids.append(hashlib.sha256(f"{doc_id}\0{digest}\0{n}".encode()).hexdigest()[:32])
    return ids


def add_document(db: Any, collection: Collection, source: str, chunks: list[str], *, metadata: dict | None = None,
                 acl: list[str] | None = None, title: str = "", vectors: Any = None, status: str = "ready") -> str:  # fmt: skip
    """Store a document and its chunks (replacing an earlier one with the same source); returns its id."""
    import numpy as np

    from stackwright.local.embedder import embed
    from stackwright.retrieval.index_schema import has_vector_column

    doc_id = document_id(collection.id, source)
    vectors = np.asarray(embed(chunks, collection.dimensions) if vectors is None else vectors, dtype=np.float32)
    with db.write() as session:
        session.execute(text("DELETE FROM retrieval_documents WHERE id = :d"), {"d": doc_id})
        session.add(RetrievalDocument(
            id=doc_id, collection_id=collection.id, project_id=collection.project_id, source=source, title=title,
            content_hash=hashlib.sha256("\n".join(chunks).encode()).hexdigest(), metadata_=metadata or {},
            public=not acl, status=status, chunk_count=len(chunks),
        ))  # fmt: skip
        session.flush()
        for principal in acl or []:
            session.add(RetrievalDocumentAcl(document_id=doc_id, principal=principal))
        rows = []
        for position, (chunk_id, chunk) in enumerate(zip(chunk_ids(doc_id, chunks), chunks, strict=True)):
            row = RetrievalChunk(
                chunk_id=chunk_id, collection_id=collection.id, document_id=doc_id, position=position, text=chunk,
                heading_path=[title] if title else [], start_char=0, end_char=len(chunk), token_count=len(chunk.split()),
                embedding=vectors[position].astype("<f4").tobytes(),
            )  # fmt: skip
            session.add(row)
            rows.append((row, vectors[position]))
        session.flush()
        if has_vector_column(session.connection()):
            for row, vector in rows:
                session.execute(
                    text("UPDATE retrieval_chunks SET embedding_vec = CAST(:v AS vector) WHERE row_id = :r"),
                    {"v": "[" + ",".join(repr(float(x)) for x in vector) + "]", "r": row.row_id},
                )
        _bump(session, collection.id)
    return doc_id


def delete_document(db: Any, collection: Collection, source: str) -> None:
    with db.write() as session:
        session.execute(text("DELETE FROM retrieval_documents WHERE id = :d"), {"d": document_id(collection.id, source)})
        _bump(session, collection.id)


def set_acl(db: Any, collection: Collection, source: str, principals: list[str]) -> None:
    doc_id = document_id(collection.id, source)
    with db.write() as session:
        session.execute(text("DELETE FROM retrieval_document_acl WHERE document_id = :d"), {"d": doc_id})
        for principal in principals:
            session.add(RetrievalDocumentAcl(document_id=doc_id, principal=principal))
        session.execute(
            text("UPDATE retrieval_documents SET public = :p WHERE id = :d"), {"p": not principals, "d": doc_id}
        )


def _bump(session: Any, collection_id: str) -> None:
    count = session.scalar(select(func.count()).select_from(RetrievalChunk).where(RetrievalChunk.collection_id == collection_id))
    docs = session.scalar(select(func.count()).select_from(RetrievalDocument).where(RetrievalDocument.collection_id == collection_id))
    session.execute(
        text("UPDATE collections SET index_version = index_version + 1, chunk_count = :c, document_count = :d WHERE id = :id"),
        {"c": count, "d": docs, "id": collection_id},
    )
