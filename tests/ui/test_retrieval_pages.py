"""The retrieval pages: collections, documents with ACLs and chunks, the search playground with score parts and the
API's ACL rules, the retrieval evaluation form; bad input, escaping, roles, CSRF and project isolation."""

from __future__ import annotations

import re

import httpx
import pytest

from stackwright.auth import keys, service
from stackwright.auth.actors import SYSTEM
from stackwright.sdk.transport import InProcessTransport
from tests.ui.conftest import csrf_of
from tests.ui.test_settings_pages import add_user, signed_in_as
from tests.ui.test_sign_in import assert_page

SCRIPT = "<script>alert('x')</script>"
DOCS = [
    {"source": "kb/reset.md", "title": "Reset your password", "format": "markdown", "metadata": {"lang": "en"},
     "text": "# Reset your password\n\nOpen Settings, then Security, and click Reset password. A reset link is emailed to you."},
    {"source": "kb/billing.md", "text": "Invoices are emailed monthly. Pay by card or bank transfer.", "metadata": {"lang": "en"}},
    {"source": "internal/override.md", "text": "Support staff can reset a customer's password from the admin console.",
     "acl": ["group:support"]},
    {"source": f"kb/{SCRIPT}.md", "title": SCRIPT, "text": f"Escaping check {SCRIPT} password.", "metadata": {"note": SCRIPT}},
]  # fmt: skip


@pytest.fixture
def kb(api: httpx.Client) -> dict:
    created = api.post("/api/v1/collections", json={"name": "kb", "description": f"Help {SCRIPT}"})
    assert created.status_code == 201, created.text
    report = api.post("/api/v1/collections/kb/documents", json={"documents": DOCS})
    assert report.status_code == 200 and not report.json()["failures"], report.text
    return created.json()


def _doc_id(api: httpx.Client, source: str) -> str:
    return next(d["id"] for d in api.get("/api/v1/collections/kb/documents").json()["data"] if d["source"] == source)


def test_collections_documents_and_chunks(admin, api, kb) -> None:
    page = assert_page(admin.get("/ui/retrieval"), 200)
    assert re.search(r'<a href="/ui/retrieval"[^>]*>Retrieval</a>', page)
    row = re.search(r'<tr data-collection="kb">.*?</tr>', page, re.S).group(0)
    assert "local/wordllama" in row and ">4<" in row  # embedder and document count
    assert SCRIPT not in page and "&lt;script&gt;" in page
    docs = assert_page(admin.get("/ui/retrieval/kb"), 200)
    override = re.search(r'<tr data-document="[^"]+">\s*<td><a [^>]*>internal/override.md</a>.*?</tr>', docs, re.S).group(0)
    assert "group:support" in override
    assert SCRIPT not in docs
    filtered = assert_page(admin.get("/ui/retrieval/kb?source_prefix=internal/"), 200)
    assert "internal/override.md" in filtered and "kb/billing.md" not in filtered
    doc = assert_page(admin.get(f"/ui/retrieval/kb/documents/{_doc_id(api, 'kb/reset.md')}"), 200)
    assert "Open Settings, then Security" in doc and "data-chunk=" in doc and "Reset your password" in doc
    assert "No document" in assert_page(admin.get("/ui/retrieval/kb/documents/" + "0" * 32), 404)
    assert "No collection" in assert_page(admin.get("/ui/retrieval/nope"), 404)
    assert_page(admin.get("/ui/retrieval/kb?cursor=zz%00"), 200)  # a bad cursor is a message, not a crash


def test_search_shows_score_parts_and_applies_the_apis_acl_rules(admin, app, prepared, kb) -> None:
    page = assert_page(admin.get("/ui/retrieval/kb/search", params={"q": "reset my password", "mode": "hybrid", "k": "3"}), 200)
    first = re.search(r'<tr data-hit="[^"]+">.*?</tr>', page, re.S).group(0)
    assert "kb/reset.md" in first or "Reset your password" in first
    assert re.search(r'data-part="vector">#\d+ · [-\d.]+', first) and 'data-part="keyword">' in first
    assert re.search(r'data-part="fused">[\d.]+', first)
    assert "trace of this search" in page and SCRIPT not in page
    keyword = assert_page(admin.get("/ui/retrieval/kb/search", params={"q": "password", "mode": "keyword"}), 200)
    assert 'data-part="keyword"' in keyword and 'data-part="vector"' not in keyword
    query = {"q": "reset a customer's password admin console", "mode": "vector", "k": "5"}
    assert "internal/override.md" not in admin.get("/ui/retrieval/kb/search", params=query).text  # public documents only
    assert "internal/override.md" in admin.get("/ui/retrieval/kb/search", params={**query, "principals": "group:support"}).text
    assert "internal/override.md" in admin.get("/ui/retrieval/kb/search", params={**query, "principals": "*"}).text  # owner: admin
    add_user(prepared, "member.r@example.com", "member")
    member = signed_in_as(app, "member.r@example.com")
    refused = assert_page(member.get("/ui/retrieval/kb/search", params={**query, "principals": "*"}), 400)
    assert 'data-error-for="principals"' in refused and "admin" in refused and "internal/override.md" not in refused
    member.close()


