"""POST /v1/traces in process, on SQLite and Postgres: formats, bad input, isolation, dedupe, trace
summaries, truncation and backpressure. Stored rows are read back with SQL."""

from __future__ import annotations

import asyncio
import gzip

import orjson
import pytest
from sqlalchemy import select

from stackwright.auth import keys, service
from stackwright.auth.actors import SYSTEM
from stackwright.auth.models import Project
from stackwright.core.config import Settings
from stackwright.tracing.mapping import TRUNCATION_MARKER
from stackwright.tracing.writer import IngestBusy, SpanWriter
from tests.conftest import TEST_API_KEY, assert_error
from tests.tracing.otlp_payloads import (
    T0,
    count,
    export_json,
    gz,
    json_value,
    new_span_id,
    new_trace_id,
    protobuf_body,
    rows,
    span_json,
)  # fmt: skip

JSON = {"Content-Type": "application/json"}
PROTOBUF = {"Content-Type": "application/x-protobuf"}


def post_json(client, payload, **headers):
    return client.post("/v1/traces", json=payload, headers=headers)


def make_key(db, scopes, project_name=None):
    """A raw key with ``scopes`` in the default project, or in a new project named ``project_name``."""
    with db.write() as s:
        if project_name:
            project_id = service.create_project(s, SYSTEM, project_name, "").id
        else:
            project_id = s.scalar(select(Project.id).where(Project.name == "default"))
        _, raw = keys.create_key(s, SYSTEM, project_id, "tracing test", scopes)
        return project_id, raw


def test_otlp_json_with_hex_ids_and_string_ints(api, prepared):
    trace_id, root, child = new_trace_id(), new_span_id(), new_span_id()
    payload = export_json(
        span_json(trace_id, root, "root", duration=5000, attributes={"input.value": "hi", "output.value": "ho"}),
        span_json(trace_id, child, "llm", parent=root, start=100, duration=2000, attributes={
            "openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini", "llm.provider": "openai",
            "llm.token_count.prompt": 1000, "llm.token_count.completion": 500,
        }, status={"code": "STATUS_CODE_OK"}),  # fmt: skip
    )
    response = post_json(api, payload)
    assert response.status_code == 200, response.text
    assert response.json() == {}
    (llm,) = rows(prepared, "spans", "span_id = :s", s=child)
    assert (llm["trace_id"], llm["parent_span_id"], llm["kind"], llm["status"]) == (trace_id, root, "llm", "ok")
    assert (llm["input_tokens"], llm["output_tokens"], llm["total_tokens"]) == (1000, 500, 1500)
    assert llm["cost"] == pytest.approx(1000 * 0.15e-6 + 500 * 0.6e-6)
    assert (llm["start_ns"], llm["end_ns"], llm["service_name"]) == (T0 + 100, T0 + 2100, "test-service")
    (trace,) = rows(prepared, "traces", "trace_id = :t", t=trace_id)
    assert (trace["name"], trace["root_span_id"], trace["span_count"], trace["input"]) == ("root", root, 2, "hi")
    assert trace["total_tokens"] == 1500 and trace["model"] == "gpt-4o-mini"


@pytest.mark.parametrize("fmt", ["protobuf", "json"])
def test_gzip_bodies(api, prepared, fmt):
    trace_id, span_id = new_trace_id(), new_span_id()
    if fmt == "json":
        body, headers = orjson.dumps(export_json(span_json(trace_id, span_id, "zipped"))), JSON
    else:
        def build(tracer):
            with tracer.start_as_current_span("zipped", attributes={"gen_ai.request.model": "gpt-4o-mini"}):
                pass

        body, headers = protobuf_body(build), PROTOBUF
    response = api.post("/v1/traces", content=gz(body), headers={**headers, "Content-Encoding": "gzip"})
    assert response.status_code == 200, response.text
    if fmt == "protobuf":
        assert response.headers["content-type"] == "application/x-protobuf"
        (stored,) = rows(prepared, "spans")
        assert (stored["name"], stored["model"], stored["service_name"]) == ("zipped", "gpt-4o-mini", "pb-service")
    else:
        assert [r["name"] for r in rows(prepared, "spans", "span_id = :s", s=span_id)] == ["zipped"]


