"""JSON the server cannot store or send back is refused at the door with a 400 in the one error shape, on
every route: unpaired UTF-16 surrogates, NaN/Infinity, numbers beyond a double, integers beyond 64 bits.
Lone surrogates in a query answer a 4xx too, never a 500; a surrogate pair is an ordinary character."""

from __future__ import annotations

import pytest

from tests.conftest import assert_error

JSON = {"content-type": "application/json"}
SURROGATE_BODIES = [  # (method, path, body): the search filter of the fuzz finding, and JSON-storing routes
    ("POST", "/api/v1/collections/kb/search", b'{"query": "reset", "filter": "lang=\\ud800"}'),
    ("POST", "/api/v1/collections/kb/search", b'{"query": "reset", "filter": {"lang": {"eq": "\\udc00"}}}'),
    ("POST", "/api/v1/datasets/d/items", b'{"input": {"question": "\\ud800"}}'),
    ("POST", "/api/v1/datasets/d/items", b'{"input": "x", "metadata": {"\\ud83d": 1}}'),
    ("POST", "/api/v1/prompts", b'{"name": "p", "type": "text", "template": "Hi \\ud800"}'),
    ("POST", "/api/v1/jobs", b'{"kind": "noop", "params": {"result": ["\\udfff"]}}'),
    ("POST", "/api/v1/collections", b'{"name": "\\ud800"}'),
]


@pytest.fixture
def kb(api):
    assert api.post("/api/v1/collections", json={"name": "kb"}).status_code == 201
    assert api.post("/api/v1/datasets", json={"name": "d"}).status_code == 201
    return api


@pytest.mark.parametrize("method,path,body", SURROGATE_BODIES)
def test_a_lone_surrogate_in_a_body_answers_400(kb, method, path, body):
    error = assert_error(kb.request(method, path, content=body, headers=JSON), 400, "malformed_json")
    assert "not valid JSON" in error["message"] and "surrogate" in error["message"], error


@pytest.mark.parametrize(
    "body,fragment",
    [
        (b'{"input": NaN}', "not valid JSON"),
        (b'{"input": [Infinity]}', "not valid JSON"),
        (b'{"input": 1e400}', "not valid JSON"),
        (b'{"input": {"n": 18446744073709551616}}', "18446744073709551616"),
        (b'{"input": -9223372036854775809}', "64-bit range"),
        (b'{"input": 1' + b"0" * 300 + b"}", "(301 digits)"),  # a double holds it; 64 bits do not
    ],
)
def test_numbers_the_server_cannot_keep_answer_400(kb, body, fragment):
    error = assert_error(kb.post("/api/v1/datasets/d/items", content=body, headers=JSON), 400, "malformed_json")
    assert fragment in error["message"], error
    assert kb.get("/api/v1/datasets/d").json()["latest_version"] is None  # nothing was stored


def test_edge_values_are_kept_exactly(kb):
    body = '{"input": {"big": 18446744073709551615, "small": -9223372036854775808, "digits": "12345678901234567890123", "emoji": "\\ud83d\\ude00"}}'
    assert kb.post("/api/v1/datasets/d/items", content=body.encode(), headers=JSON).status_code == 201
    [item] = kb.get("/api/v1/datasets/d/versions/1/items").json()["data"]
    assert item["input"] == {"big": 2**64 - 1, "small": -(2**63), "digits": "12345678901234567890123", "emoji": "\U0001f600"}


@pytest.mark.parametrize("query", ["%ED%A0%80", "\\ud800", "%5Cud800"])
def test_a_lone_surrogate_in_a_query_is_never_a_500(kb, query):
    for path in (f"/api/v1/datasets?cursor={query}", f"/api/v1/traces?route={query}", f"/api/v1/datasets/d/versions/1/items?cursor={query}"):
        response = kb.get(path)
        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            assert_error(response, response.status_code)


def test_a_gzip_json_body_is_left_to_its_route(api):
    """Content-encoded bodies are decoded and checked by the route that takes them (OTLP ingest)."""
    import gzip

    import orjson

    from tests.tracing.spans_helpers import body, span, span_id, trace_id

    payload = gzip.compress(orjson.dumps(body([span(trace_id(), span_id(), "step", 0, 1)])))
    response = api.post("/v1/traces", content=payload, headers={**JSON, "content-encoding": "gzip"})
    assert response.status_code == 200, response.text
