"""Any JSON value a caller stores comes back equal, through every API that keeps caller JSON, on SQLite and
Postgres: dataset items (add and patch), eval results of a python target, document metadata, job results
and span attributes. A bare number used to be stored by SQLite as INTEGER/REAL and broke every later read.

Numbers compare as JSON numbers, i.e. decimal values: Postgres JSONB stores numbers as ``numeric`` and
writes the float 4.795317388519811e16 back as 47953173885198110, the same JSON number (and the same double
for a client that reads numbers as doubles), which Python then reads as an int. Booleans and null stay apart.
Shrinking is off: a failure reports its example as found, and a failing run stays short.
"""

from __future__ import annotations

import itertools
import time
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from stackwright.core.config import Settings
from tests.conftest import TEST_ADMIN_EMAIL, TEST_ADMIN_PASSWORD, TEST_API_KEY
from tests.tracing.spans_helpers import send, span, span_id, trace_id

TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=12)
FLOATS = st.floats(allow_nan=False, allow_infinity=False)


def json_values(max_int: int = 2**64 - 1) -> st.SearchStrategy[Any]:
    """Any JSON value; integers from -2**63 to ``max_int`` (the server takes up to 2**64 - 1)."""
    scalars = st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=max_int) | FLOATS | TEXT
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4), max_leaves=10)


JSON_VALUES = json_values()
OBJECTS = st.dictionaries(TEXT, JSON_VALUES, max_size=4)
QUICK = {
    "deadline": None, "database": None, "phases": [Phase.explicit, Phase.generate],
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}  # fmt: skip
EXAMPLES = hypothesis_settings(max_examples=25, **QUICK)
_names = itertools.count()


def same_json(a: Any, b: Any) -> bool:
    """Equal as JSON: numbers by decimal value (a float as its shortest repr, as orjson writes it), booleans and
    null distinct from numbers, objects by keys in any order."""
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return Decimal(repr(a)) == Decimal(repr(b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


@pytest.fixture
def settings(tmp_path, database_url) -> Settings:
    """The suite's settings, plus the operator's allow-list for this file's python eval target."""
    return Settings(
        home=tmp_path / "home", database_url=database_url, init_api_key=TEST_API_KEY, init_admin_email=TEST_ADMIN_EMAIL,
        init_admin_password=TEST_ADMIN_PASSWORD, log_format="text", eval_python_allow=("tests.server.test_json_round_trip:as_output",),
    )  # fmt: skip


def as_output(value: Any) -> dict[str, Any]:
    """The eval target: answers the case's input unchanged (wrapped, so a dict input is not read as a result)."""
    return {"output": value}


@EXAMPLES
@given(input=JSON_VALUES.filter(lambda v: v is not None), expected=JSON_VALUES, metadata=OBJECTS, patched=JSON_VALUES.filter(lambda v: v is not None))
def test_dataset_items_round_trip(api, input, expected, metadata, patched):
    name = f"d{next(_names)}"
    ok(api.post("/api/v1/datasets", json={"name": name}), 201)
    added = ok(api.post(f"/api/v1/datasets/{name}/items", json={"input": input, "expected": expected, "metadata": metadata}), 201)
    [item] = ok(api.get(f"/api/v1/datasets/{name}/versions/1/items"))["data"]
    assert same_json(item["input"], input) and same_json(item["expected"], expected) and same_json(item["metadata"], metadata), item
    version = ok(api.patch(f"/api/v1/datasets/{name}/items/{added['item_id']}", json={"input": patched, "expected": None}))["version"]
    [item] = ok(api.get(f"/api/v1/datasets/{name}/versions/{version}/items"))["data"]
    assert same_json(item["input"], patched) and item["expected"] is None and same_json(item["metadata"], metadata), item
    assert ok(api.get(f"/api/v1/datasets/{name}/export")) is not None  # the export reads every item too


@hypothesis_settings(max_examples=8, **QUICK)  # each example is a whole eval run
@given(inputs=st.lists(JSON_VALUES.filter(lambda v: v is not None), min_size=1, max_size=4, unique_by=repr))
def test_eval_results_round_trip(api, inputs):
    name = f"e{next(_names)}"
    ok(api.post(f"/api/v1/datasets/{name}/import", json={"items": [{"input": value} for value in inputs]}), 201)
    spec = {"name": name, "dataset": name, "target": {"python": "tests.server.test_json_round_trip:as_output"}, "scorers": ["exact"]}
    run_id = ok(api.post("/api/v1/evals/runs", json={"spec": spec}), 202)["id"]
    run = _finished(api, run_id)
    outputs = [case["output"] for case in run["cases"]["data"]]
    assert len(outputs) == len(inputs), run
    for value in inputs:
        assert any(same_json(value, output) for output in outputs), (value, outputs)


def _finished(api: Any, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while (run := ok(api.get(f"/api/v1/evals/runs/{run_id}")))["status"] == "running":
        assert time.monotonic() < deadline, run
        time.sleep(0.05)
    assert run["status"] == "completed", run
    return run


@EXAMPLES
@given(metadata=OBJECTS)
def test_document_metadata_round_trips(api, metadata):
    name = f"c{next(_names)}"
    ok(api.post("/api/v1/collections", json={"name": name}), 201)
    document = {"source": "kb/one", "text": "How to reset a password.", "metadata": metadata}
    ok(api.post(f"/api/v1/collections/{name}/documents", json={"documents": [document]}))
    [listed] = ok(api.get(f"/api/v1/collections/{name}/documents"))["data"]
    shown = ok(api.get(f"/api/v1/collections/{name}/documents/{listed['id']}"))
    assert same_json(shown["metadata"], metadata), shown


@EXAMPLES
@given(result=JSON_VALUES)
def test_job_params_and_results_round_trip(app, api, result):
    job = ok(api.post("/api/v1/jobs", json={"kind": "noop", "params": {"result": result}}), 202)
    app.state.jobs.worker.run_until_idle()
    shown = ok(api.get(f"/api/v1/jobs/{job['id']}"))
    assert same_json(shown["params"], {"result": result}) and same_json(shown["result"], {"result": result}), shown


def _any_value(value: Any) -> dict[str, Any]:
    """A JSON value as an OTLP JSON AnyValue (null as the empty AnyValue)."""
    if value is None:
        return {}
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, list):
        return {"arrayValue": {"values": [_any_value(v) for v in value]}}
    return {"kvlistValue": {"values": [{"key": k, "value": _any_value(v)} for k, v in value.items()]}}


@EXAMPLES
@given(value=json_values(max_int=2**63 - 1))  # OTLP integers are int64
def test_span_attributes_round_trip(api, value):
    trace, sid = trace_id(), span_id()
    one = span(trace, sid, "step", 0, 1)
    one["attributes"] = [{"key": "test.value", "value": _any_value(value)}]
    send(api, [one])
    shown = ok(api.get(f"/api/v1/traces/{trace}/spans/{sid}"))
    assert same_json(shown["attributes"].get("test.value"), value), shown["attributes"]