def _valid_json() -> dict:
    return export_json(span_json(new_trace_id(), new_span_id()))


def _bad_bodies():
    good = orjson.dumps(_valid_json())
    two = export_json(span_json(new_trace_id(), new_span_id(), "fine"), span_json("0" * 32, new_span_id(), "zero trace"))
    return [
        ("malformed protobuf", b"\x0a\xff\xff\xff\xff\x0f", PROTOBUF, 400),
        ("malformed json", b'{"resourceSpans": [', JSON, 400),
        ("json not an object", b"[1, 2]", JSON, 400),
        ("wrong content type", good, {"Content-Type": "text/plain"}, 415),
        ("no content type", good, {}, 415),
        ("unsupported encoding", good, {**JSON, "Content-Encoding": "br"}, 415),
        ("bad gzip", b"certainly not gzip", {**JSON, "Content-Encoding": "gzip"}, 400),
        ("truncated gzip", gzip.compress(good)[:-12], {**JSON, "Content-Encoding": "gzip"}, 400),
        ("zero trace id", orjson.dumps(two), JSON, 400),
        ("missing span id", orjson.dumps(export_json({**span_json(new_trace_id(), new_span_id()), "spanId": ""})), JSON, 400),
        ("short trace id", orjson.dumps(export_json(span_json("abcd" * 4, new_span_id()))), JSON, 400),
        ("non-hex trace id", orjson.dumps(export_json(span_json("-" + "a" * 31, new_span_id()))), JSON, 400),
        ("huge int attribute", orjson.dumps(export_json({**span_json(new_trace_id(), new_span_id()),
                                                         "attributes": [{"key": "n", "value": {"intValue": "9" * 30}}]})),
         JSON, 400),  # fmt: skip
        ("time out of range", orjson.dumps(export_json({**span_json(new_trace_id(), new_span_id()),
                                                        "endTimeUnixNano": str(2**64)})), JSON, 400),  # fmt: skip
    ]


@pytest.mark.parametrize("case", _bad_bodies(), ids=lambda c: c[0] if isinstance(c, tuple) else None)
def test_bad_input_is_refused_whole(api, prepared, case):
    _, body, headers, status = case
    error = assert_error(api.post("/v1/traces", content=body, headers=headers), status)
    assert len(error["message"]) > 20
    assert count(prepared, "spans") == 0 and count(prepared, "traces") == 0


def test_protobuf_span_without_ids_is_refused(api, prepared):
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add()
    spans.spans.add(trace_id=bytes.fromhex(new_trace_id()), span_id=bytes.fromhex(new_span_id()), name="ok")
    spans.spans.add(trace_id=b"", span_id=bytes.fromhex(new_span_id()), name="no trace id")
    error = assert_error(api.post("/v1/traces", content=request.SerializeToString(), headers=PROTOBUF), 400)
    assert "no trace id" in error["message"]
    assert count(prepared, "spans") == 0


def test_oversized_bodies_and_gzip_bombs_answer_413(settings, prepared):
    import httpx

    from stackwright.sdk.transport import InProcessTransport
    from stackwright.server.app import create_app

    app = create_app(settings.model_copy(update={"max_body_bytes": 4096}), prepared)
    headers = {"Authorization": f"Bearer {TEST_API_KEY}", **JSON}
    with httpx.Client(transport=InProcessTransport(app), base_url="http://t", headers=headers) as client:
        big = export_json(span_json(new_trace_id(), new_span_id(), attributes={"input.value": "x" * 10_000}))
        assert_error(client.post("/v1/traces", json=big), 413)
        bomb = gzip.compress(b'{"resourceSpans": [], "pad": "' + b" " * 1_000_000 + b'"}')
        assert len(bomb) < 4096
        assert_error(client.post("/v1/traces", content=bomb, headers={"Content-Encoding": "gzip"}), 413)
        two_members = gzip.compress(b'{"resourceSpans": [') + gzip.compress(b"]}")  # one valid gzip body
        assert client.post("/v1/traces", content=two_members, headers={"Content-Encoding": "gzip"}).status_code == 200
    assert count(prepared, "spans") == 0


