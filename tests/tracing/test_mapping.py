"""Attribute mapping without a database: OpenInference, OpenLLMetry and GenAI semconv attributes become
columns; costs, statuses, truncation and odd values are handled; OTLP JSON decoding details."""

from __future__ import annotations

import gzip

import orjson
import pytest

from stackwright.core.errors import InvalidInput, PayloadTooLarge
from stackwright.tracing import otlp
from stackwright.tracing.mapping import TRUNCATION_MARKER, to_row
from stackwright.tracing.pricing import Pricer
from tests.tracing.otlp_payloads import export_json, new_span_id, new_trace_id, span_json


def mapped(attributes: dict, *, max_chars: int = 10_000, pricer=None, **span_fields) -> dict:
    """One JSON span through the real decoder and mapper."""
    span = span_json(new_trace_id(), new_span_id(), "s", attributes=attributes, **span_fields)
    (decoded,) = otlp.decode(orjson.dumps(export_json(span)), "application/json")
    return to_row(decoded, 0, "prj", max_chars, pricer or Pricer())


def test_openinference_llm_span():
    row = mapped({
        "openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini", "llm.provider": "openai",
        "llm.token_count.prompt": 1000, "llm.token_count.completion": 500, "session.id": "s1", "user.id": "u1",
        "llm.input_messages.0.message.role": "system", "llm.input_messages.0.message.content": "Be brief.",
        "llm.input_messages.1.message.role": "user", "llm.input_messages.1.message.content": "Hi?",
        "llm.output_messages.0.message.role": "assistant", "llm.output_messages.0.message.content": "Hello.",
        "stackwright.prompt.name": "greet", "stackwright.prompt.version": "3", "stackwright.route": "chat",
    })  # fmt: skip
    assert (row["kind"], row["model"], row["provider"]) == ("llm", "gpt-4o-mini", "openai")
    assert (row["input_tokens"], row["output_tokens"], row["total_tokens"]) == (1000, 500, 1500)
    assert row["cost"] == pytest.approx(1000 * 0.15e-6 + 500 * 0.6e-6)  # genai-prices
    assert orjson.loads(row["input"]) == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"}]
    assert orjson.loads(row["output"]) == [{"role": "assistant", "content": "Hello."}]
    assert (row["session_id"], row["user_id"], row["service_name"]) == ("s1", "u1", "test-service")
    assert (row["prompt_name"], row["prompt_version"], row["route"]) == ("greet", "3", "chat")


def test_openinference_retriever_documents():
    row = mapped({
        "openinference.span.kind": "RETRIEVER", "input.value": "refund policy",
        "retrieval.documents.1.document.id": "d2", "retrieval.documents.1.document.score": 0.5,
        "retrieval.documents.0.document.id": "d1", "retrieval.documents.0.document.score": 0.9,
        "retrieval.documents.0.document.content": "Refunds within 30 days.",
    })  # fmt: skip
    assert row["kind"] == "retrieval" and row["input"] == "refund policy"
    assert row["documents"] == [{"id": "d1", "score": 0.9, "content": "Refunds within 30 days."}, {"id": "d2", "score": 0.5}]


def test_genai_semconv_span():
    row = mapped({
        "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini", "gen_ai.system": "openai",
        "gen_ai.usage.input_tokens": 200, "gen_ai.usage.output_tokens": 20, "gen_ai.conversation.id": "conv-9",
    })  # fmt: skip
    assert (row["kind"], row["model"], row["provider"], row["session_id"]) == ("llm", "gpt-4o-mini", "openai", "conv-9")
    assert (row["input_tokens"], row["output_tokens"], row["total_tokens"]) == (200, 20, 220)
    assert row["cost"] == pytest.approx(200 * 0.15e-6 + 20 * 0.6e-6)
    assert mapped({"gen_ai.operation.name": "embeddings"})["kind"] == "embedding"
    assert mapped({"gen_ai.operation.name": "execute_tool"})["kind"] == "tool"


def test_genai_response_model_wins_over_request_model():
    row = mapped({"gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o-mini-2024-07-18"})
    assert row["model"] == "gpt-4o-mini-2024-07-18"


def test_openllmetry_span():
    row = mapped({
        "llm.request.type": "chat", "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": "What is 2+2?",
        "gen_ai.completion.0.role": "assistant", "gen_ai.completion.0.content": "4",
        "gen_ai.usage.prompt_tokens": 12, "gen_ai.usage.completion_tokens": 1,
        "traceloop.association.properties.user_id": "u-7",
    })  # fmt: skip
    assert (row["kind"], row["model"], row["provider"], row["user_id"]) == ("llm", "gpt-4o-mini", "openai", "u-7")
    assert orjson.loads(row["input"]) == [{"role": "user", "content": "What is 2+2?"}]
    assert orjson.loads(row["output"]) == [{"role": "assistant", "content": "4"}]
    assert (row["input_tokens"], row["output_tokens"]) == (12, 1)
    assert mapped({"traceloop.span.kind": "workflow", "traceloop.entity.input": '{"q": 1}'})["kind"] == "chain"
    assert mapped({"traceloop.span.kind": "tool"})["kind"] == "tool"
    assert mapped({})["kind"] == "unknown"


