"""POST /api/v1/collections/{name}/search and /context, in process, on SQLite and Postgres."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import assert_error

DOCS = [
    {"source": "kb/reset.md", "text": "# Reset your password\n\nOpen Settings, then Security, and click Reset password. "
     "A reset link is emailed to you.", "format": "markdown", "metadata": {"lang": "en", "year": 2024}},
    {"source": "kb/rules.md", "text": "Passwords need twelve characters. Old passwords cannot be reused.",
     "metadata": {"lang": "en", "year": 2021}},
    {"source": "kb/fr.md", "text": "Pour réinitialiser votre mot de passe, ouvrez Paramètres puis Sécurité.",
     "metadata": {"lang": "fr", "year": 2024}},
    {"source": "kb/billing.md", "text": "Invoices are emailed monthly. Pay by card or bank transfer.", "metadata": {"lang": "en", "year": 2019}},
    {"source": "internal/override.md", "text": "Support staff can reset a customer's password from the admin console.",
     "metadata": {"lang": "en", "year": 2024}, "acl": ["group:support"]},
]  # fmt: skip


@pytest.fixture
def kb(make_collection, ingest_texts):
    collection = make_collection("kb")
    report = ingest_texts(collection, DOCS)
    assert report.documents_added == len(DOCS) and not report.failures
    return collection


def search(api: httpx.Client, body: dict, name: str = "kb", **kwargs) -> httpx.Response:
    return api.post(f"/api/v1/collections/{name}/search", json=body, **kwargs)


def sources(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [hit["source"] for hit in response.json()["data"]]


@pytest.mark.parametrize("mode", ["hybrid", "vector", "keyword"])
def test_search_each_mode(api, kb, mode) -> None:
    response = search(api, {"query": "how do I reset my password", "k": 2, "mode": mode})
    body = response.json()
    assert response.status_code == 200, body
    assert set(body) == {"data", "mode", "took_ms", "timings", "trace_id", "span_id"}
    assert body["mode"] == mode
    assert body["data"][0]["source"] == "kb/reset.md"
    assert set(body["data"][0]) == {"chunk_id", "document_id", "source", "title", "text", "score", "position", "heading_path", "metadata"}
    assert len(body["data"]) == 2


def test_acl_principals_over_the_api(api, kb) -> None:
    query = {"query": "reset a customer's password admin console", "k": 5, "mode": "vector"}
    assert "internal/override.md" not in sources(search(api, query))
    assert "internal/override.md" not in sources(search(api, {**query, "principals": ["group:sales"]}))
    assert sources(search(api, {**query, "principals": ["group:support"]}))[0] == "internal/override.md"
    assert "internal/override.md" in sources(search(api, {**query, "principals": ["*"]}))  # the test key is admin


def test_star_needs_an_admin_key(api, anon, kb) -> None:
    created = api.post("/api/v1/keys", json={"name": "reader", "scopes": ["read"]})
    assert created.status_code == 201, created.text
    reader = {"Authorization": f"Bearer {created.json()['key']}"}
    ok = anon.post("/api/v1/collections/kb/search", json={"query": "password"}, headers=reader)
    assert ok.status_code == 200 and "internal/override.md" not in sources(ok)
    refused = anon.post("/api/v1/collections/kb/search", json={"query": "password", "principals": ["*"]}, headers=reader)
    assert "admin" in assert_error(refused, 403, "forbidden")["message"]
    assert_error(anon.post("/api/v1/collections/kb/search", json={"query": "password"}), 401)


def test_filters_string_and_json(api, kb) -> None:
    query = {"query": "reset password", "k": 5, "mode": "vector", "principals": ["*"]}
    assert sorted(sources(search(api, {**query, "filter": "lang=en and year>=2021"}))) == [
        "internal/override.md", "kb/reset.md", "kb/rules.md"]  # fmt: skip
    assert sources(search(api, {**query, "filter": {"lang": {"eq": "fr"}}})) == ["kb/fr.md"]
    either = {"or": [{"year": {"lt": 2020}}, {"source": "kb/fr.md"}]}
    assert sorted(sources(search(api, {**query, "filter": either}))) == ["kb/billing.md", "kb/fr.md"]


@pytest.mark.parametrize(
    ("filter_", "fragment"),
    [
        ("year>= and lang=en", "expected a value after '>=' at column 8"),
        ("lang in (en", "expected ',' or ')' in the list"),
        ("(lang=en", "expected ')'"),
        ({"lang": {"like": "e%"}}, "filter.lang.like: unknown operator"),
        ({"and": "lang=en"}, "filter.and: expected a non-empty list"),
    ],
)
def test_malformed_filters_answer_400_pointing_at_the_fault(api, kb, filter_, fragment) -> None:
    error = assert_error(search(api, {"query": "password", "filter": filter_}), 400, "invalid_input")
    assert fragment in error["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"query": ""}, "query"),
        ({"query": "x", "k": 0}, "k"),
        ({"query": "x", "k": 101}, "k"),
        ({"query": "x", "mode": "fuzzy"}, "mode"),
        ({"query": "x", "mmr_lambda": 1.5}, "mmr_lambda"),
        ({"query": "x", "top_k": 3}, "top_k"),
        ({"query": "x", "principals": "group:support"}, "principals"),
        ({"k": 3}, "query"),
    ],
)
def test_invalid_bodies_answer_422_naming_the_field(api, kb, body, field) -> None:
    error = assert_error(search(api, body), 422, "validation_error")
    assert any(d["field"] == field for d in error["details"]), error


def test_semantic_errors_answer_400(api, kb) -> None:
    assert "unknown mode 'graph'" in assert_error(search(api, {"query": "x", "weights": {"graph": 1}}), 400)["message"]
    assert "No rerankers plugin named 'nope'" in assert_error(search(api, {"query": "x", "reranker": "nope"}), 400)["message"]
    assert_error(api.post("/api/v1/collections/kb/search", content=b"{nope", headers={"Content-Type": "application/json"}), 400)


def test_unknown_and_other_projects_collections_answer_404(api, anon, kb) -> None:
    assert "No collection named 'nope'" in assert_error(search(api, {"query": "x"}, name="nope"), 404)["message"]
    created = api.post("/api/v1/projects", json={"name": "other-team"})
    assert created.status_code == 201, created.text
    other = {"Authorization": f"Bearer {created.json()['api_key']['key']}"}
    assert_error(anon.post("/api/v1/collections/kb/search", json={"query": "password"}, headers=other), 404)
    assert_error(anon.post("/api/v1/collections/kb/context", json={"query": "password"}, headers=other), 404)


def test_each_search_is_a_retrieval_span_with_its_chunks(api, kb) -> None:
    response = search(api, {"query": "reset password", "k": 3, "mode": "hybrid", "filter": "lang=en", "principals": ["group:support"]})
    body = response.json()
    span = api.get(f"/api/v1/traces/{body['trace_id']}/spans/{body['span_id']}")
    assert span.status_code == 200, span.text
    detail = span.json()
    assert detail["kind"] == "retrieval"
    assert detail["input"] == "reset password"
    assert [d["id"] for d in detail["documents"]] == [h["chunk_id"] for h in body["data"]]
    assert [float(d["score"]) for d in detail["documents"]] == pytest.approx([h["score"] for h in body["data"]])
    attrs = detail["attributes"]
    assert attrs["stackwright.retrieval.collection"] == "kb"
    assert attrs["stackwright.retrieval.filter"] == "lang=en"
    assert attrs["stackwright.retrieval.principals"] == '["group:support"]'
    assert attrs["stackwright.retrieval.mode"] == "hybrid" and attrs["stackwright.retrieval.k"] == 3
    assert attrs["stackwright.retrieval.took_ms"] >= 0


def test_a_traceparent_puts_the_span_in_the_callers_trace(api, kb) -> None:
    trace_id, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    header = {"traceparent": f"00-{trace_id}-{parent}-01"}
    body = search(api, {"query": "password"}, headers=header).json()
    assert body["trace_id"] == trace_id
    span = api.get(f"/api/v1/traces/{trace_id}/spans/{body['span_id']}").json()
    assert span["parent_span_id"] == parent
    in_body = search(api, {"query": "password", "traceparent": f"00-{trace_id}-{'1' * 16}-01"}).json()
    assert in_body["trace_id"] == trace_id
    assert search(api, {"query": "password"}, headers={"traceparent": "garbage"}).json()["trace_id"] != trace_id


def test_context_assembles_hits_with_citations_in_budget(api, kb) -> None:
    response = api.post("/api/v1/collections/kb/context", json={"query": "how do I reset my password", "k": 5, "budget_tokens": 60})
    body = response.json()
    assert response.status_code == 200, body
    assert body["context"].startswith("[1] ")
    assert 0 < body["tokens"] <= 60
    assert body["citations"][0]["id"] == 1 and body["citations"][0]["source"] == "kb/reset.md"
    assert all(c["source"] != "internal/override.md" for c in body["citations"])
    assert {"mode", "took_ms", "trace_id", "span_id", "dropped"} <= set(body)
    by_document = api.post("/api/v1/collections/kb/context", json={"query": "password", "order": "document", "budget_tokens": 500}).json()
    assert [c["id"] for c in by_document["citations"]] == list(range(1, len(by_document["citations"]) + 1))
    error = assert_error(api.post("/api/v1/collections/kb/context", json={"query": "x", "budget_tokens": 0}), 422)
    assert error["details"][0]["field"] == "budget_tokens"
    assert_error(api.post("/api/v1/collections/kb/context", json={"query": "x", "order": "random"}), 422)
