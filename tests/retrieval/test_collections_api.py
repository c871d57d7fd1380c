"""Collections and documents over the API: create, list, show, change, delete, ingest raw text and
records; bad input answers a clear error and stores nothing; another project's collection is 404."""

from __future__ import annotations

import pytest

from stackwright.retrieval.models import Collection, RetrievalDocument
from tests.auth.conftest import client_for, default, make_key, other  # noqa: F401  (fixtures)
from tests.conftest import assert_error
from tests.gateway.conftest import fake_upstream, fake_upstream_server  # noqa: F401  (fixtures)

FAQ = "Can I export my data?\n\nYes. Open Settings, choose Export and pick CSV or JSON."


def _count(db, model) -> int:
    from sqlalchemy import func, select

    with db.read() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_create_list_show_patch_delete(api, prepared):
    created = api.post("/api/v1/collections", json={"name": "help-center", "description": "Help", "chunking": {"size": 128}})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["embedder"] == "local/wordllama" and body["dimensions"] == 256 and body["chunking"] == {"strategy": "structure", "size": 128, "overlap": 32}
    assert body["search"]["mode"] == "hybrid" and body["backend"] in ("embedded", "pgvector") and body["document_count"] == 0
    small = api.post("/api/v1/collections", json={"name": "small", "dimensions": 64, "chunking": {"strategy": "semantic"}, "ann": True}).json()
    assert small["dimensions"] == 64 and small["ann"] is True
    first = api.get("/api/v1/collections", params={"limit": 1}).json()
    assert [c["name"] for c in first["data"]] == ["help-center"] and first["next_cursor"]
    second = api.get("/api/v1/collections", params={"limit": 1, "cursor": first["next_cursor"]}).json()
    assert [c["name"] for c in second["data"]] == ["small"] and second["next_cursor"] is None
    assert api.get("/api/v1/collections/help-center").json()["description"] == "Help"
    patched = api.patch("/api/v1/collections/help-center", json={"description": "Articles", "search": {"mode": "vector", "rrf_k": 10}})
    assert patched.status_code == 200 and patched.json()["search"]["mode"] == "vector" and patched.json()["description"] == "Articles"
    api.post("/api/v1/collections/help-center/documents", json={"documents": [{"source": "faq", "text": FAQ}]})
    hits = api.post("/api/v1/collections/help-center/search", json={"query": "export data", "mode": "vector"})
    assert hits.status_code == 200 and hits.json()["data"][0]["source"] == "faq"  # the search layer reads what was ingested
    vectors = prepared.settings.home.resolve() / "vectors"
    if body["backend"] == "embedded":
        assert list(vectors.glob(f"{body['id']}.*"))
    deleted = api.delete("/api/v1/collections/help-center").json()
    assert not list(vectors.glob(f"{body['id']}.*"))  # the embedded index files go with the collection
    assert deleted == {"deleted": True, "name": "help-center", "documents": 1, "chunks": 1}
    assert_error(api.get("/api/v1/collections/help-center"), 404, "collection_not_found")
    assert _count(prepared, RetrievalDocument) == 0
    actions = [e["action"] for e in api.get("/api/v1/audit").json()["data"]]
    assert {"collection.create", "collection.update", "collection.ingest", "collection.delete"} <= set(actions)


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"name": "bad name!"}, 422, "name: Value error, must be 1-128 letters"),
        ({"name": "x", "embedder": "nope/model"}, 400, "Unknown embedder 'nope/model'. Available: local/wordllama"),
        ({"name": "x", "embedder": "local/extractive"}, 400, "Unknown embedder 'local/extractive'"),
        ({"name": "x", "dimensions": 100}, 400, "offers 64, 128, 256 dimensions, not 100"),
        ({"name": "x", "chunking": {"strategy": "words"}}, 422, "chunking.strategy"),
        ({"name": "x", "chunking": {"size": 100, "overlap": 60}}, 422, "overlap (60) must be at most half the size (50)"),
        ({"name": "x", "chunking": {"size": 4}}, 422, "chunking.size"),
        ({"name": "x", "search": {"mode": "fuzzy"}}, 422, "search.mode"),
        ({"name": "x", "search": {"mmr_lambda": 1.5}}, 422, "search.mmr_lambda"),
        ({"name": "x", "search": {"oversample": 0}}, 422, "search.oversample"),
        ({"name": "x", "search": {"ef_search": 5000}}, 422, "search.ef_search"),
        ({"name": "x", "search": {"reranker": "nope"}}, 422, "search.reranker: Value error, unknown reranker 'nope'; registered: none, overlap"),
        ({"name": "x", "search": {"top_p": 1}}, 422, "search.top_p: is not a known field"),
        ({"name": "x", "color": "red"}, 422, "color: is not a known field"),
        ({}, 422, "name: is required"),
    ],
)
def test_bad_collection_settings_store_nothing(api, prepared, body, status, needle):
    error = assert_error(api.post("/api/v1/collections", json=body), status)
    assert needle in error["message"], error
    assert _count(prepared, Collection) == 0