def test_given_cost_wins_and_overrides_and_unknown_models():
    tokens = {"llm.model_name": "gpt-4o-mini", "llm.token_count.prompt": 1000, "llm.token_count.completion": 0}
    assert mapped({**tokens, "stackwright.cost": 0.5})["cost"] == 0.5
    assert mapped({**tokens, "stackwright.cost": 0})["cost"] == 0  # zero is a cost, not "missing"
    override = Pricer({"gpt-4o-mini": {"input_per_mtok": 2.0, "output_per_mtok": 4.0}})
    assert mapped(tokens, pricer=override)["cost"] == pytest.approx(1000 * 2e-6)
    assert mapped({**tokens, "llm.model_name": "no-such-model-xyz"})["cost"] is None
    assert mapped({"llm.model_name": "gpt-4o-mini"})["cost"] is None  # no tokens, no cost


def test_odd_numbers_are_not_mapped_but_kept():
    row = mapped({"llm.token_count.prompt": "lots", "llm.token_count.completion": 2**40, "stackwright.cost": "inf"})
    assert (row["input_tokens"], row["output_tokens"], row["cost"]) == (None, None, None)
    assert row["attributes"]["llm.token_count.prompt"] == "lots"
    assert mapped({"llm.token_count.prompt": -5})["input_tokens"] is None


def test_error_status_and_message_from_an_exception_event():
    event = {"name": "exception", "timeUnixNano": "1", "attributes": [
        {"key": "exception.type", "value": {"stringValue": "ValueError"}},
        {"key": "exception.message", "value": {"stringValue": "bad things"}},
    ]}  # fmt: skip
    row = mapped({}, events=[event])
    assert (row["status"], row["status_message"]) == ("error", "bad things")
    assert row["events"][0]["name"] == "exception"
    assert mapped({}, status={"code": 2, "message": "explicit"})["status_message"] == "explicit"
    assert mapped({}, status={"code": "STATUS_CODE_OK"})["status"] == "ok"
    assert mapped({})["status"] == "unset"


def test_truncation_keeps_a_marker_and_counts_what_was_cut():
    long = "x" * 1000
    row = mapped({"input.value": long, "output.value": "short", "other": long, "n": 5}, max_chars=256)
    marker = TRUNCATION_MARKER.format(n=744)
    assert row["input"] == "x" * 256 + marker and row["output"] == "short"
    assert row["attributes"] == {"input.value": "x" * 256 + marker, "output.value": "short", "other": "x" * 256 + marker, "n": 5}


def test_times_and_parents():
    row = mapped({}, start=500, duration=-400)  # end before start: clamped, never negative
    assert row["end_ns"] == row["start_ns"] and row["duration_ms"] == 0
    assert mapped({}, parent="0" * 16)["parent_span_id"] is None  # all-zero parent = root


def test_json_decoding_details():
    trace_id, span_id = new_trace_id().upper(), new_span_id().upper()
    span = span_json(trace_id, span_id, "j", attributes={"i": 7, "f": 1.5, "b": True, "s": "x"})
    span["attributes"].append({"key": "arr", "value": {"arrayValue": {"values": [{"intValue": "1"}, {"stringValue": "a"}]}}})
    span["attributes"].append({"key": "kv", "value": {"kvlistValue": {"values": [{"key": "k", "value": {"boolValue": False}}]}}})
    (decoded,) = otlp.decode(orjson.dumps(export_json(span)), "application/json; charset=utf-8")
    assert (decoded["trace_id"], decoded["span_id"]) == (trace_id.lower(), span_id.lower())
    assert decoded["attributes"] == {"i": 7, "f": 1.5, "b": True, "s": "x", "arr": [1, "a"], "kv": {"k": False}}
    assert otlp.decode(b"{}", "application/json") == []
    assert otlp.decode(b"", "application/x-protobuf") == []


@pytest.mark.parametrize(
    "body",
    [b'{"resourceSpans": 5}', b'{"resourceSpans": [{"scopeSpans": [{"spans": ["x"]}]}]}', b'"text"', b"\xff\xfe"],
)
def test_json_shape_errors_are_invalid_input(body):
    with pytest.raises(InvalidInput):
        otlp.decode(body, "application/json")


def test_decompress_limits():
    assert otlp.decompress(gzip.compress(b"a" * 100), "gzip", 100) == b"a" * 100
    assert otlp.decompress(gzip.compress(b"ab") + gzip.compress(b"cd"), "GZIP", 100) == b"abcd"
    with pytest.raises(PayloadTooLarge):
        otlp.decompress(gzip.compress(b"a" * 101), "gzip", 100)
    with pytest.raises(PayloadTooLarge):
        otlp.decompress(gzip.compress(b"a" * 60) + gzip.compress(b"b" * 60), "gzip", 100)
    with pytest.raises(InvalidInput):
        otlp.decompress(gzip.compress(b"a" * 100)[:-4], "gzip", 1000)
    assert otlp.decompress(b"raw", "identity", 10) == b"raw"
    assert otlp.decompress(b"raw", None, 10) == b"raw"
