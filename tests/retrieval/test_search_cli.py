"""`stackwright search`: JSON and table output, principals, filters, traced; bad input exits 1 with one error line."""

from __future__ import annotations

import pytest

from tests.cli.conftest import cli, cli_ready  # noqa: F401  (fixtures)

DOCS = {
    "kb/reset.md": ("Reset your password from Settings, then Security, then Reset password.", {"lang": "en"}, None),
    "kb/fr.md": ("Pour réinitialiser votre mot de passe, ouvrez les Paramètres.", {"lang": "fr"}, None),
    "kb/billing.md": ("Invoices are emailed monthly; pay by card.", {"lang": "en"}, None),
    "internal/override.md": ("Support staff reset a customer's password in the admin console.", {"lang": "en"}, ["group:support"]),
}


@pytest.fixture
def kb(cli_ready):  # noqa: F811
    from stackwright.auth import service as auth_service
    from stackwright.auth.actors import cli_actor
    from stackwright.retrieval.collections import service as collections
    from stackwright.retrieval.embedders import EmbedContext
    from stackwright.retrieval.ingest import DocumentInput, ingest_documents

    db = cli_ready.db
    with db.read() as session:
        project_id = auth_service.find_project(session, "default").id
    collections.create(EmbedContext(db, project_id), cli_actor(), {"name": "kb"})
    with db.read() as session:
        collection = collections.get_collection(session, project_id, "kb")
    inputs = [DocumentInput(source=s, text=t, metadata=m, acl=a) for s, (t, m, a) in DOCS.items()]
    ingest_documents(db, collection, inputs)
    return cli_ready


def test_json_hits(kb) -> None:
    hits = kb.json("search", "how do I reset my password", "--collection", "kb", "-k", "2")
    assert len(hits) == 2
    assert hits[0]["source"] == "kb/reset.md"
    assert {"chunk_id", "document_id", "source", "text", "score"} <= set(hits[0])


def test_table_output(kb) -> None:
    out = kb.ok("search", "reset password", "--collection", "kb", "--mode", "keyword").stdout
    assert "kb/reset.md" in out and "keyword" in out and "score" in out


def test_principals_filters_and_modes(kb) -> None:
    query = ["search", "customer password admin console", "--collection", "kb", "-k", "4", "--mode", "vector"]
    assert "internal/override.md" not in [h["source"] for h in kb.json(*query)]  # default: public only
    assert kb.json(*query, "--principal", "group:support")[0]["source"] == "internal/override.md"
    assert "internal/override.md" in [h["source"] for h in kb.json(*query, "--principal", "*")]
    assert [h["source"] for h in kb.json(*query, "--filter", "lang=fr")] == ["kb/fr.md"]
    assert kb.json(*query, "--reranker", "overlap", "--mmr", "0.5", "--exact")


def test_cli_searches_are_traced(kb) -> None:
    from stackwright.tracing.models import Span

    hits = kb.json("search", "reset password", "--collection", "kb")
    assert kb.count(Span, Span.kind == "retrieval") == 1
    with kb.db.read() as session:
        span = session.query(Span).filter(Span.kind == "retrieval").one()
    assert [d["id"] for d in span.documents] == [h["chunk_id"] for h in hits]
    assert span.input == "reset password"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--filter", "year>= and lang=en"], "filter: expected a value after '>=' at column 8"),
        (["--filter", "lang in (en"], "expected ',' or ')'"),
        (["--mode", "fuzzy"], "mode must be one of hybrid, vector, keyword"),
        (["--reranker", "nope"], "No rerankers plugin named 'nope'"),
        (["--collection", "nope"], "No collection named 'nope'"),
        (["--project", "nope"], "nope"),
    ],
)
def test_bad_input_exits_1_with_the_reason(kb, args, needle) -> None:
    base = ["search", "password", "--collection", "kb"]
    kb.fails(*base, *args, needle=needle)


def test_k_is_bounded(kb) -> None:
    result = kb("search", "password", "--collection", "kb", "-k", "0")
    assert result.exit_code == 2 and "greater than or equal to 1" in result.stderr