def test_search_defaults_take_every_search_option(api, prepared):
    """A collection's search defaults accept what a query accepts (mmr_lambda, reranker, oversample, ef_search),
    with the same limits, and searches use them unless the query overrides them."""
    search = {"mode": "vector", "mmr_lambda": 0.3, "reranker": "overlap", "oversample": 8, "ef_search": 200}
    created = api.post("/api/v1/collections", json={"name": "kb", "search": search})
    assert created.status_code == 201, created.text
    assert created.json()["search"] == {**search, "rrf_k": 60, "weights": {"vector": 1.0, "keyword": 1.0}}
    plain = api.post("/api/v1/collections", json={"name": "plain"}).json()
    assert plain["search"] == {"mode": "hybrid", "rrf_k": 60, "weights": {"vector": 1.0, "keyword": 1.0}, "oversample": 4,
                               "mmr_lambda": None, "reranker": "none", "ef_search": 100}  # fmt: skip

    from stackwright.retrieval.search.service import SearchOptions, plan

    with prepared.read() as session:
        collection = session.get(Collection, created.json()["id"])
        resolved = plan(collection, SearchOptions(query="export"))
        overridden = plan(collection, SearchOptions(query="export", mmr_lambda=0.9, reranker="none", oversample=2, ef_search=40))
    assert (resolved.mode, resolved.mmr_lambda, resolved.reranker, resolved.ef_search, resolved.pool) == ("vector", 0.3, "overlap", 200, 40)
    assert (overridden.mmr_lambda, overridden.reranker, overridden.ef_search, overridden.pool) == (0.9, "none", 40, 25)

    patched = api.patch("/api/v1/collections/kb", json={"search": {"mmr_lambda": None, "reranker": "none"}})
    assert patched.status_code == 200 and patched.json()["search"]["reranker"] == "none" and patched.json()["search"]["mmr_lambda"] is None
    assert_error(api.patch("/api/v1/collections/kb", json={"search": {"reranker": "nope"}}), 422)
    api.post("/api/v1/collections/kb/documents", json={"documents": [{"source": "faq", "text": FAQ}]})
    hits = api.post("/api/v1/collections/kb/search", json={"query": "export data"})
    assert hits.status_code == 200 and hits.json()["data"][0]["source"] == "faq"


def test_deleting_a_collection_forgets_its_keyword_index(api, prepared):
    from stackwright.retrieval import keyword_index

    created = api.post("/api/v1/collections", json={"name": "kb"}).json()
    url = str(prepared.engine.url)
    held = keyword_index.keyword_index(created["id"], url)
    assert keyword_index.keyword_index(created["id"], url) is held  # one per collection and database, kept in memory
    assert api.delete("/api/v1/collections/kb").status_code == 200
    assert keyword_index.keyword_index(created["id"], url) is not held  # dropped with the collection
    keyword_index.forget(created["id"])


def test_duplicate_names_and_bad_patches(api):
    assert api.post("/api/v1/collections", json={"name": "kb"}).status_code == 201
    assert "already exists" in assert_error(api.post("/api/v1/collections", json={"name": "kb"}), 409, "conflict")["message"]
    assert "embedder: is not a known field" in assert_error(api.patch("/api/v1/collections/kb", json={"embedder": "x"}), 422)["message"]
    version = api.get("/api/v1/collections/kb").json()["index_version"]
    assert api.patch("/api/v1/collections/kb", json={"ann": True}).json()["index_version"] == version + 1  # rebuilt differently
    rechunked = api.patch("/api/v1/collections/kb", json={"chunking": {"strategy": "fixed", "size": 64, "overlap": 0}}).json()
    assert rechunked["chunking"] == {"strategy": "fixed", "size": 64, "overlap": 0} and rechunked["ann"] is True
    assert_error(api.patch("/api/v1/collections/nope", json={"description": "x"}), 404, "collection_not_found")
    assert_error(api.get("/api/v1/collections", params={"cursor": "zzz"}), 400)
    assert_error(api.delete("/api/v1/collections/nope"), 404)


