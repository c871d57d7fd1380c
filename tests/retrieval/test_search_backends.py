"""The same corpus on SQLite (embedded numpy index) and Postgres (pgvector): exact search ranks the same."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackwright.core.config import Settings
from stackwright.retrieval.search.service import SearchOptions, search
from tests.conftest import TEST_API_KEY
from tests.retrieval.search_corpus import add_document, default_project_id, make_collection

SAMPLE = Path(__file__).resolve().parents[2] / "src" / "stackwright" / "retrieval" / "sample" / "help-center"
QUERIES = [
    "how do I reset my password",
    "cancel my subscription and get a refund",
    "two-factor authentication lost phone",
    "SAML single sign-on setup",
    "export data to CSV",
]
COLLECTION_ID = "0123456789abcdef0123456789abcdef"  # the same ids on both backends: chunk ids match too


def _articles() -> list[tuple[str, list[str], dict]]:
    articles = []
    for n, path in enumerate(sorted(SAMPLE.glob("*.md"))):
        paragraphs = [p.strip() for p in path.read_text().split("\n\n") if p.strip()]
        articles.append((path.name, paragraphs, {"topic": path.name.split("-")[0], "n": n}))
    return articles


def _open(tmp_path: Path, name: str, url: str):
    from stackwright.server.startup import prepare

    settings = Settings(home=tmp_path / name, database_url=url, init_api_key=TEST_API_KEY, log_format="text")
    db, _ = prepare(settings)
    project_id = default_project_id(db)
    collection = make_collection(db, project_id, "help", collection_id=COLLECTION_ID)
    for source, paragraphs, metadata in _articles():
        add_document(db, collection, source, paragraphs, metadata=metadata, acl=["group:staff"] if metadata["n"] % 3 == 0 else None)
    return db, project_id, collection


@pytest.fixture
def both(tmp_path, new_postgres_db):
    assert SAMPLE.is_dir(), SAMPLE
    sqlite = _open(tmp_path, "sqlite", f"sqlite:///{tmp_path / 'sqlite' / 'stackwright.db'}")
    postgres = _open(tmp_path, "postgres", new_postgres_db)
    assert (sqlite[2].backend, postgres[2].backend) == ("embedded", "pgvector")
    yield sqlite, postgres
    sqlite[0].dispose()
    postgres[0].dispose()


def _ranking(side, query: str, **options) -> list[tuple[str, float]]:
    db, project_id, _ = side
    result = search(db, project_id, "help", SearchOptions(query=query, mode="vector", **options), allow_all=True)
    return [(hit["chunk_id"], hit["score"]) for hit in result["data"]]


@pytest.mark.parametrize("principals", [["*"], None, ["group:staff"]])
def test_exact_search_ranks_the_same_on_both_backends(both, principals) -> None:
    sqlite, postgres = both
    for query in QUERIES:
        for flt in (None, "topic in (account, billing)"):
            on_sqlite = _ranking(sqlite, query, k=20, exact=True, principals=principals, filter=flt)
            on_postgres = _ranking(postgres, query, k=20, exact=True, principals=principals, filter=flt)
            assert len(on_sqlite) == 20
            assert on_sqlite == on_postgres, (query, flt)


def test_hnsw_with_filters_still_returns_k_and_agrees_with_exact(both) -> None:
    _, postgres = both
    for query in QUERIES:
        approximate = _ranking(postgres, query, k=10, filter="n>=55")  # 6 articles of 61 pass
        exact = _ranking(postgres, query, k=10, exact=True, filter="n>=55")
        assert len(exact) == 10
        assert approximate == exact


def test_the_hnsw_index_is_used(both) -> None:
    from sqlalchemy import text

    from stackwright.retrieval.index_schema import hnsw_index_name
    from stackwright.retrieval.pgvector import _query, vector_literal

    db, _, collection = both[1]
    with db.read() as session:
        # The table is small, so a sort is cheaper here; forbid it to ask whether the index can serve the
        # query at all (its expression and partial predicate match), as it does on large collections.
        session.execute(text("SET LOCAL enable_seqscan = off"))
        session.execute(text("SET LOCAL enable_sort = off"))
        plan = session.execute(
            text("EXPLAIN " + _query(collection.id, 256, "d.status = 'ready'")), {"pv_query": vector_literal([0.0625] * 256), "pv_limit": 5}
        ).scalars().all()
    assert any(hnsw_index_name(collection.id) in line for line in plan), plan


def test_keyword_and_hybrid_agree_on_what_they_may_return(both) -> None:
    sqlite, postgres = both
    for mode in ("keyword", "hybrid"):
        for side in (sqlite, postgres):
            db, project_id, _ = side
            result = search(db, project_id, "help", SearchOptions(query="password reset email", mode=mode, k=8))
            assert len(result["data"]) == 8
            assert all(hit["metadata"]["n"] % 3 != 0 for hit in result["data"])  # staff-only articles stay out
