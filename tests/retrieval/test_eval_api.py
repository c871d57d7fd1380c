"""POST /api/v1/collections/{name}/retrieval-eval: results, project scoping, scopes and bad input."""

from __future__ import annotations

from stackwright.retrieval.sample import load_labels
from tests.auth.conftest import client_for, default, make_key, other  # noqa: F401  (fixtures)
from tests.conftest import assert_error
from tests.retrieval.test_eval_service import ingest_help_center

URL = "/api/v1/collections/help-center/retrieval-eval"


def _labels(count: int = 12) -> list[dict]:
    return [{"id": label.id, "query": label.query, "relevant": label.relevant} for label in load_labels()[:count]]


def test_evaluate_over_the_api(api, prepared, make_key, client_for):  # noqa: F811
    ingest_help_center(prepared)
    response = api.post(URL, json={"labels": _labels(), "k": 5})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["collection"] == "help-center" and body["k"] == 5 and body["granularity"] == "document"
    assert list(body["modes"]) == ["vector", "keyword", "hybrid"]
    for scores in body["modes"].values():
        assert set(scores) == {"hit_rate", "mrr", "ndcg", "precision", "recall", "measured", "unmeasured"}
        assert scores["measured"] == 12 and scores["unmeasured"] == 0 and 0 < scores["hit_rate"] <= 1
    assert len(body["queries"]) == 12 and body["queries"][0]["id"] == "hc-001" and body["unknown_ids"] == 0
    assert body["queries"][0]["modes"]["hybrid"]["retrieved"][0]["source"].endswith(".md")

    # one mode, chunk granularity, graded labels; unknown ids are reported, not fatal; read scope is enough
    _, read_key = make_key(["read"])
    reader = client_for(read_key)
    labels = [{"query": "AUTH-423", "relevant": {"account-locked.md": 2, "missing.md": 1}}, {"query": "x", "relevant": []}]
    body = reader.post(URL, json={"labels": labels, "k": 3, "modes": ["keyword"], "granularity": "chunk"}).json()
    assert list(body["modes"]) == ["keyword"]
    assert body["modes"]["keyword"]["measured"] == 1 and body["modes"]["keyword"]["unmeasured"] == 1
    assert body["modes"]["keyword"]["hit_rate"] == 1.0
    assert body["unknown_ids"] == 1 and body["queries"][0]["unknown_ids"][0]["id"] == "missing.md"
    assert body["queries"][1]["unmeasured"] == "no relevant ids"
    assert all(len(r["id"]) == 32 for r in body["queries"][0]["modes"]["keyword"]["retrieved"])


def test_acl_principals_over_the_api(api, prepared, make_key, client_for):  # noqa: F811
    ingest_help_center(prepared, acl={"billing-refunds-annual.md": ["group:billing"]})
    labels = [{"query": "refund for a yearly subscription that just renewed", "relevant": ["billing-refunds-annual.md"]}]
    as_public = api.post(URL, json={"labels": labels, "modes": ["hybrid"]}).json()
    assert as_public["modes"]["hybrid"]["hit_rate"] == 0.0
    as_billing = api.post(URL, json={"labels": labels, "modes": ["hybrid"], "principals": ["group:billing"]}).json()
    assert as_billing["modes"]["hybrid"]["hit_rate"] == 1.0
    assert api.post(URL, json={"labels": labels, "modes": ["hybrid"], "principals": ["*"]}).json()["modes"]["hybrid"]["hit_rate"] == 1.0
    _, read_key = make_key(["read"])
    error = assert_error(client_for(read_key).post(URL, json={"labels": labels, "principals": ["*"]}), 403)
    assert "admin" in error["message"]


def test_another_projects_collection_answers_404(api, prepared, other, client_for):  # noqa: F811
    ingest_help_center(prepared, articles=False, extra={"secret.md": "# Secret\n\nThe launch code is 1234."})
    theirs = client_for(other.key)
    error = assert_error(theirs.post(URL, json={"labels": [{"query": "launch code", "relevant": ["secret.md"]}]}), 404)
    assert "help-center" in error["message"] and "1234" not in str(error)
    error = assert_error(api.post("/api/v1/collections/nope/retrieval-eval", json={"labels": _labels(1)}), 404)
    assert "No collection named 'nope'" in error["message"]


def test_bad_input(api, prepared, anon):
    ingest_help_center(prepared, articles=False, extra={"a.md": "# A\n\nSome text about refunds."})
    good = {"query": "refunds", "relevant": ["a.md"]}
    cases = [
        ({"labels": [good, {"relevant": ["a.md"]}]}, 400, "labels[1]: 'query' is missing"),
        ({"labels": [{"query": "q"}]}, 400, "labels[0]: 'relevant' is missing"),
        ({"labels": [{"query": "q", "relevant": "a.md"}]}, 400, "labels[0]: 'relevant' must be a list"),
        ({"labels": [{"query": "q", "relevant": {"a.md": -2}}]}, 400, "the gain of 'a.md' must be a number >= 0"),
        ({"labels": ["q"]}, 400, "labels[0]: a label must be an object"),
        ({"labels": [good], "filter": "lang = = en"}, 400, "filter"),
        ({"labels": []}, 422, "labels"),
        ({"labels": [good] * 5001}, 422, "labels"),
        ({"labels": [good], "k": 0}, 422, "k"),
        ({"labels": [good], "k": 101}, 422, "k"),
        ({"labels": [good], "modes": ["semantic"]}, 422, "modes"),
        ({"labels": [good], "modes": []}, 422, "modes"),
        ({"labels": [good], "granularity": "page"}, 422, "granularity"),
        ({"labels": [good], "unknown": 1}, 422, "unknown"),
        ({}, 422, "labels"),
    ]
    for body, status, needle in cases:
        error = assert_error(api.post(URL, json=body), status)
        assert needle in error["message"], (body if len(str(body)) < 300 else needle, error)
    assert_error(api.post(URL, content=b"{not json", headers={"Content-Type": "application/json"}), 400, "malformed_json")
    assert_error(anon.post(URL, json={"labels": [good]}), 401)
