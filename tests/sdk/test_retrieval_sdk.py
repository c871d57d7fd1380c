"""client.collections and client.retrieval: create, ingest, search, context; sync and async; spans join the caller's trace."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from stackwright.sdk import AsyncClient, Client, InvalidRequestError, NotFoundError, PermissionDeniedError
from stackwright.sdk.base import Call
from stackwright.sdk.observe import InMemoryExporter, configure_tracing, flush, observe
from stackwright.sdk.observe.state import STATE
from tests.auth.conftest import default, make_key  # noqa: F401  (fixtures)

DOCUMENTS = [
    {"source": "faq/reset", "text": "To reset your password, open Settings and click Reset password.", "metadata": {"lang": "en"}},
    {"source": "faq/billing", "text": "Invoices are emailed monthly; pay by card or transfer.", "metadata": {"lang": "en"}},
    {"source": "faq/fr", "text": "Pour réinitialiser votre mot de passe, ouvrez les Paramètres.", "metadata": {"lang": "fr"}},
    {"source": "staff/override", "text": "Support staff reset customer passwords in the admin console.", "acl": ["group:support"]},
]


@pytest.fixture(autouse=True)
def _tracing_off_afterwards() -> Iterator[None]:
    yield
    configure_tracing(enabled=False)
    STATE.config = None
    STATE.active = True


@pytest.fixture
def kb(client: Client) -> Client:
    created = client.collections.create("kb", description="help articles")
    assert created["name"] == "kb" and created["embedder"] == "local/wordllama"
    report = client.retrieval.ingest("kb", documents=DOCUMENTS)
    assert report["documents_added"] == 4 and not report["failures"]
    return client


def test_collections_lifecycle(kb: Client) -> None:
    assert [c["name"] for c in kb.collections.list()] == ["kb"]
    assert kb.collections.get("kb")["document_count"] == 4
    assert kb.collections.update("kb", description="changed")["description"] == "changed"
    assert kb.collections.delete("kb")["deleted"] is True
    with pytest.raises(NotFoundError):
        kb.collections.get("kb")


def test_search_and_context(kb: Client) -> None:
    hits = kb.retrieval.search("kb", "how do I reset my password", k=2)
    assert [h["source"] for h in hits][0] == "faq/reset" and len(hits) == 2
    assert {"chunk_id", "document_id", "source", "text", "score"} <= set(hits[0])
    assert [h["source"] for h in kb.retrieval.search("kb", "password", k=5, filter={"lang": {"eq": "fr"}}, mode="vector")] == ["faq/fr"]
    staff = kb.retrieval.search("kb", "customer passwords admin console", k=1, principals=["group:support"], mode="keyword")
    assert staff[0]["source"] == "staff/override"
    assert "staff/override" not in [h["source"] for h in kb.retrieval.search("kb", "customer passwords admin console", k=4)]
    full = kb.retrieval.search_full("kb", "reset", k=1, reranker="overlap")
    assert set(full) >= {"data", "mode", "took_ms", "trace_id", "span_id"}
    ctx = kb.retrieval.context("kb", "how do I reset my password", budget_tokens=40, order="document")
    assert ctx["context"].startswith("[1] ") and ctx["tokens"] <= 40
    assert ctx["citations"][0]["source"] == "faq/reset"


def test_errors_are_typed(kb: Client, make_key, connect) -> None:  # noqa: F811
    with pytest.raises(NotFoundError, match="No collection named 'nope'"):
        kb.retrieval.search("nope", "x")
    with pytest.raises(InvalidRequestError, match="at column 6"):
        kb.retrieval.search("kb", "x", filter="lang=")
    with pytest.raises(InvalidRequestError):
        kb.retrieval.search("kb", "x", k=0)
    reader = connect(make_key(["read"])[1])
    assert reader.retrieval.search("kb", "password")
    with pytest.raises(PermissionDeniedError, match="admin"):
        reader.retrieval.search("kb", "password", principals=["*"])
    with pytest.raises(PermissionDeniedError):
        reader.collections.create("mine")


def test_a_search_inside_an_observed_span_joins_its_trace(kb: Client) -> None:
    sink = InMemoryExporter()
    assert configure_tracing(exporter=sink, schedule_delay=0.05) is True
    with observe("answer") as outer:
        full = kb.retrieval.search_full("kb", "reset my password", k=2)
    assert full["trace_id"] == outer.trace_id_hex
    assert flush(5) is True
    stored = kb._run(Call("GET", f"/api/v1/traces/{full['trace_id']}/spans/{full['span_id']}"))
    assert stored["parent_span_id"] == outer.span_id_hex
    assert [d["id"] for d in stored["documents"]] == [h["chunk_id"] for h in full["data"]]
    outside = kb.retrieval.search_full("kb", "reset my password", k=2)
    assert outside["trace_id"] != outer.trace_id_hex


def test_async_client(settings) -> None:
    async def main() -> None:
        async with AsyncClient.in_process(settings) as sdk:
            await sdk.collections.create("kb")
            await sdk.retrieval.ingest("kb", documents=DOCUMENTS)
            hits = await sdk.retrieval.search("kb", "how do I reset my password", k=1)
            assert hits[0]["source"] == "faq/reset"
            ctx = await sdk.retrieval.context("kb", "reset password", budget_tokens=200)
            assert ctx["citations"]
            assert [c["name"] for c in await sdk.collections.list()] == ["kb"]
            with pytest.raises(NotFoundError):
                await sdk.retrieval.search("nope", "x")

    asyncio.run(main())
