"""The search service on SQLite and Postgres: modes, filters and ACLs before the cut, refresh, options, bad input."""

from __future__ import annotations

import pytest

from stackwright.core.errors import Forbidden, InvalidInput, NotFound
from stackwright.retrieval.search.service import SearchOptions, search
from tests.retrieval.search_corpus import add_document, default_project_id, delete_document, make_collection, set_acl

QUERY = "how do I reset my password"
SECRET = [  # the best matches for QUERY, readable by group:secret only
    "Reset your password: open Settings, choose Security, click Reset password.",
    "Password reset: click 'Forgot password' on the sign-in page to reset it.",
    "To reset a password for another user, admins open Users and click Reset password.",
    "If the password reset email does not arrive, reset the password again after five minutes.",
    "Reset password links expire after one hour; ask for a new password reset link.",
    "Resetting your password signs you out of every device; reset it from Settings.",
]
PUBLIC = [  # weaker matches anyone may read
    "Passwords must be at least twelve characters long.",
    "Your account password is stored hashed with argon2.",
    "Two-factor authentication protects your account even if your password leaks.",
    "Administrators can require a password change every ninety days.",
    "Single sign-on users have no Acme password; their identity provider handles it.",
    "Invoices are emailed on the first day of the month.",
    "Export your data as CSV from the Reports page.",
]


@pytest.fixture
def kb(prepared):
    project_id = default_project_id(prepared)
    collection = make_collection(prepared, project_id, "kb")
    for i, body in enumerate(SECRET):
        add_document(prepared, collection, f"secret/{i}.md", [body], acl=["group:secret"], metadata={"lang": "en", "year": 2024})
    for i, body in enumerate(PUBLIC):
        add_document(prepared, collection, f"public/{i}.md", [body], metadata={"lang": "en" if i % 2 == 0 else "fr", "year": 2018 + i})
    add_document(prepared, collection, "pending.md", ["Reset password now (draft, still ingesting)."], status="pending")
    return prepared, project_id, collection


def run(db, project_id, allow_all=False, collection="kb", **options):
    return search(db, project_id, collection, SearchOptions(**{"query": QUERY, **options}), allow_all=allow_all)


def sources(result) -> list[str]:
    return [hit["source"] for hit in result["data"]]


@pytest.mark.parametrize("mode", ["vector", "keyword", "hybrid"])
def test_each_mode_finds_the_best_matches_for_a_principal_who_may_read_them(kb, mode) -> None:
    db, project_id, _ = kb
    result = run(db, project_id, mode=mode, k=5, principals=["group:secret"])
    assert result["mode"] == mode
    assert len(result["data"]) == 5
    assert sum(s.startswith("secret/") for s in sources(result)) >= 4
    hit = result["data"][0]
    assert set(hit) == {"chunk_id", "document_id", "source", "title", "text", "score", "position", "heading_path", "metadata"}
    assert [h["score"] for h in result["data"]] == sorted((h["score"] for h in result["data"]), reverse=True)
    assert result["took_ms"] > 0


@pytest.mark.parametrize("mode", ["vector", "keyword", "hybrid"])
@pytest.mark.parametrize("principals", [None, ["group:support"], ["user:alice", "group:other"]])
def test_forbidden_chunks_never_come_back_and_k_permitted_still_do(kb, mode, principals) -> None:
    db, project_id, _ = kb
    result = run(db, project_id, mode=mode, k=5, principals=principals)
    assert len(result["data"]) == 5  # five public chunks match, though six forbidden ones score higher
    assert all(s.startswith("public/") for s in sources(result))
    assert "pending.md" not in sources(result)


def test_star_sees_everything_but_needs_allow_all(kb) -> None:
    db, project_id, _ = kb
    with pytest.raises(Forbidden, match="admin"):
        run(db, project_id, principals=["*"])
    result = run(db, project_id, allow_all=True, principals=["*"], k=20, mode="vector")
    assert len(result["data"]) == len(SECRET) + len(PUBLIC)  # ready documents only


@pytest.mark.parametrize("mode", ["vector", "keyword", "hybrid"])
def test_filters_apply_before_the_cut(kb, mode) -> None:
    db, project_id, _ = kb
    result = run(db, project_id, mode=mode, k=3, principals=["*"], allow_all=True, filter="lang=en and year<2024")
    assert sorted(sources(result)) == ["public/0.md", "public/2.md", "public/4.md"]
    as_json = run(db, project_id, mode=mode, k=3, principals=["*"], allow_all=True,
                  filter={"and": [{"lang": {"eq": "en"}}, {"year": {"lt": 2024}}]})  # fmt: skip
    assert sources(as_json) == sources(result)


def test_acl_changes_apply_at_once(kb) -> None:
    db, project_id, collection = kb
    set_acl(db, collection, "public/0.md", ["group:finance"])
    result = run(db, project_id, mode="vector", k=20)
    assert "public/0.md" not in sources(result)
    assert "public/0.md" in sources(run(db, project_id, mode="vector", k=20, principals=["group:finance"]))