def test_keys_without_write_scope_are_refused(anon, api, prepared):
    payload = _valid_json()
    assert_error(post_json(anon, payload), 401)
    assert_error(post_json(anon, payload, Authorization="Bearer sw-not-a-real-key-0123456789"), 401)
    _, reader = make_key(prepared, ["read"])
    assert_error(post_json(anon, payload, Authorization=f"Bearer {reader}"), 403)
    assert count(prepared, "spans") == 0


def test_spans_land_in_the_keys_project_only(api, prepared):
    other_id, other_key = make_key(prepared, ["write"], project_name="other")
    trace_id, span_id = new_trace_id(), new_span_id()
    payload = export_json(span_json(trace_id, span_id, "theirs", attributes={"user.id": "u1"}))
    assert post_json(api, payload, Authorization=f"Bearer {other_key}").status_code == 200
    assert {r["project_id"] for r in rows(prepared, "spans")} == {other_id}
    assert {r["project_id"] for r in rows(prepared, "traces")} == {other_id}
    # The same ids sent with the default project's key are a different span, in the default project.
    assert post_json(api, payload).status_code == 200
    stored = rows(prepared, "spans", "span_id = :s", s=span_id)
    assert len(stored) == 2 and len({r["project_id"] for r in stored}) == 2
    assert count(prepared, "traces", "trace_id = :t", t=trace_id) == 2


def test_resent_spans_do_not_duplicate_or_double_sums(api, prepared):
    trace_id, span_id = new_trace_id(), new_span_id()
    llm = span_json(trace_id, span_id, "llm", attributes={
        "gen_ai.request.model": "gpt-4o-mini", "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 5,
        "stackwright.cost": 0.25,
    })  # fmt: skip
    assert post_json(api, export_json(llm, llm)).status_code == 200  # twice in one request
    assert post_json(api, export_json(llm)).status_code == 200  # and again later
    assert count(prepared, "spans") == 1
    (trace,) = rows(prepared, "traces")
    assert (trace["span_count"], trace["input_tokens"], trace["output_tokens"], trace["total_tokens"]) == (1, 10, 5, 15)
    assert trace["cost"] == pytest.approx(0.25)


def test_a_trace_sent_in_pieces_has_a_correct_summary(api, prepared):
    trace_id, root, a, b = new_trace_id(), new_span_id(), new_span_id(), new_span_id()
    tokens = {"llm.model_name": "gpt-4o-mini", "llm.token_count.prompt": 100, "llm.token_count.completion": 10}
    child_b = span_json(trace_id, b, "b", parent=a, start=300, duration=900, attributes={**tokens, "stackwright.cost": 1.5},
                        status={"code": 2, "message": "boom"})  # fmt: skip
    child_a = span_json(trace_id, a, "a", parent=root, start=200, duration=2000,
                        attributes={**tokens, "stackwright.cost": 0.5})  # fmt: skip
    root_span = span_json(trace_id, root, "the root", start=100, duration=5000,
                          attributes={"input.value": "question", "session.id": "s-1"})  # fmt: skip
    for piece in ([child_b], [child_a, child_b], [root_span]):  # children first, one re-sent, root last
        assert post_json(api, export_json(*piece)).status_code == 200
    (trace,) = rows(prepared, "traces")
    assert (trace["name"], trace["root_span_id"], trace["span_count"], trace["error_count"]) == ("the root", root, 3, 1)
    assert (trace["start_ns"], trace["end_ns"]) == (T0 + 100, T0 + 5100)
    assert trace["duration_ms"] == pytest.approx(5000 / 1e6)
    assert (trace["input_tokens"], trace["output_tokens"], trace["total_tokens"]) == (200, 20, 220)
    assert trace["cost"] == pytest.approx(2.0)
    assert (trace["status"], trace["input"], trace["session_id"], trace["model"]) == ("error", "question", "s-1", "gpt-4o-mini")


