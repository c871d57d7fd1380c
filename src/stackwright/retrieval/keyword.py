"""Keyword search: SQLite FTS5 with bm25, Postgres full-text with ts_rank_cd, filters and ACLs in the same query.

The user's query is never handed to the search syntax as is: it is cut into words (letters and digits),
common English words are dropped (unless nothing else is left), and the words are ORed, each one quoted
for FTS5 (``"reset" OR "password"``) or joined with ``|`` for ``to_tsquery('english', ...)``. So quotes,
``NEAR``, ``*``, ``:`` or ``-`` in a query are just text, and a chunk matches if it has any of the words;
the ranking (bm25 / ts_rank_cd) favours chunks with more of them, and rarer ones.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

MAX_TERMS = 32
_WORD = re.compile(r"[^\W_]+")
STOPWORDS = frozenset(
    "a an and are as at be but by can do does did for from how i if in into is it its me my no not of on or our "
    "so such that the their then there these they this to was we were what when where which who why will with "
    "you your yours".split()
)


def terms(query: str) -> list[str]:
    """The words searched for: lower case, distinct, stopwords dropped unless they are all there is."""
    words = list(dict.fromkeys(w.lower() for w in _WORD.findall(query)))
    kept = [w for w in words if w not in STOPWORDS] or words
    return kept[:MAX_TERMS]


def fts5_query(words: list[str]) -> str:
    return " OR ".join(f'"{w}"' for w in words)


def tsquery_text(words: list[str]) -> str:
    return " | ".join(words)


def keyword_search(
    session: Session,
    collection_id: str,
    query: str,
    count: int,
    where: str,
    params: dict[str, Any],
) -> list[tuple[int, float]]:
    """``(row_id, score)`` of the ``count`` best chunks (higher score is better); ``where`` is a condition
    on the documents (alias ``d``) and chunks (alias ``c``), with ``params``: filters, ACL, status."""
    words = terms(query)
    if not words or count <= 0:
        return []
    if session.get_bind().dialect.name == "postgresql":
        sql = (
            "SELECT c.row_id, ts_rank_cd(c.search_tsv, q.query) AS score "
            "FROM retrieval_chunks c JOIN retrieval_documents d ON d.id = c.document_id, "
            "to_tsquery('english', :kw_query) AS q(query) "
            f"WHERE c.collection_id = :kw_collection AND c.search_tsv @@ q.query AND {where} "
            "ORDER BY score DESC, c.chunk_id LIMIT :kw_limit"
        )
        match = tsquery_text(words)
    else:
        sql = (
            "SELECT c.row_id, -bm25(retrieval_chunks_fts) AS score "
            "FROM retrieval_chunks_fts JOIN retrieval_chunks c ON c.row_id = retrieval_chunks_fts.rowid "
            "JOIN retrieval_documents d ON d.id = c.document_id "
            f"WHERE retrieval_chunks_fts MATCH :kw_query AND c.collection_id = :kw_collection AND {where} "
            "ORDER BY score DESC, c.chunk_id LIMIT :kw_limit"
        )
        match = fts5_query(words)
    bound = {**params, "kw_query": match, "kw_collection": collection_id, "kw_limit": int(count)}
    return [(int(row_id), float(score)) for row_id, score in session.execute(text(sql), bound)]
