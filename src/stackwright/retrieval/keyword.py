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

from stackwright.core.db import plain_rows

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
        return _postgres_search(session, collection_id, words, count, where, params)
    sql = (
        "SELECT c.row_id, -bm25(retrieval_chunks_fts) AS score "
        "FROM retrieval_chunks_fts JOIN retrieval_chunks c ON c.row_id = retrieval_chunks_fts.rowid "
        "JOIN retrieval_documents d ON d.id = c.document_id "
        f"WHERE retrieval_chunks_fts MATCH :kw_query AND c.collection_id = :kw_collection AND {where} "
        "ORDER BY score DESC, c.chunk_id LIMIT :kw_limit"
    )
    bound = {**params, "kw_query": fts5_query(words), "kw_collection": collection_id, "kw_limit": int(count)}
    return [(int(row_id), float(score)) for row_id, score in plain_rows(session.execute(text(sql), bound))]


# -- Postgres ---------------------------------------------------------------------------------------------
# ts_rank_cd reads each matching row's tsvector from the table, and common words match a large share of a
# collection (a two-word query, 15% of 100,000 chunks: ~350 ms). So a probe first counts the matches, up
# to EXACT_UP_TO + 1 (no ranking, no join). Up to EXACT_UP_TO, every permitted match is ranked: the exact
# ranking. Beyond, a bounded candidate set is ranked: the chunks with all the words (found by the GIN
# index intersecting its lists), else with all but one, else with at least two, else with any, each by
# the same OR query and at most CANDIDATES chunks; the first with ``count`` permitted chunks answers. A
# chunk with more of the query's words scores higher (ts_rank_cd sums the covers of the words), so these
# hold the best matches in practice; when a narrowing has more than CANDIDATES chunks, an arbitrary
# CANDIDATES of them are ranked. When none gives ``count`` chunks (a filter that leaves few), every match
# is ranked (the exact, slow path).

EXACT_UP_TO = 300  # matches ranked all together (the exact ranking)
CANDIDATES = 1_000  # chunks ranked per narrowing
MAX_NARROWING_TERMS = 10  # beyond this, "all but one" and "at least two" make queries too large


def narrowings(words: list[str]) -> list[str]:
    """tsquery texts, most selective first: all the words, all but one, at least two."""
    n = len(words)
    if n < 2:
        return []
    out = [" & ".join(words)]
    if 3 <= n <= MAX_NARROWING_TERMS:
        out.append(" | ".join("(" + " & ".join(words[:i] + words[i + 1 :]) + ")" for i in range(n)))
    if 4 <= n <= MAX_NARROWING_TERMS:
        out.append(" | ".join(f"({a} & {b})" for i, a in enumerate(words) for b in words[i + 1 :]))
    return out


def _postgres_sql(where: str, capped: bool) -> str:
    limit = "LIMIT :kw_candidates" if capped else ""
    return (
        "SELECT m.row_id, ts_rank_cd(m.search_tsv, to_tsquery('english', :kw_query)) AS score "
        "FROM (SELECT c.row_id, c.chunk_id, c.search_tsv FROM retrieval_chunks c JOIN retrieval_documents d ON d.id = c.document_id "
        f"WHERE c.collection_id = :kw_collection AND c.search_tsv @@ to_tsquery('english', :kw_match) AND {where} {limit}) m "
        "ORDER BY score DESC, m.chunk_id LIMIT :kw_limit"
    )


def _postgres_search(session: Session, collection_id: str, words: list[str], count: int, where: str,
                     params: dict[str, Any]) -> list[tuple[int, float]]:  # fmt: skip
    ranked_by = tsquery_text(words)
    base = {**params, "kw_query": ranked_by, "kw_collection": collection_id, "kw_limit": int(count)}
    probe = text(
        "SELECT count(*) FROM (SELECT 1 FROM retrieval_chunks c WHERE c.collection_id = :kw_collection "
        "AND c.search_tsv @@ to_tsquery('english', :kw_query) LIMIT :kw_candidates) m"
    )
    few = session.execute(probe, {"kw_query": ranked_by, "kw_collection": collection_id, "kw_candidates": EXACT_UP_TO + 1}).scalar_one() <= EXACT_UP_TO
    if not few:
        capped = text(_postgres_sql(where, capped=True))
        for match in [*narrowings(words), ranked_by]:
            rows = session.execute(capped, {**base, "kw_match": match, "kw_candidates": CANDIDATES}).fetchall()
            if len(rows) >= count:
                return [(int(r[0]), float(r[1])) for r in rows]
    # Every permitted match ranked: the exact ranking (few matches, or a filter that leaves few of them).
    rows = session.execute(text(_postgres_sql(where, capped=False)), {**base, "kw_match": ranked_by}).fetchall()
    return [(int(r[0]), float(r[1])) for r in rows]