def test_new_and_deleted_documents_are_seen_by_the_next_search(kb) -> None:
    db, project_id, collection = kb
    run(db, project_id, mode="hybrid")  # builds the index
    add_document(db, collection, "new.md", ["How do I reset my password? Use the reset password button."])
    assert sources(run(db, project_id, mode="vector", k=1)) == ["new.md"]
    assert sources(run(db, project_id, mode="keyword", k=1)) == ["new.md"]
    delete_document(db, collection, "new.md")
    for mode in ("vector", "keyword", "hybrid"):
        assert "new.md" not in sources(run(db, project_id, mode=mode, k=20))


def test_hybrid_fuses_both_lists(kb) -> None:
    db, project_id, _ = kb
    vector = run(db, project_id, mode="vector", k=12, principals=["*"], allow_all=True)
    keyword = run(db, project_id, mode="keyword", k=12, principals=["*"], allow_all=True)
    hybrid = run(db, project_id, mode="hybrid", k=3, principals=["*"], allow_all=True, rrf_k=60)
    ranks = {}
    for result in (vector, keyword):
        for rank, hit in enumerate(result["data"], 1):
            ranks[hit["chunk_id"]] = ranks.get(hit["chunk_id"], 0) + 1 / (60 + rank)
    best = sorted(ranks, key=lambda c: -ranks[c])[:3]
    assert [h["chunk_id"] for h in hybrid["data"]] == best
    assert hybrid["data"][0]["score"] == pytest.approx(ranks[best[0]])
    keyword_only = run(db, project_id, mode="hybrid", k=5, principals=["*"], allow_all=True, weights={"vector": 0})
    assert [h["chunk_id"] for h in keyword_only["data"]] == [h["chunk_id"] for h in keyword["data"][:5]]


def test_mmr_and_rerankers_reorder_the_candidates(kb) -> None:
    db, project_id, _ = kb
    plain = run(db, project_id, mode="vector", k=4, principals=["group:secret"])
    diverse = run(db, project_id, mode="vector", k=4, principals=["group:secret"], mmr_lambda=0.2)
    assert plain["data"][0]["chunk_id"] == diverse["data"][0]["chunk_id"]
    assert [h["chunk_id"] for h in diverse["data"]] != [h["chunk_id"] for h in plain["data"]]
    reranked = run(db, project_id, mode="vector", k=3, principals=["*"], allow_all=True, reranker="overlap", query="argon2 hashed")
    assert reranked["data"][0]["source"] == "public/1.md"
    assert reranked["data"][0]["score"] == 1.0


def test_query_syntax_is_only_text(kb) -> None:
    db, project_id, _ = kb
    for query in ('"reset', "password*", "reset AND (NEAR password:", "-password", "reset OR", "\\' ; --", "ünïcödé ✓"):
        result = run(db, project_id, mode="keyword", query=query, principals=["*"], allow_all=True)
        assert isinstance(result["data"], list)
    assert run(db, project_id, mode="keyword", query="... !!!")["data"] == []


def test_unknown_collection_and_another_projects_collection(kb) -> None:
    from stackwright.auth.models import Project

    db, project_id, _ = kb
    with pytest.raises(NotFound, match="No collection named 'nope'"):
        run(db, project_id, collection="nope")
    with db.write() as session:
        session.add(Project(id="p" * 32, name="other"))
    with pytest.raises(NotFound):
        run(db, "p" * 32)


@pytest.mark.parametrize(
    ("options", "error", "fragment"),
    [
        ({"k": 0}, InvalidInput, "k must be a whole number from 1 to 100"),
        ({"k": 101}, InvalidInput, "k must be"),
        ({"k": 2.5}, InvalidInput, "k must be"),
        ({"mode": "semantic"}, InvalidInput, "mode must be one of hybrid, vector, keyword"),
        ({"query": "   "}, InvalidInput, "query must be a non-empty text"),
        ({"query": "x" * 9000}, InvalidInput, "longer than"),
        ({"weights": {"graph": 1}}, InvalidInput, "unknown mode 'graph'"),
        ({"weights": {"vector": -1}}, InvalidInput, "weights.vector"),
        ({"mmr_lambda": 2}, InvalidInput, "mmr_lambda"),
        ({"reranker": "cohere"}, InvalidInput, "No rerankers plugin named 'cohere'"),
        ({"principals": [""]}, InvalidInput, "principals"),
        ({"filter": "year>= and lang=en"}, InvalidInput, "expected a value after '>=' at column 8"),
        ({"rrf_k": -1}, InvalidInput, "rrf_k"),
    ],
)
def test_bad_options_are_named(kb, options, error, fragment) -> None:
    db, project_id, _ = kb
    with pytest.raises(error) as raised:
        run(db, project_id, **options)
    assert fragment in raised.value.message


def test_a_failing_reranker_is_reported_by_name(kb) -> None:
    from stackwright.core.errors import StackwrightError
    from stackwright.retrieval.rerankers import rerankers

    def broken(query, hits):
        raise RuntimeError("model file missing")

    rerankers.register("broken-test", broken)
    try:
        db, project_id, _ = kb
        with pytest.raises(StackwrightError, match="Reranker 'broken-test' failed: model file missing"):
            run(db, project_id, reranker="broken-test")
    finally:
        rerankers.unregister("broken-test")