def test_ingest_raw_text_and_records(api):
    api.post("/api/v1/collections", json={"name": "kb"})
    body = {
        "documents": [
            {"source": "kb/reset", "title": "Reset", "format": "markdown", "text": "# Reset\n\n## Steps\n\nOpen Settings and click Reset.",
             "metadata": {"lang": "en"}},
            {"text": "Refunds take five days.", "acl": ["group:billing"]},
            {"source": "kb/page", "format": "html", "text": "<h1>Page</h1><script>x()</script><p>Visible words.</p>"},
            {"source": "kb/empty", "format": "html", "text": "<script>only code</script>"},
        ],
        "acl": ["group:support"],
        "metadata": {"team": "cx"},
    }  # fmt: skip
    report = api.post("/api/v1/collections/kb/documents", json=body)
    assert report.status_code == 200, report.text
    result = report.json()
    assert result["documents_added"] == 3 and result["failures"] == [{"source": "kb/empty", "reason": "empty: no text to index"}]
    again = api.post("/api/v1/collections/kb/documents", json=body).json()
    assert again["documents_unchanged"] == 3 and again["chunks_embedded"] == 0
    listed = api.get("/api/v1/collections/kb/documents", params={"limit": 2}).json()
    assert [d["source"] for d in listed["data"]] == ["kb/page", "kb/reset"] and listed["next_cursor"]
    rest = api.get("/api/v1/collections/kb/documents", params={"cursor": listed["next_cursor"]}).json()
    assert len(rest["data"]) == 1 and rest["data"][0]["source"].startswith("text:") and rest["data"][0]["acl"] == ["group:billing"]
    reset = listed["data"][1]
    assert reset["metadata"] == {"lang": "en", "team": "cx"} and reset["acl"] == ["group:support"] and reset["public"] is False
    shown = api.get(f"/api/v1/collections/kb/documents/{reset['id']}").json()
    assert shown["title"] == "Reset" and [(c["position"], c["heading_path"]) for c in shown["chunks"]] == [(0, ["Reset", "Steps"])]
    assert "embedding" not in shown["chunks"][0] and shown["chunks"][0]["text"] == "## Steps\n\nOpen Settings and click Reset."
    assert "chunks" not in api.get(f"/api/v1/collections/kb/documents/{reset['id']}", params={"chunks": "false"}).json()
    assert api.get("/api/v1/collections/kb/documents", params={"source_prefix": "kb/"}).json()["data"][0]["source"] == "kb/page"
    removed = api.delete(f"/api/v1/collections/kb/documents/{reset['id']}").json()
    assert removed == {"deleted": True, "id": reset["id"], "source": "kb/reset", "chunks_deleted": 1}
    assert_error(api.get(f"/api/v1/collections/kb/documents/{reset['id']}"), 404, "document_not_found")
    assert api.get("/api/v1/collections/kb").json()["document_count"] == 2


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"documents": []}, 422, "documents"),
        ({"documents": [{"text": ""}]}, 422, "documents.0.text"),
        ({"documents": [{"source": "a"}]}, 422, "documents.0.text: is required"),
        ({"documents": [{"text": "x", "format": "pdf"}]}, 422, "documents.0.format"),
        ({"documents": [{"text": "x"}], "acl": ["support"]}, 400, "ACL principal 'support' is not valid"),
        ({"documents": [{"text": "x"}] * 1001}, 422, "documents"),
        ({"documents": [{"text": "x"}], "chunking": {"strategy": "fixed", "size": 64, "overlap": 40}}, 422, "overlap"),
        ({"docs": []}, 422, "docs: is not a known field"),
    ],
)
def test_bad_ingest_requests_store_nothing(api, prepared, body, status, needle):
    api.post("/api/v1/collections", json={"name": "kb"})
    error = assert_error(api.post("/api/v1/collections/kb/documents", json=body), status)
    assert needle in error["message"], error
    assert _count(prepared, RetrievalDocument) == 0