@pytest.mark.parametrize(("params", "field"), [
    ({"filter": "{not json"}, "filter"),
    ({"filter": "lang=="}, "filter"),
    ({"filter": "[1, 2]"}, "filter"),
    ({"k": "0"}, "k"),
    ({"k": "101"}, "k"),
    ({"k": "many"}, "k"),
    ({"mode": "fuzzy"}, "mode"),
])  # fmt: skip
def test_bad_search_input_is_shown_beside_its_field(admin, kb, params, field) -> None:
    page = assert_page(admin.get("/ui/retrieval/kb/search", params={"q": "password", **params}), 400)
    assert f'data-error-for="{field}"' in page and "data-hit=" not in page


def test_json_filter_and_escaped_query(admin, kb) -> None:
    params = {"q": SCRIPT + " password", "filter": '{"lang": {"eq": "en"}}', "mode": "keyword"}
    page = assert_page(admin.get("/ui/retrieval/kb/search", params=params), 200)
    assert "data-hit=" in page and "Escaping check" not in page  # that document has no lang
    assert SCRIPT not in page and "&lt;script&gt;" in page


def test_retrieval_eval_runs_on_pasted_labels_and_checks_its_input(admin, kb) -> None:
    form = assert_page(admin.get("/ui/retrieval/kb/eval"), 200)
    assert "help-center" in form  # the shipped labelled set
    token = csrf_of(admin.get("/ui/retrieval/kb/eval"))
    labels = '{"query": "how do I reset my password", "relevant": ["reset.md"]}\n{"query": "' + SCRIPT + '", "relevant": ["billing.md"]}'
    done = admin.post("/ui/retrieval/kb/eval", data={"csrf_token": token, "labels": "pasted", "jsonl": labels, "k": "3",
                                                      "modes": ["hybrid", "keyword"], "granularity": "document"})  # fmt: skip
    page = assert_page(done, 200)
    assert '<tr data-mode="hybrid">' in page and '<tr data-mode="keyword">' in page and '<tr data-mode="vector">' not in page
    assert SCRIPT not in page
    bad = [({"jsonl": "{oops"}, "labels"), ({"jsonl": labels, "k": "0"}, "k"), ({"jsonl": labels, "modes": []}, "modes"),
           ({"jsonl": labels, "filter": "{bad"}, "filter"), ({"jsonl": ""}, "labels")]  # fmt: skip
    for change, field in bad:
        data = {"csrf_token": token, "labels": "pasted", "k": "3", "modes": ["hybrid"], "granularity": "document", **change}
        answer = assert_page(admin.post("/ui/retrieval/kb/eval", data=data), 400)
        assert f'data-error-for="{field}"' in answer, (change, answer)
    assert "security token" in assert_page(admin.post("/ui/retrieval/kb/eval", data={"labels": "pasted", "jsonl": labels}), 403)


def test_a_viewer_reads_and_searches(app, prepared, kb) -> None:
    add_user(prepared, "viewer.r@example.com", "viewer")
    viewer = signed_in_as(app, "viewer.r@example.com")
    assert_page(viewer.get("/ui/retrieval"), 200)
    assert_page(viewer.get("/ui/retrieval/kb"), 200)
    assert "data-hit=" in assert_page(viewer.get("/ui/retrieval/kb/search", params={"q": "password"}), 200)
    viewer.close()


def test_another_projects_collection_is_not_found(admin, app, prepared, kb) -> None:
    with prepared.write() as session:
        other = service.create_project(session, SYSTEM, "other")
        service.add_member(session, SYSTEM, other.id, service.find_user(session, "admin@example.com").id, "viewer")
        _, other_key = keys.create_key(session, SYSTEM, other.id, "other key", ["write"])
    with httpx.Client(transport=InProcessTransport(app), base_url="http://stackwright.test",
                      headers={"Authorization": f"Bearer {other_key}"}) as other_api:  # fmt: skip
        assert other_api.post("/api/v1/collections", json={"name": "theirs"}).status_code == 201
    assert "theirs" not in admin.get("/ui/retrieval").text
    assert_page(admin.get("/ui/retrieval/theirs"), 404)
    assert_page(admin.get("/ui/retrieval/theirs/search", params={"q": "x"}), 404)
