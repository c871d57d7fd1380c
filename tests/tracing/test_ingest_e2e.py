"""The real `stackwright serve` fed by real clients: the OpenTelemetry OTLP/HTTP protobuf exporter (on SQLite
and Postgres), and a kill -9 in the middle of concurrent exports (no acknowledged span may be lost)."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest

from stackwright.core.config import Settings
from stackwright.core.db import Database
from tests.conftest import TEST_API_KEY
from tests.e2e.serverproc import ServerProcess, clean_env, free_ports
from tests.tracing.otlp_payloads import count, export_json, json_value, new_span_id, new_trace_id, rows, span_json

pytestmark = pytest.mark.e2e


def _server(tmp_path: Path, database_url: str, name: str = "server") -> ServerProcess:
    env = clean_env(home=tmp_path / "home", database_url=database_url, init_api_key=TEST_API_KEY, log_level="warning")
    return ServerProcess(tmp_path / "run", env, free_ports()[0], name=name)


def _database(tmp_path: Path, database_url: str) -> Database:
    return Database(Settings(home=tmp_path / "home", database_url=database_url))


def _instrumented_app(tracer) -> None:
    """What an app instrumented with OpenInference, the GenAI semconv and OpenLLMetry emits."""
    from opentelemetry.trace import Status, StatusCode

    with tracer.start_as_current_span("answer_question") as root:
        root.set_attributes({"openinference.span.kind": "CHAIN", "input.value": "How do refunds work?",
                             "output.value": "Within 30 days.", "session.id": "sess-1", "user.id": "user-1"})  # fmt: skip
        with tracer.start_as_current_span("retrieve") as span:
            span.set_attributes({
                "openinference.span.kind": "RETRIEVER", "input.value": "refunds",
                "retrieval.documents.0.document.id": "kb-12", "retrieval.documents.0.document.score": 0.87,
                "retrieval.documents.0.document.content": "Refunds are accepted within 30 days.",
                "retrieval.documents.1.document.id": "kb-40", "retrieval.documents.1.document.score": 0.42,
            })  # fmt: skip
        with tracer.start_as_current_span("ChatCompletion") as span:
            span.set_attributes({
                "openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini", "llm.provider": "openai",
                "llm.token_count.prompt": 1000, "llm.token_count.completion": 500,
                "llm.input_messages.0.message.role": "user", "llm.input_messages.0.message.content": "How do refunds work?",
                "output.value": "Within 30 days.",
            })  # fmt: skip
        with tracer.start_as_current_span("chat gpt-4o-mini") as span:
            span.set_attributes({"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini",
                                 "gen_ai.usage.input_tokens": 40, "gen_ai.usage.output_tokens": 8, "stackwright.cost": 0.125})
        with tracer.start_as_current_span("openai.chat") as span:
            span.set_attributes({"traceloop.span.kind": "task", "llm.request.type": "chat", "gen_ai.system": "openai",
                                 "gen_ai.request.model": "gpt-4o-mini", "gen_ai.prompt.0.role": "user",
                                 "gen_ai.prompt.0.content": "Summarise the policy."})  # fmt: skip
        with tracer.start_as_current_span("workflow") as span:
            span.set_attribute("traceloop.span.kind", "workflow")
        with tracer.start_as_current_span("lookup_order") as span:
            span.set_attribute("openinference.span.kind", "TOOL")
            span.record_exception(ValueError("order service timed out"))
        root.set_status(Status(StatusCode.OK))


def _read_back_through_the_api(api) -> None:
    """The same spans as the query API shows them: list, tree, span bodies, with the mapped columns."""
    listed = api.get("/api/v1/traces", params={"session_id": "sess-1"}).json()["data"]
    assert len(listed) == 2
    for trace in listed:
        assert (trace["name"], trace["span_count"], trace["status"], trace["model"]) == ("answer_question", 7, "error", "gpt-4o-mini")
        assert (trace["user_id"], trace["service_name"], trace["input_tokens"], trace["output_tokens"]) == ("user-1", "support-bot", 1040, 508)
    assert api.get("/api/v1/traces", params={"model": "gpt-4o-mini", "status": "error"}).json()["data"]
    detail = api.get(f"/api/v1/traces/{listed[0]['trace_id']}").json()
    by_name = {span["name"]: span for span in detail["spans"]}
    assert by_name["answer_question"]["depth"] == 0 and by_name["retrieve"]["depth"] >= 1
    assert by_name["lookup_order"]["status"] == "error"
    llm = api.get(f"/api/v1/traces/{listed[0]['trace_id']}/spans/{by_name['ChatCompletion']['span_id']}").json()
    assert (llm["kind"], llm["model"], llm["provider"], llm["input_tokens"], llm["output_tokens"]) == ("llm", "gpt-4o-mini", "openai", 1000, 500)
    assert "How do refunds work?" in llm["input"] and llm["attributes"]["llm.model_name"] == "gpt-4o-mini"
    retriever = api.get(f"/api/v1/traces/{listed[0]['trace_id']}/spans/{by_name['retrieve']['span_id']}").json()
    assert [doc["id"] for doc in retriever["documents"]] == ["kb-12", "kb-40"]


def test_the_real_otlp_exporter_against_the_real_server(tmp_path, database_url):
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult

    results: list = []

    class Recording(OTLPSpanExporter):
        def export(self, spans):
            results.append(super().export(spans))
            return results[-1]

    with _server(tmp_path, database_url) as server:
        server.wait_ready()
        providers = []
        for compression in (Compression.NoCompression, Compression.Gzip):
            exporter = Recording(
                endpoint=f"{server.base_url}/v1/traces", headers={"Authorization": f"Bearer {TEST_API_KEY}"},
                compression=compression, timeout=30,
            )  # fmt: skip
            provider = TracerProvider(resource=Resource.create({"service.name": "support-bot"}))
            provider.add_span_processor(BatchSpanProcessor(exporter))
            _instrumented_app(provider.get_tracer("e2e"))
            assert provider.force_flush(30_000)
            providers.append(provider)
        for provider in providers:
            provider.shutdown()
        assert results and all(r == SpanExportResult.SUCCESS for r in results), (results, server.stderr)
        with server.client(TEST_API_KEY) as api:
            _read_back_through_the_api(api)
        assert server.interrupt() == 0

    db = _database(tmp_path, database_url)
    try:
        assert count(db, "spans") == 14 and count(db, "traces") == 2
        spans = {}
        for row in rows(db, "spans"):
            spans.setdefault(row["name"], []).append(row)
        assert all(len(v) == 2 for v in spans.values()) and len(spans) == 7
        llm = spans["ChatCompletion"][0]
        assert (llm["kind"], llm["model"], llm["provider"], llm["service_name"]) == ("llm", "gpt-4o-mini", "openai", "support-bot")
        assert (llm["input_tokens"], llm["output_tokens"], llm["total_tokens"]) == (1000, 500, 1500)
        assert llm["cost"] == pytest.approx(1000 * 0.15e-6 + 500 * 0.6e-6)
        assert "How do refunds work?" in llm["input"] and llm["output"] == "Within 30 days."
        retriever = spans["retrieve"][0]
        assert retriever["kind"] == "retrieval"
        assert json_value(retriever["documents"]) == [
            {"id": "kb-12", "score": 0.87, "content": "Refunds are accepted within 30 days."},
            {"id": "kb-40", "score": 0.42},
        ]
        genai = spans["chat gpt-4o-mini"][0]
        assert (genai["kind"], genai["model"], genai["input_tokens"], genai["output_tokens"]) == ("llm", "gpt-4o-mini", 40, 8)
        assert genai["cost"] == 0.125  # the span's own cost wins over the catalog
        openllmetry = spans["openai.chat"][0]
        assert (openllmetry["kind"], openllmetry["provider"], openllmetry["model"]) == ("llm", "openai", "gpt-4o-mini")
        assert "Summarise the policy." in openllmetry["input"]
        assert spans["workflow"][0]["kind"] == "chain"
        tool = spans["lookup_order"][0]
        assert (tool["kind"], tool["status"], tool["status_message"]) == ("tool", "error", "order service timed out")
        root = spans["answer_question"][0]
        assert (root["session_id"], root["user_id"], root["parent_span_id"], root["status"]) == ("sess-1", "user-1", None, "ok")
        for trace in rows(db, "traces"):
            assert (trace["name"], trace["span_count"], trace["error_count"], trace["status"]) == ("answer_question", 7, 1, "error")
            assert (trace["session_id"], trace["user_id"], trace["service_name"]) == ("sess-1", "user-1", "support-bot")
            assert (trace["input_tokens"], trace["output_tokens"]) == (1040, 508)
            assert trace["cost"] == pytest.approx(1000 * 0.15e-6 + 500 * 0.6e-6 + 0.125)
            assert trace["input"] == "How do refunds work?"
    finally:
        db.dispose()


def test_acknowledged_spans_survive_kill_9(tmp_path):
    database_url = f"sqlite:///{tmp_path / 'home' / 'stackwright.db'}"
    acknowledged: list[list[tuple[str, str]]] = []
    lock, enough, stop = threading.Lock(), threading.Event(), threading.Event()

    def exporter(server: ServerProcess) -> None:
        with server.client(TEST_API_KEY) as client:
            while not stop.is_set():
                trace_id = new_trace_id()
                ids = [(trace_id, new_span_id()) for _ in range(50)]
                payload = export_json(*(span_json(t, s, "work", attributes={"i": n}) for n, (t, s) in enumerate(ids)))
                try:
                    response = client.post("/v1/traces", json=payload)
                except httpx.TransportError:
                    return  # the server is gone: this batch was never acknowledged
                if response.status_code == 200:
                    with lock:
                        acknowledged.append(ids)
                        if len(acknowledged) >= 40:
                            enough.set()

    server = _server(tmp_path, database_url).start().wait_ready()
    threads = [threading.Thread(target=exporter, args=(server,)) for _ in range(4)]
    try:
        for thread in threads:
            thread.start()
        assert enough.wait(120), server.stderr
        server.proc.kill()  # SIGKILL while the exporters are still sending
        server.proc.wait(30)
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
        server.kill()
    with lock:
        acked = [ids for ids in acknowledged]

    restarted = _server(tmp_path, database_url, name="restarted")
    with restarted:
        restarted.wait_ready()
        db = _database(tmp_path, database_url)
        try:
            stored = {(r["trace_id"], r["span_id"]) for r in rows(db, "spans")}
            missing = [ids for ids in acked if not set(ids) <= stored]
            assert not missing, f"{len(missing)} of {len(acked)} acknowledged batches lost spans"
            for ids in acked:
                (trace,) = rows(db, "traces", "trace_id = :t", t=ids[0][0])
                assert trace["span_count"] == 50
        finally:
            db.dispose()
        assert restarted.interrupt() == 0