def test_over_long_values_are_truncated_with_the_marker(settings, prepared):
    import httpx

    from stackwright.sdk.transport import InProcessTransport
    from stackwright.server.app import create_app

    app = create_app(settings.model_copy(update={"max_attribute_chars": 300}), prepared)
    long = "é" * 1000
    span_id = new_span_id()
    payload = export_json(span_json(new_trace_id(), span_id, "n" * 2000, attributes={
        "input.value": long, "custom.note": long, "retrieval.documents.0.document.content": long,
        "retrieval.documents.0.document.id": "doc-1",
    }))  # fmt: skip
    headers = {"Authorization": f"Bearer {TEST_API_KEY}"}
    with httpx.Client(transport=InProcessTransport(app), base_url="http://t", headers=headers) as client:
        assert client.post("/v1/traces", json=payload).status_code == 200
    (span,) = rows(prepared, "spans")
    marker = TRUNCATION_MARKER.format(n=700)
    assert span["input"] == "é" * 300 + marker
    assert json_value(span["attributes"])["custom.note"] == "é" * 300 + marker
    assert json_value(span["documents"]) == [{"id": "doc-1", "content": "é" * 300 + marker}]
    assert span["name"].startswith("n" * 480) and "truncated 1520 chars" in span["name"] and len(span["name"]) <= 512


def test_backpressure_answers_429_and_loses_nothing_acknowledged(prepared, default_project_id):
    writer = SpanWriter(prepared, max_queued_spans=1000)
    batches = [
        [{**_row(default_project_id), "trace_id": new_trace_id(), "span_id": new_span_id()} for _ in range(300)]
        for _ in range(12)
    ]

    async def main():
        results = await asyncio.gather(*(writer.submit(b) for b in batches), return_exceptions=True)
        await writer.close()
        return results

    results = asyncio.run(main())
    busy = [r for r in results if isinstance(r, IngestBusy)]
    done = [b for b, r in zip(batches, results, strict=True) if r == 300]
    assert busy and done and len(busy) + len(done) == len(batches), results
    assert busy[0].details == {"retry_after_s": 1} and "queue is full" in busy[0].message
    stored = {r["span_id"] for r in rows(prepared, "spans")}
    assert stored == {row["span_id"] for batch in done for row in batch}


def test_a_full_queue_answers_429_with_retry_after(api, app, prepared):
    app.state.span_writer.queued_spans = Settings.model_fields["ingest_queue_max_spans"].default  # as if busy
    try:
        response = post_json(api, _valid_json())
    finally:
        app.state.span_writer.queued_spans = 0
    error = assert_error(response, 429, "ingest_busy")
    assert response.headers["retry-after"] == "1" and "Retry" in error["message"]
    assert count(prepared, "spans") == 0
    assert post_json(api, _valid_json()).status_code == 200


@pytest.fixture
def default_project_id(prepared) -> str:
    with prepared.read() as s:
        return s.scalar(select(Project.id).where(Project.name == "default"))


def _row(project_id: str) -> dict:
    from stackwright.tracing.mapping import to_row
    from stackwright.tracing.otlp import _decode_json

    (span,) = _decode_json(orjson.dumps(export_json(span_json(new_trace_id(), new_span_id(), "queued"))))
    return to_row(span, 0, project_id, 1000, lambda *a: None)
