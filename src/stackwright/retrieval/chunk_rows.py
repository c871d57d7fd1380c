"""Writing chunk rows in bulk, with the index columns the ORM table does not know.

SQLite: one executemany of the Core insert; the FTS5 triggers index the text. Postgres with pgvector:
COPY in the session's transaction, ``embedding_vec`` written as float32 text in its shortest exact form
(``[0.38085508,...]``) so the vector column holds the same values bit for bit as ``embedding``;
``search_tsv`` is a generated column. Each row is a dict of the chunk's columns plus ``_vector``
(the float32 numpy row).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert

from stackwright.retrieval.models import RetrievalChunk

_COPY_COLUMNS = ("chunk_id", "collection_id", "document_id", "position", "text", "heading_path", "start_char", "end_char",
                 "token_count", "embedding", "embedding_vec", "created_at")  # fmt: skip


def _copy_pgvector(session: Any, rows: list[dict[str, Any]]) -> None:
    """Chunks with their pgvector column too (the ORM table does not know it), by COPY in the
    session's transaction; vectors as float32 text written shortest-exact, read back bit for bit."""
    import orjson

    cursor = session.connection().connection.driver_connection.cursor()
    with cursor.copy(f"COPY retrieval_chunks ({', '.join(_COPY_COLUMNS)}) FROM STDIN") as copy:
        for row in rows:
            row["embedding_vec"] = orjson.dumps(row.pop("_vector"), option=orjson.OPT_SERIALIZE_NUMPY).decode()
            row["heading_path"] = orjson.dumps(row["heading_path"]).decode()
            copy.write_row([row[c] for c in _COPY_COLUMNS])


def insert_chunk_rows(session: Any, backend: str, rows: list[dict[str, Any]]) -> None:
    if backend == "pgvector":
        _copy_pgvector(session, rows)
        return
    for row in rows:
        del row["_vector"]
    session.execute(insert(RetrievalChunk.__table__), rows)