def test_scopes_and_project_scoping(api, anon, client_for, make_key, other):  # noqa: F811
    api.post("/api/v1/collections", json={"name": "kb"})
    api.post("/api/v1/collections/kb/documents", json={"documents": [{"source": "faq", "text": FAQ}]})
    doc_id = api.get("/api/v1/collections/kb/documents").json()["data"][0]["id"]
    _, read_key = make_key(["read"])
    reader = client_for(read_key)
    assert reader.get("/api/v1/collections/kb").status_code == 200
    assert reader.get(f"/api/v1/collections/kb/documents/{doc_id}").status_code == 200
    for method, path, body in [("POST", "/api/v1/collections", {"name": "x"}), ("PATCH", "/api/v1/collections/kb", {"description": "x"}),
                               ("DELETE", "/api/v1/collections/kb", None), ("POST", "/api/v1/collections/kb/documents", {"documents": [{"text": "x"}]}),
                               ("DELETE", f"/api/v1/collections/kb/documents/{doc_id}", None)]:  # fmt: skip
        assert_error(reader.request(method, path, json=body), 403, "forbidden")
    assert_error(anon.get("/api/v1/collections"), 401)
    stranger = client_for(other.key)
    assert stranger.get("/api/v1/collections").json()["data"] == []
    for method, path, body in [("GET", "/api/v1/collections/kb", None), ("PATCH", "/api/v1/collections/kb", {"description": "x"}),
                               ("DELETE", "/api/v1/collections/kb", None), ("GET", "/api/v1/collections/kb/documents", None),
                               ("GET", f"/api/v1/collections/kb/documents/{doc_id}", None),
                               ("DELETE", f"/api/v1/collections/kb/documents/{doc_id}", None),
                               ("POST", "/api/v1/collections/kb/documents", {"documents": [{"text": "x"}]})]:  # fmt: skip
        assert_error(stranger.request(method, path, json=body), 404, "collection_not_found")
    assert stranger.post("/api/v1/collections", json={"name": "kb"}).status_code == 201  # names are per project
    assert api.get("/api/v1/collections/kb").json()["document_count"] == 1


def test_gateway_embedder_through_the_gateway(api, fake_upstream):  # noqa: F811
    from tests.gateway.helpers import apply, fake_model

    apply(api, fake_model(fake_upstream.base_url, "fake-embed", name="team-embed"))
    created = api.post("/api/v1/collections", json={"name": "kb", "embedder": "team-embed"}).json()
    assert created["embedder"] == "team-embed" and created["dimensions"] == 8  # asked the model once
    report = api.post("/api/v1/collections/kb/documents", json={"documents": [{"source": "faq", "text": FAQ}]}).json()
    assert report["chunks_embedded"] == 1 and report["failures"] == []
    sent = [r for r in fake_upstream.requests() if r["path"] == "/v1/embeddings"]
    assert sent[-1]["body"]["input"] == [FAQ] and "dimensions" not in sent[-1]["body"]
    sized = api.post("/api/v1/collections", json={"name": "sized", "embedder": "team-embed", "dimensions": 16}).json()
    assert sized["dimensions"] == 16 and fake_upstream.requests()[-1]["body"]["dimensions"] == 16
    fake_upstream.script("fake-embed", [{"status": 500, "message": "upstream exploded"}] * 10)
    failed = assert_error(api.post("/api/v1/collections/kb/documents", json={"documents": [{"source": "new", "text": "New text."}]}), 502,
                          "embedder_failed")  # fmt: skip
    assert "The embedder 'team-embed' failed" in failed["message"] and "run the same ingest again" in failed["message"]


def test_ingest_builds_the_ann_graph_of_an_ann_collection(api, prepared):
    """The usearch graph is built by the ingest (embedded backend), not by the next search."""
    body = api.post("/api/v1/collections", json={"name": "graph", "ann": True}).json()
    ingested = api.post("/api/v1/collections/graph/documents", json={"documents": [{"source": "faq", "text": FAQ}]})
    assert ingested.status_code == 200, ingested.text
    graph = list((prepared.settings.home.resolve() / "vectors").glob(f"{body['id']}.*.usearch"))
    if body["backend"] != "embedded":
        assert not graph  # Postgres: pgvector's HNSW, no file
        return
    assert graph and graph[0].stat().st_size > 0
    hits = api.post("/api/v1/collections/graph/search", json={"query": "export data", "mode": "vector"}).json()
    assert hits["data"][0]["source"] == "faq"
