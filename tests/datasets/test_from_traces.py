"""Datasets from production traces: traces sent through the real OTLP endpoint, copied with PII masked."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.conftest import assert_error
from tests.datasets.conftest import OtherProject, client_for, default, fingerprint, items_of, make_key, other  # noqa: F401  (fixtures)
from tests.tracing.spans_helpers import send, span, span_id, trace_id

CARD = "4111 1111 1111 1111"
KEY = "sk-proj-abcdefghijklmnopqrstuvwxyz012345"


def send_trace(client, start_ms: float, *, route: str, input_value: str, output_value: str | None = None, error: str | None = None) -> str:
    """A root span with input/output and a route, plus one child span; returns the trace id."""
    tid, root = trace_id(), span_id()
    attrs: dict[str, Any] = {"stackwright.route": route, "input.value": input_value}
    if output_value is not None:
        attrs["output.value"] = output_value
    send(client, [
        span(tid, root, "support", start_ms, start_ms + 50, attrs=attrs),
        span(tid, span_id(), "llm", start_ms + 1, start_ms + 40, parent=root, error=error, attrs={"input.value": "inner, not copied"}),
    ])  # fmt: skip
    return tid


@pytest.fixture
def traces(api) -> dict[str, str]:
    question = orjson.dumps({"question": "My card is " + CARD + ", mail me at jane@example.com", "user": "jane"}).decode()
    return {
        "pii": send_trace(api, 0, route="support.answer", input_value=question, output_value=f"Call +1 415 555 2671. Use key {KEY}"),
        "plain": send_trace(api, 100, route="support.answer", input_value="Where is order 12345?", output_value="It ships on 2024-05-01."),
        "failed": send_trace(api, 200, route="support.answer", input_value="Refund 99.50 please", error="rate limited"),
        "other_route": send_trace(api, 300, route="search", input_value="find docs", output_value="3 documents"),
    }


def test_copies_matching_traces_with_pii_masked(api, traces, prepared):
    response = api.post("/api/v1/datasets/from-prod/from-traces", json={"filter": {"route": "support.answer"}, "limit": 10})
    assert response.status_code == 201, response.text
    result = response.json()
    assert (result["version"], result["matched"], result["added"], result["skipped"], result["masked"]) == (1, 3, 3, 0, True)
    assert result["pii"] == {"CARD": 1, "EMAIL": 1, "PHONE": 1, "API_KEY": 1}
    items = {i["metadata"]["trace_id"]: i for i in items_of(api, "from-prod", 1)}
    assert set(items) == {traces["pii"], traces["plain"], traces["failed"]}
    pii = items[traces["pii"]]
    assert pii["input"] == {"question": "My card is <CARD>, mail me at <EMAIL>", "user": "jane"}  # JSON input stays JSON
    assert pii["expected"] == "Call <PHONE>. Use key <API_KEY>"
    assert pii["metadata"] == {"trace_id": traces["pii"], "source": "trace"}
    assert items[traces["plain"]]["input"] == "Where is order 12345?"  # ordinary numbers are left alone
    assert items[traces["plain"]]["expected"] == "It ships on 2024-05-01."
    assert items[traces["failed"]]["expected"] is None
    stored = orjson.dumps(items_of(api, "from-prod", 1)).decode()
    assert CARD not in stored and "jane@example.com" not in stored and KEY not in stored

    before = fingerprint(prepared)
    again = api.post("/api/v1/datasets/from-prod/from-traces", json={"filter": {"route": "support.answer"}})
    assert again.status_code == 200 and (again.json()["added"], again.json()["skipped"], again.json()["version"]) == (0, 3, 1)
    assert fingerprint(prepared) == before


def test_filters_limit_and_no_mask(api, traces):
    ok_only = api.post("/api/v1/datasets/ok/from-traces", json={"filter": {"route": "support.answer", "status": "ok"}, "limit": 1}).json()
    assert (ok_only["matched"], ok_only["added"]) == (1, 1)
    assert items_of(api, "ok", 1)[0]["metadata"]["trace_id"] == traces["plain"]  # newest first
    raw = api.post("/api/v1/datasets/raw/from-traces", json={"filter": {"q": "card"}, "mask": False}).json()
    assert raw["added"] == 1 and raw["pii"] == {}
    assert CARD in items_of(api, "raw", 1)[0]["input"]["question"]
    appended = api.post("/api/v1/datasets/ok/from-traces", json={"filter": {"route": "search"}}).json()
    assert (appended["version"], appended["item_count"], appended["parent_version"]) == (2, 2, 1)
    nothing = api.post("/api/v1/datasets/none/from-traces", json={"filter": {"route": "nowhere"}})
    assert nothing.status_code == 200 and nothing.json()["matched"] == 0 and nothing.json()["version"] is None
    assert_error(api.get("/api/v1/datasets/none"), 404)  # nothing matched: no dataset was made


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"filter": {"colour": "red"}}, 400, "unknown trace filter 'colour'"),
        ({"filter": {"status": "maybe"}}, 400, "status 'maybe' is not valid"),
        ({"filter": {"start": "yesterday"}}, 400, "start 'yesterday' is not a time"),
        ({"filter": {"min_cost": "cheap"}}, 400, "min_cost must be a number"),
        ({"filter": {"route": 5}}, 400, "route must be a string"),
        ({"limit": 0}, 422, "limit"),
        ({"mask": "sometimes"}, 422, "mask"),
    ],
)
def test_bad_from_traces_requests(api, traces, prepared, body, status, needle):
    before = fingerprint(prepared)
    error = assert_error(api.post("/api/v1/datasets/x/from-traces", json=body), status)
    assert needle.lower() in error["message"].lower(), error["message"]
    assert fingerprint(prepared) == before


def test_other_projects_traces_are_not_copied(api, traces, client_for, other):  # noqa: F811
    theirs = client_for(other.key)
    result = theirs.post("/api/v1/datasets/mine/from-traces", json={"filter": {}}).json()
    assert result["matched"] == 0
