"""Keyword search on SQLite: the in-memory accelerator ranks exactly like FTS5's bm25 and stays current.
(Postgres full-text is covered with the other modes in test_search_service and test_search_backends.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from stackwright.retrieval import keyword_index
from stackwright.retrieval.search.service import SearchOptions, search
from tests.retrieval.search_corpus import add_document, default_project_id, delete_document, make_collection, set_acl

SAMPLE = Path(__file__).resolve().parents[2] / "src" / "stackwright" / "retrieval" / "sample" / "help-center"
QUERIES = [
    "how do I reset my password",
    "cancel my subscription and get a refund",
    "two-factor authentication lost phone",
    "SAML SSO okta setup",
    "export data to CSV",
    "invoice VAT number",
    "the and of",  # stopwords only: searched as they are
    "passwords passwording password",  # one stem, three phrases
]


@pytest.fixture
def backend() -> str:
    """SQLite only: the accelerator stands in for FTS5."""
    return "sqlite"


@pytest.fixture
def help_center(prepared):
    project_id = default_project_id(prepared)
    collection = make_collection(prepared, project_id, "help")
    for n, path in enumerate(sorted(SAMPLE.glob("*.md"))):
        paragraphs = [p.strip() for p in path.read_text().split("\n\n") if p.strip()]
        add_document(prepared, collection, path.name, paragraphs, title=path.stem, metadata={"n": n},
                     acl=["group:staff"] if n % 4 == 0 else None)  # fmt: skip
    other = make_collection(prepared, project_id, "other")  # shares the FTS5 table: its statistics are global
    add_document(prepared, other, "noise.md", ["password " * 30, "refund invoice export csv okta"])
    return prepared, project_id, collection


def run(db, project_id, query, **options):
    result = search(db, project_id, "help", SearchOptions(query=query, mode="keyword", **options), allow_all=True)
    return [(h["chunk_id"], h["score"]) for h in result["data"]]


def both_ways(db, project_id, monkeypatch, query, **options):
    monkeypatch.setattr(keyword_index, "MIN_ROWS", 0)
    run(db, project_id, "warm up")  # the first search may make the vocabulary table; later ones use the accelerator
    fast = run(db, project_id, query, **options)
    monkeypatch.setattr(keyword_index, "MIN_ROWS", 10**9)
    slow = run(db, project_id, query, **options)
    return fast, slow


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize(("principals", "flt"), [(["*"], None), (None, None), (["group:staff"], "n>=10 and n<50")])
def test_the_accelerator_ranks_like_fts5_bm25(help_center, monkeypatch, query, principals, flt) -> None:
    db, project_id, _ = help_center
    fast, slow = both_ways(db, project_id, monkeypatch, query, k=25, principals=principals, filter=flt)
    assert [c for c, _ in fast] == [c for c, _ in slow]
    assert [s for _, s in fast] == pytest.approx([s for _, s in slow], rel=1e-9)
    if query != "the and of" and flt is None:
        assert len(fast) == 25


def test_the_accelerator_is_used_and_follows_changes(help_center, monkeypatch) -> None:
    db, project_id, collection = help_center
    monkeypatch.setattr(keyword_index, "MIN_ROWS", 0)
    run(db, project_id, "warm up")
    run(db, project_id, "password")
    index = keyword_index.keyword_index(collection.id, db.url)
    first = index.snapshot
    assert first is not None and first.live.sum() > 100
    add_document(db, collection, "new.md", ["Zanzibar password recovery ritual for wizards."])
    assert run(db, project_id, "zanzibar wizards", k=1)[0][0] == run(db, project_id, "zanzibar wizards", k=1)[0][0]
    assert index.snapshot is not first and len(index.snapshot.segments) == 2
    found = search(db, project_id, "help", SearchOptions(query="zanzibar wizards", mode="keyword", k=1))
    assert found["data"][0]["source"] == "new.md"
    delete_document(db, collection, "new.md")
    assert search(db, project_id, "help", SearchOptions(query="zanzibar wizards", mode="keyword"))["data"] == []
    set_acl(db, collection, "account-password-reset.md", ["group:secret"])  # ACLs apply without a new index
    sources = [h["source"] for h in search(db, project_id, "help", SearchOptions(query="reset password", mode="keyword", k=20))["data"]]
    assert "account-password-reset.md" not in sources


def test_compaction_keeps_the_ranking(help_center, monkeypatch) -> None:
    db, project_id, collection = help_center
    monkeypatch.setattr(keyword_index, "MIN_ROWS", 0)
    run(db, project_id, "warm up")
    for path in sorted(SAMPLE.glob("*.md"))[:30]:
        delete_document(db, collection, path.name)
    fast, slow = both_ways(db, project_id, monkeypatch, "password reset link email", k=15)
    index = keyword_index.keyword_index(collection.id, db.url)
    assert index.snapshot.live.all()  # rewritten without the deleted rows
    assert [c for c, _ in fast] == [c for c, _ in slow]


def test_stems_come_from_fts5() -> None:
    assert keyword_index.stem_phrases(["passwords", "resetting", "okta"]) == ["password", "reset", "okta"]
    assert keyword_index.stem_phrases([]) == []
