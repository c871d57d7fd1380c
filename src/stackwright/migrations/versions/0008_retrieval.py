"""Retrieval: collections, documents, document ACLs, chunks; keyword and vector indexes.

The keyword and vector indexes are not part of the ORM models (stackwright.retrieval.index_schema describes them):
on SQLite an FTS5 table with external content (``retrieval_chunks_fts(text, heading_path)``, content
``retrieval_chunks``, rowid ``row_id``, ``porter unicode61``) kept in step by triggers; on Postgres a
generated ``search_tsv`` tsvector column with a GIN index, and, when the ``vector`` extension can be
created, an ``embedding_vec vector`` column (collections created there use backend ``pgvector``;
otherwise ``embedded``). The extension is created inside a savepoint, so a server without pgvector
still migrates.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# Column types as stackwright.core.db defined them when this migration was written, copied and frozen: a
# migration never imports live modules, whose later changes would change what it creates.
BigIntId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSONType = sa.JSON().with_variant(JSONB(), "postgresql")  # declared JSON on SQLite; 0017 re-declares it
UTCDateTime = sa.DateTime(timezone=True)  # the column of core.db's UTCDateTime (its conversions are Python-side)

# The index DDL of stackwright.retrieval.index_schema, copied and frozen likewise.
SQLITE_FTS_DDL = (
    "CREATE VIRTUAL TABLE retrieval_chunks_fts USING fts5(text, heading_path, content='retrieval_chunks', "
    "content_rowid='row_id', tokenize='porter unicode61')",
    "CREATE TRIGGER retrieval_chunks_fts_insert AFTER INSERT ON retrieval_chunks BEGIN "
    "INSERT INTO retrieval_chunks_fts(rowid, text, heading_path) VALUES (new.row_id, new.text, new.heading_path); END",
    "CREATE TRIGGER retrieval_chunks_fts_delete AFTER DELETE ON retrieval_chunks BEGIN "
    "INSERT INTO retrieval_chunks_fts(retrieval_chunks_fts, rowid, text, heading_path) "
    "VALUES ('delete', old.row_id, old.text, old.heading_path); END",
    "CREATE TRIGGER retrieval_chunks_fts_update AFTER UPDATE OF text, heading_path ON retrieval_chunks BEGIN "
    "INSERT INTO retrieval_chunks_fts(retrieval_chunks_fts, rowid, text, heading_path) "
    "VALUES ('delete', old.row_id, old.text, old.heading_path); "
    "INSERT INTO retrieval_chunks_fts(rowid, text, heading_path) VALUES (new.row_id, new.text, new.heading_path); END",
)
SQLITE_FTS_DROP = (
    "DROP TABLE IF EXISTS retrieval_chunks_fts_vocab",  # made at run time by searches before migration 0014
    "DROP TRIGGER IF EXISTS retrieval_chunks_fts_update",
    "DROP TRIGGER IF EXISTS retrieval_chunks_fts_delete",
    "DROP TRIGGER IF EXISTS retrieval_chunks_fts_insert",
    "DROP TABLE IF EXISTS retrieval_chunks_fts",
)
POSTGRES_TSV_DDL = (
    "ALTER TABLE retrieval_chunks ADD COLUMN search_tsv tsvector "
    "GENERATED ALWAYS AS (to_tsvector('english', text || ' ' || heading_path::text)) STORED",
    "CREATE INDEX ix_retrieval_chunks_search_tsv ON retrieval_chunks USING gin (search_tsv)",
)
POSTGRES_VECTOR_DDL = "ALTER TABLE retrieval_chunks ADD COLUMN embedding_vec vector"


def upgrade() -> None:
    op.create_table(
        "collections",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=False),
        sa.Column("embedder", sa.String(length=200), nullable=False),
        sa.Column("dimensions", sa.Integer(), nullable=False),
        sa.Column("backend", sa.String(length=32), nullable=False),
        sa.Column("ann", sa.Boolean(), nullable=False),
        sa.Column("chunking", JSONType, nullable=False),
        sa.Column("search", JSONType, nullable=False),
        sa.Column("index_version", sa.Integer(), nullable=False),
        sa.Column("document_count", sa.Integer(), nullable=False),
        sa.Column("chunk_count", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_collections_project_id_projects"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collections")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_collections_project_id_name")),
    )
    op.create_table(
        "retrieval_documents",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("collection_id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=1000), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("metadata", JSONType, nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("chunk_count", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(
            ["collection_id"], ["collections.id"], name=op.f("fk_retrieval_documents_collection_id_collections"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retrieval_documents")),
        sa.UniqueConstraint("collection_id", "source", name=op.f("uq_retrieval_documents_collection_id_source")),
    )
    op.create_table(
        "retrieval_document_acl",
        sa.Column("document_id", sa.String(length=32), nullable=False),
        sa.Column("principal", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"], ["retrieval_documents.id"], name=op.f("fk_retrieval_document_acl_document_id_retrieval_documents"),
            ondelete="CASCADE",
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("document_id", "principal", name=op.f("pk_retrieval_document_acl")),
    )
    op.create_table(
        "retrieval_chunks",
        sa.Column("row_id", BigIntId, autoincrement=True, nullable=False),
        sa.Column("chunk_id", sa.String(length=32), nullable=False),
        sa.Column("collection_id", sa.String(length=32), nullable=False),
        sa.Column("document_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("heading_path", JSONType, nullable=False),
        sa.Column("start_char", sa.Integer(), nullable=False),
        sa.Column("end_char", sa.Integer(), nullable=False),
        sa.Column("token_count", sa.Integer(), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(
            ["collection_id"], ["collections.id"], name=op.f("fk_retrieval_chunks_collection_id_collections"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["document_id"], ["retrieval_documents.id"], name=op.f("fk_retrieval_chunks_document_id_retrieval_documents"),
            ondelete="CASCADE",
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("row_id", name=op.f("pk_retrieval_chunks")),
        sa.UniqueConstraint("collection_id", "chunk_id", name=op.f("uq_retrieval_chunks_collection_id_chunk_id")),
    )
    op.create_index("ix_retrieval_chunks_document_id_position", "retrieval_chunks", ["document_id", "position"])

    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in SQLITE_FTS_DDL:
            op.execute(statement)
        return
    for statement in POSTGRES_TSV_DDL:
        op.execute(statement)
    if _create_vector_extension(bind):
        op.execute(POSTGRES_VECTOR_DDL)


def _create_vector_extension(bind: sa.engine.Connection) -> bool:
    """Whether pgvector is there (created now if needed); a failure rolls back only its savepoint."""
    try:
        with bind.begin_nested():
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS vector")
    except sa.exc.DBAPIError:
        return False
    return True


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_FTS_DROP:
            op.execute(statement)
    op.drop_index("ix_retrieval_chunks_document_id_position", table_name="retrieval_chunks")
    op.drop_table("retrieval_chunks")  # its search_tsv, embedding_vec and HNSW indexes go with it
    op.drop_table("retrieval_document_acl")
    op.drop_table("retrieval_documents")
    op.drop_table("collections")
