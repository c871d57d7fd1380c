"""Tables of the retrieval layer.

``collections``: one per name and project, with its embedder, vector size, chunking and search settings.
``retrieval_documents``: one per source (a file path, a URL or an id the caller gives) in a collection;
its id is derived from the collection and the source, so it is stable across re-ingests, and its
``content_hash`` tells whether the text changed. ``status`` is ``pending`` until every chunk is stored
and embedded, then ``ready``: an ingest that stopped half way is picked up again without duplicates.
``retrieval_document_acl``: the principals (``group:support``, ``user:alice``...) allowed to read a
document; a document with no rows here is public within its project.
``retrieval_chunks``: the chunks, each with a stable ``chunk_id`` (derived from the document id, the
chunk's text and its occurrence among identical texts), position, heading path, token count and its
embedding as float32 bytes (little-endian, ``dimensions`` values, unit length). ``row_id`` is the
integer key used by the keyword index (FTS5 ``content_rowid`` on SQLite) and by the vector index.
On Postgres the migration also adds a pgvector ``embedding_vec vector`` column and a ``search_tsv``
tsvector column when the vector extension can be created; see the 0008 migration.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from stackwright.core.clock import utcnow
from stackwright.core.db import Base, BigIntId, JSONType, UTCDateTime


class Collection(Base):
    __tablename__ = "collections"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(String(2000), default="")
    embedder: Mapped[str] = mapped_column(String(200))  # "local/wordllama" or a gateway embeddings model name
    dimensions: Mapped[int] = mapped_column(Integer)
    backend: Mapped[str] = mapped_column(String(32))  # "embedded" (numpy, SQLite) | "pgvector" (Postgres)
    ann: Mapped[bool] = mapped_column(Boolean, default=False)  # usearch HNSW (embedded) next to exact search
    chunking: Mapped[dict] = mapped_column(JSONType)  # {"strategy": "fixed"|"structure"|"semantic", "size": .., "overlap": ..}
    search: Mapped[dict] = mapped_column(JSONType)  # defaults: {"mode": "hybrid", "rrf_k": 60, "weights": {...}, ...}
    index_version: Mapped[int] = mapped_column(Integer, default=0)  # bumped on every change of its chunks
    document_count: Mapped[int] = mapped_column(Integer, default=0)
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RetrievalDocument(Base):
    __tablename__ = "retrieval_documents"
    __table_args__ = (UniqueConstraint("collection_id", "source"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    collection_id: Mapped[str] = mapped_column(String(32), ForeignKey("collections.id", ondelete="CASCADE"))
    project_id: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(1000))
    title: Mapped[str] = mapped_column(String(500), default="")
    content_hash: Mapped[str] = mapped_column(String(64))
    metadata_: Mapped[dict] = mapped_column("metadata", JSONType, default=dict)
    public: Mapped[bool] = mapped_column(Boolean, default=True)  # no ACL rows: every principal may read it
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | ready
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RetrievalDocumentAcl(Base):
    __tablename__ = "retrieval_document_acl"

    document_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("retrieval_documents.id", ondelete="CASCADE"), primary_key=True
    )
    principal: Mapped[str] = mapped_column(String(200), primary_key=True)


class RetrievalChunk(Base):
    __tablename__ = "retrieval_chunks"
    __table_args__ = (
        UniqueConstraint("collection_id", "chunk_id"),
        Index("ix_retrieval_chunks_document_id_position", "document_id", "position"),
    )

    row_id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    chunk_id: Mapped[str] = mapped_column(String(32))
    collection_id: Mapped[str] = mapped_column(String(32), ForeignKey("collections.id", ondelete="CASCADE"))
    document_id: Mapped[str] = mapped_column(String(32), ForeignKey("retrieval_documents.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)  # 0, 1, 2... within the document
    text: Mapped[str] = mapped_column(Text)
    heading_path: Mapped[list[str]] = mapped_column(JSONType, default=list)
    start_char: Mapped[int] = mapped_column(Integer, default=0)
    end_char: Mapped[int] = mapped_column(Integer, default=0)
    token_count: Mapped[int] = mapped_column(Integer, default=0)
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # float32 LE; None until embedded
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
