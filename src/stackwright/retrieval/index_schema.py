"""The parts of the retrieval schema that live outside the ORM models: keyword and vector indexes.

SQLite
    ``retrieval_chunks_fts``: an FTS5 table over ``retrieval_chunks`` with external content
    (``content='retrieval_chunks'``, ``content_rowid='row_id'``, ``tokenize='porter unicode61'``) and
    two columns, ``text`` and ``heading_path``. The second column is named like the table's column so
    that FTS5 can read the content back (snippet, highlight, rebuild all work); it indexes the heading
    path's JSON text (``["Account", "Passwords"]``), whose brackets and quotes the tokenizer drops, so
    the headings' words are searchable. Triggers on ``retrieval_chunks`` keep it in step on insert,
    update and delete, including deletes that cascade from a document or a collection.
    Query it as ``SELECT rowid, bm25(retrieval_chunks_fts) FROM retrieval_chunks_fts WHERE
    retrieval_chunks_fts MATCH :q`` and join ``retrieval_chunks.row_id = rowid``.
    ``retrieval_chunks_fts_vocab``: an ``fts5vocab(..., 'row')`` table over it (document frequency per
    term) that the keyword accelerator reads; made by migration 0014, dropped with the FTS5 table.

Postgres
    ``retrieval_chunks.search_tsv``: a generated tsvector column,
    ``to_tsvector('english', text || ' ' || heading_path::text)``, with a GIN index
    (``ix_retrieval_chunks_search_tsv``). Always present.
    ``retrieval_chunks.embedding_vec``: a pgvector ``vector`` column without fixed dimensions, present
    when the migration could create the ``vector`` extension. The ingest code writes it next to
    ``embedding``. Each collection with backend ``pgvector`` has a partial HNSW index on
    ``((embedding_vec::vector(D)) vector_cosine_ops) WHERE collection_id = '<id>'``, named by
    ``hnsw_index_name``; queries must cast the same way (``embedding_vec::vector(D) <=> :q``) for the
    planner to use it.

Alembic's comparison of models and database skips these objects (``include_object``).
"""

from __future__ import annotations

from typing import Any

FTS_TABLE = "retrieval_chunks_fts"
FTS_VOCAB_TABLE = "retrieval_chunks_fts_vocab"
TSV_COLUMN = "search_tsv"
TSV_INDEX = "ix_retrieval_chunks_search_tsv"
VECTOR_COLUMN = "embedding_vec"
HNSW_INDEX_PREFIX = "ix_retrieval_chunks_hnsw_"
_OUTSIDE_COLUMNS = {("retrieval_chunks", TSV_COLUMN), ("retrieval_chunks", VECTOR_COLUMN)}


def hnsw_index_name(collection_id: str) -> str:
    """The partial HNSW index of one collection (collection ids are 32 hex characters)."""
    return f"{HNSW_INDEX_PREFIX}{collection_id}"


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Alembic filter: False for the index objects above, which the ORM models do not describe."""
    if type_ == "table" and name and name.startswith(FTS_TABLE):
        return False  # the FTS5 table, its shadow tables (_data, _idx, _docsize, _config) and its vocab table
    if type_ == "column" and (getattr(getattr(obj, "table", None), "name", None), name) in _OUTSIDE_COLUMNS:
        return False
    if type_ == "index" and name and (name == TSV_INDEX or name.startswith(HNSW_INDEX_PREFIX)):
        return False
    return True


def sqlite_fts_ddl() -> list[str]:
    """Statements that create the FTS5 table and the triggers that maintain it."""
    columns = "text, heading_path"
    return [
        f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5({columns}, content='retrieval_chunks', "
        "content_rowid='row_id', tokenize='porter unicode61')",
        f"CREATE TRIGGER retrieval_chunks_fts_insert AFTER INSERT ON retrieval_chunks BEGIN "
        f"INSERT INTO {FTS_TABLE}(rowid, {columns}) VALUES (new.row_id, new.text, new.heading_path); END",
        f"CREATE TRIGGER retrieval_chunks_fts_delete AFTER DELETE ON retrieval_chunks BEGIN "
        f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, {columns}) VALUES ('delete', old.row_id, old.text, old.heading_path); END",
        f"CREATE TRIGGER retrieval_chunks_fts_update AFTER UPDATE OF text, heading_path ON retrieval_chunks BEGIN "
        f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, {columns}) VALUES ('delete', old.row_id, old.text, old.heading_path); "
        f"INSERT INTO {FTS_TABLE}(rowid, {columns}) VALUES (new.row_id, new.text, new.heading_path); END",
    ]


def sqlite_fts_vocab_ddl() -> str:
    """The fts5vocab table (one row per term: its document and instance counts) over the FTS5 table."""
    return f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_VOCAB_TABLE} USING fts5vocab('{FTS_TABLE}', 'row')"


def sqlite_fts_drop() -> list[str]:
    return [
        f"DROP TABLE IF EXISTS {FTS_VOCAB_TABLE}",  # made at run time by searches before migration 0014
        "DROP TRIGGER IF EXISTS retrieval_chunks_fts_update",
        "DROP TRIGGER IF EXISTS retrieval_chunks_fts_delete",
        "DROP TRIGGER IF EXISTS retrieval_chunks_fts_insert",
        f"DROP TABLE IF EXISTS {FTS_TABLE}",
    ]


def postgres_tsv_ddl() -> list[str]:
    return [
        f"ALTER TABLE retrieval_chunks ADD COLUMN {TSV_COLUMN} tsvector "
        "GENERATED ALWAYS AS (to_tsvector('english', text || ' ' || heading_path::text)) STORED",
        f"CREATE INDEX {TSV_INDEX} ON retrieval_chunks USING gin ({TSV_COLUMN})",
    ]


def has_vector_column(connection: Any) -> bool:
    """Whether this Postgres database has ``retrieval_chunks.embedding_vec`` (pgvector was available)."""
    from sqlalchemy import text

    if connection.dialect.name != "postgresql":
        return False
    query = text(
        "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = 'retrieval_chunks' AND column_name = :column"
    )
    return connection.execute(query, {"column": VECTOR_COLUMN}).first() is not None


def create_hnsw_index(connection: Any, collection_id: str, dimensions: int) -> None:
    """The collection's partial HNSW index (Postgres with pgvector)."""
    from sqlalchemy import text

    _check_id(collection_id)
    connection.execute(text(
        f"CREATE INDEX IF NOT EXISTS {hnsw_index_name(collection_id)} ON retrieval_chunks USING hnsw "
        f"(({VECTOR_COLUMN}::vector({int(dimensions)})) vector_cosine_ops) WHERE collection_id = '{collection_id}'"
    ))  # fmt: skip


def drop_hnsw_index(connection: Any, collection_id: str) -> None:
    from sqlalchemy import text

    _check_id(collection_id)
    connection.execute(text(f"DROP INDEX IF EXISTS {hnsw_index_name(collection_id)}"))


def _check_id(collection_id: str) -> None:
    """Collection ids go into DDL (no bind parameters there): only ever 32 lowercase hex characters."""
    if len(collection_id) != 32 or any(c not in "0123456789abcdef" for c in collection_id):
        raise ValueError(f"not a collection id: {collection_id!r}")
