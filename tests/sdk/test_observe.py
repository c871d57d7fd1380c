"""The tracing SDK: ``observe`` on every kind of callable and as a context manager, span nesting, capture,
redaction, OpenInference attributes, and OTLP/HTTP export to a real local HTTP server (no Stackwright server)."""

from __future__ import annotations

import asyncio
import contextvars
import gzip
import http.server
import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from stackwright.sdk.observe import (
    InMemoryExporter,
    NoopSpan,
    Span,
    configure_tracing,
    current_span,
    dropped_spans,
    flush,
    observe,
)
from stackwright.sdk.observe.payload import TRUNCATED
from stackwright.sdk.observe.state import STATE

KEY = "sw-test-tracing-key-0123456789"
TRUNCATION_MARK = TRUNCATED.split("{}")[0]


@pytest.fixture(autouse=True)
def _tracing_off_afterwards() -> Iterator[None]:
    yield
    configure_tracing(enabled=False)
    STATE.config = None  # the next test starts unconfigured, as a fresh process does
    STATE.active = True


@pytest.fixture
def sink() -> InMemoryExporter:
    exporter = InMemoryExporter()
    assert configure_tracing(exporter=exporter, schedule_delay=0.05) is True
    return exporter


def finished(sink: InMemoryExporter) -> dict[str, Span]:
    assert flush(5) is True
    return {span.name: span for span in sink.spans}


# -- a local OTLP/HTTP receiver --------------------------------------------------------------------------------


class Receiver:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                body = gzip.decompress(raw) if self.headers.get("Content-Encoding") == "gzip" else raw
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": request})
                answer = ExportTraceServiceResponse().SerializeToString() if receiver.status == 200 else b"no"
                self.send_response(receiver.status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def spans(self) -> dict[str, Any]:
        return {
            span.name: span
            for request in self.requests
            for resource_spans in request["body"].resource_spans
            for scope_spans in resource_spans.scope_spans
            for span in scope_spans.spans
        }


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.server.shutdown()
    server.server.server_close()


def attrs(pb_span: Any) -> dict[str, Any]:
    out = {}
    for kv in pb_span.attributes:
        field = kv.value.WhichOneof("value")
        out[kv.key] = getattr(kv.value, field)
    return out


# -- the decorator on each kind of callable --------------------------------------------------------------------


def test_sync_function(sink: InMemoryExporter) -> None:
    @observe
    def add(a: int, b: int = 2) -> dict:
        return {"sum": a + b}

    assert add(1, b=5) == {"sum": 6}
    span = finished(sink)["test_sync_function.<locals>.add"]
    assert span.attributes["openinference.span.kind"] == "CHAIN"
    assert span.attributes["input.value"] == '{"a":1,"b":5}'
    assert span.attributes["input.mime_type"] == "application/json"
    assert span.attributes["output.value"] == '{"sum":6}'
    assert span.status_code == 1 and span.end_time >= span.start_time > 0


def test_async_function(sink: InMemoryExporter) -> None:
    @observe(name="fetch", kind="tool")
    async def fetch(url: str) -> str:
        await asyncio.sleep(0)
        return f"<html>{url}</html>"

    assert asyncio.run(fetch("x.org")) == "<html>x.org</html>"
    span = finished(sink)["fetch"]
    assert span.attributes["openinference.span.kind"] == "TOOL"
    assert span.attributes["output.value"] == "<html>x.org</html>"
    assert span.attributes["output.mime_type"] == "text/plain"


def test_generator_span_covers_the_iteration(sink: InMemoryExporter) -> None:
    @observe
    def step(i: int) -> int:
        return i * 10

    @observe(name="numbers")
    def numbers(n: int) -> Iterator[int]:
        for i in range(n):
            yield step(i)

    gen = numbers(3)
    assert sink.spans == [] and list(gen) == [0, 10, 20]
    spans = finished(sink)
    parent, steps = spans["numbers"], [s for s in sink.spans if s.name.endswith("step")]
    assert parent.attributes["output.value"] == "[0,10,20]"
    assert len(steps) == 3
    assert all(s.parent_span_id == parent.span_id and s.trace_id == parent.trace_id for s in steps)
    assert parent.start_time <= min(s.start_time for s in steps)
    assert parent.end_time >= max(s.end_time for s in steps)


def test_generator_send_throw_and_early_close(sink: InMemoryExporter) -> None:
    @observe(name="echo")
    def echo() -> Iterator[str]:
        received = "start"
        while True:
            try:
                received = yield received
            except KeyError:
                received = "recovered"

    gen = echo()
    assert next(gen) == "start"
    assert gen.send("hello") == "hello"
    assert gen.throw(KeyError("k")) == "recovered"
    gen.close()
    span = finished(sink)["echo"]
    assert span.attributes["output.value"] == "starthellorecovered"  # streamed text is joined
    assert span.status_code == 1


def test_async_generator(sink: InMemoryExporter) -> None:
    @observe(name="stream", kind="llm")
    async def stream(prompt: str):
        for token in ["Hel", "lo", "!"]:
            await asyncio.sleep(0)
            current_span().set_attribute("last_token", token)
            yield token

    async def consume() -> list[str]:
        return [token async for token in stream("hi")]

    assert asyncio.run(consume()) == ["Hel", "lo", "!"]
    span = finished(sink)["stream"]
    assert span.attributes["output.value"] == "Hello!"
    assert span.attributes["input.value"] == '{"prompt":"hi"}'
    assert span.attributes["last_token"] == "!"


def test_async_generator_closed_early(sink: InMemoryExporter) -> None:
    @observe(name="endless")
    async def endless():
        i = 0
        while True:
            yield i
            i += 1

    async def take_two() -> list[int]:
        agen, out = endless(), []
        async for item in agen:
            out.append(item)
            if len(out) == 2:
                break
        await agen.aclose()
        return out

    assert asyncio.run(take_two()) == [0, 1]
    assert finished(sink)["endless"].attributes["output.value"] == "[0,1]"


def test_methods_leave_out_self_and_cls(sink: InMemoryExporter) -> None:
    class Bot:
        @observe(name="reply")
        def reply(self, text: str) -> str:
            return text[::-1]

        @classmethod
        @observe(name="build")
        def build(cls, size: int) -> int:
            return size

    assert Bot().reply("abc") == "cba" and Bot.build(4) == 4
    spans = finished(sink)
    assert spans["reply"].attributes["input.value"] == '{"text":"abc"}'
    assert spans["build"].attributes["input.value"] == '{"size":4}'


def test_varargs_kwargs_and_unserializable_values(sink: InMemoryExporter) -> None:
    class Opaque:
        def __repr__(self) -> str:
            return "<Opaque thing>"

    @observe(name="mixed")
    def mixed(a, *rest, **extra):
        return {1, 2}

    mixed(1, 2, 3, flag=Opaque())
    span = finished(sink)["mixed"]
    assert span.attributes["input.value"] == '{"a":1,"rest":[2,3],"flag":"<Opaque thing>"}'
    assert sorted(eval(span.attributes["output.value"])) == [1, 2]


def test_capture_can_be_turned_off(sink: InMemoryExporter) -> None:
    @observe(name="secret", capture_input=False, capture_output=False)
    def secret(password: str) -> str:
        return password

    assert secret("hunter2") == "hunter2"
    span = finished(sink)["secret"]
    assert "input.value" not in span.attributes and "output.value" not in span.attributes


def test_unknown_kind_is_refused_at_decoration() -> None:
    with pytest.raises(ValueError, match="unknown span kind 'llmm'"):
        observe(kind="llmm")


# -- context managers and nesting -----------------------------------------------------------------------------


def test_context_managers(sink: InMemoryExporter) -> None:
    with observe("outer", kind="agent") as outer:
        outer.set_input({"goal": "refund"})
        assert current_span() is outer
        with observe("inner", kind="retrieval") as inner:
            inner.set_output(["doc-1"])
    assert current_span().is_recording is False  # back outside every span

    async def run() -> None:
        async with observe("async-block", kind="embedding") as span:
            span.set_attributes({"embedding.model_name": "wordllama", "dims": 64})

    asyncio.run(run())
    spans = finished(sink)
    assert spans["outer"].attributes["input.value"] == '{"goal":"refund"}'
    assert spans["outer"].attributes["openinference.span.kind"] == "AGENT"
    assert spans["inner"].parent_span_id == spans["outer"].span_id
    assert spans["inner"].trace_id == spans["outer"].trace_id
    assert spans["inner"].attributes["openinference.span.kind"] == "RETRIEVER"
    assert spans["async-block"].attributes["dims"] == 64
    assert spans["async-block"].trace_id != spans["outer"].trace_id


def test_nesting_ids(sink: InMemoryExporter) -> None:
    @observe
    def leaf() -> None:
        pass

    @observe
    def root() -> None:
        leaf()
        leaf()

    root()
    root()
    spans = sink.spans if flush(5) else []
    roots = [s for s in spans if s.name.endswith("root")]
    leaves = [s for s in spans if s.name.endswith("leaf")]
    assert len(roots) == 2 and len(leaves) == 4
    assert roots[0].trace_id != roots[1].trace_id
    for r in roots:
        assert r.parent_span_id == 0 and len(r.trace_id_hex) == 32 and len(r.span_id_hex) == 16
        children = [s for s in leaves if s.parent_span_id == r.span_id]
        assert len(children) == 2 and all(c.trace_id == r.trace_id for c in children)
    assert len({s.span_id for s in spans}) == 6


def test_nesting_across_asyncio_tasks(sink: InMemoryExporter) -> None:
    @observe
    async def worker(n: int) -> int:
        await asyncio.sleep(0.01 * (3 - n))
        return n

    @observe
    async def fan_out() -> list[int]:
        return list(await asyncio.gather(*(worker(i) for i in range(3))))

    assert asyncio.run(fan_out()) == [0, 1, 2]
    flush(5)
    parent = next(s for s in sink.spans if s.name.endswith("fan_out"))
    workers = [s for s in sink.spans if s.name.endswith("worker")]
    assert len(workers) == 3
    assert all(w.parent_span_id == parent.span_id and w.trace_id == parent.trace_id for w in workers)


def test_nesting_across_threads(sink: InMemoryExporter) -> None:
    @observe(name="in-thread")
    def in_thread(tag: str) -> str:
        return tag

    with observe("request") as request:
        copied = threading.Thread(target=contextvars.copy_context().run, args=(in_thread, "copied"))
        plain = threading.Thread(target=in_thread, args=("plain",))
        copied.start(), plain.start()
        copied.join(), plain.join()
        asyncio.run(asyncio.to_thread(in_thread, "to_thread"))  # asyncio.run copies the context too

    flush(5)
    by_tag = {s.attributes["output.value"]: s for s in sink.named("in-thread")}
    assert by_tag["copied"].parent_span_id == request.span_id
    assert by_tag["copied"].trace_id == request.trace_id
    assert by_tag["to_thread"].parent_span_id == request.span_id
    assert by_tag["plain"].parent_span_id == 0 and by_tag["plain"].trace_id != request.trace_id


def test_session_and_user_are_inherited(sink: InMemoryExporter) -> None:
    @observe(name="child")
    def child() -> None:
        pass

    with observe("conversation") as span:
        span.set_session("sess-1")
        span.set_user("user-7")
        span.set_prompt("support-answer", 3)
        span.set_route("support", environment="staging")
        child()
    spans = finished(sink)
    assert spans["child"].attributes["session.id"] == "sess-1"
    assert spans["child"].attributes["user.id"] == "user-7"
    top = spans["conversation"].attributes
    assert (top["stackwright.prompt.name"], top["stackwright.prompt.version"]) == ("support-answer", 3)
    assert (top["stackwright.route"], top["stackwright.environment"]) == ("support", "staging")


# -- errors ---------------------------------------------------------------------------------------------------


def test_exception_is_recorded_and_reraised_unchanged(sink: InMemoryExporter) -> None:
    error = RuntimeError("provider timed out")

    @observe(name="call_model", kind="llm")
    def call_model() -> None:
        raise error

    with pytest.raises(RuntimeError) as raised:
        call_model()
    assert raised.value is error
    span = finished(sink)["call_model"]
    assert span.status_code == 2 and span.status_message == "provider timed out"
    [(event_name, _, event)] = span.events
    assert event_name == "exception"
    assert event["exception.type"] == "RuntimeError"
    assert event["exception.message"] == "provider timed out"
    assert "raise error" in event["exception.stacktrace"]
    assert "output.value" not in span.attributes


def test_errors_in_async_generators_and_blocks(sink: InMemoryExporter) -> None:
    class QuotaError(Exception):
        pass

    @observe(name="agen")
    async def agen():
        yield 1
        raise QuotaError("over quota")

    async def consume() -> list[int]:
        return [x async for x in agen()]

    with pytest.raises(QuotaError, match="over quota"):
        asyncio.run(consume())
    with pytest.raises(KeyError):
        with observe("block"):
            raise KeyError("missing")
    spans = finished(sink)
    assert spans["agen"].status_code == 2
    assert spans["agen"].events[0][2]["exception.type"].endswith("QuotaError")
    assert spans["block"].status_code == 2 and spans["block"].events[0][2]["exception.type"] == "KeyError"


def test_sdk_failures_never_reach_the_user(sink: InMemoryExporter, caplog, monkeypatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise AttributeError("bug inside the SDK")

    @observe(name="business")
    def business(x: int) -> int:
        return x + 1

    monkeypatch.setattr(Span, "__init__", broken)
    with caplog.at_level(logging.WARNING, logger="stackwright.sdk"):
        assert business(1) == 2
        with observe("block") as span:
            span.set_attribute("ignored", True)
    assert isinstance(span, NoopSpan)
    assert any("internal error while starting a span" in r.getMessage() for r in caplog.records)


def test_exporter_failure_is_logged_not_raised(caplog) -> None:
    class Exploding:
        def export(self, spans, resource, defaults):
            raise ConnectionError("sink exploded")

    configure_tracing(exporter=Exploding(), schedule_delay=0.05)
    with caplog.at_level(logging.WARNING, logger="stackwright.sdk"):
        with observe("fine"):
            pass
        assert flush(5) is True
    assert any("exporting 1 spans" in r.getMessage() for r in caplog.records)


# -- input/output capture, truncation, redaction, LLM and retrieval attributes ---------------------------------


def test_truncation_marker() -> None:
    sink = InMemoryExporter()
    configure_tracing(exporter=sink, max_payload_chars=50)

    @observe(name="long")
    def long(text: str) -> str:
        return text * 2

    long("x" * 100)
    span = finished(sink)["long"]
    output = span.attributes["output.value"]
    assert output.startswith("x" * 50 + TRUNCATION_MARK) and "150 more chars" in output
    assert span.attributes["output.mime_type"] == "text/plain"
    assert span.attributes["input.value"].startswith('{"text":"' + "x" * 41 + TRUNCATION_MARK)


def test_redaction_hook(caplog) -> None:
    def redact(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: ("[REDACTED]" if k == "password" else v) for k, v in value.items()}
        if isinstance(value, str):
            return value.replace("4111-1111", "[CARD]")
        return value

    sink = InMemoryExporter()
    configure_tracing(exporter=sink, redact=redact)

    @observe(name="login")
    def login(user: str, password: str) -> str:
        return f"card 4111-1111 for {user}"

    assert login("ann", "hunter2") == "card 4111-1111 for ann"
    with observe("retrieve", kind="retrieval") as span:
        span.set_documents([{"id": "d1", "content": "pay with 4111-1111", "score": 0.5}])
    spans = finished(sink)
    assert spans["login"].attributes["input.value"] == '{"user":"ann","password":"[REDACTED]"}'
    assert spans["login"].attributes["output.value"] == "card [CARD] for ann"
    assert spans["retrieve"].attributes["retrieval.documents.0.document.content"] == "pay with [CARD]"

    def failing(value: Any) -> Any:
        raise ValueError("bad hook")

    configure_tracing(exporter=sink, redact=failing)
    sink.clear()
    with caplog.at_level(logging.WARNING, logger="stackwright.sdk"):
        assert login("bob", "pw") == "card 4111-1111 for bob"
    span = finished(sink)["login"]
    assert "pw" not in span.attributes["input.value"] and "redaction failed" in span.attributes["input.value"]
    assert any("redact hook" in r.getMessage() for r in caplog.records)


def test_llm_usage_and_documents(sink: InMemoryExporter) -> None:
    @observe(name="chat", kind="llm", attributes={"llm.provider": "openai"})
    def chat(question: str) -> str:
        current_span().set_usage(input_tokens=120, output_tokens=30, model="gpt-4o-mini", cost=0.00042)
        return "answer"

    @observe(name="search", kind="retrieval")
    def search(query: str) -> list[str]:
        current_span().set_documents(
            [{"id": "doc-1", "content": "Refunds take 5 days.", "score": 0.92, "metadata": {"src": "faq"}},
             {"id": 2, "content": "Shipping is free.", "score": 0.4}]
        )
        return ["doc-1", "2"]

    chat("refund?")
    search("refund")
    spans = finished(sink)
    llm = spans["chat"].attributes
    assert llm["llm.model_name"] == "gpt-4o-mini" and llm["llm.provider"] == "openai"
    assert (llm["llm.token_count.prompt"], llm["llm.token_count.completion"], llm["llm.token_count.total"]) == (
        120, 30, 150)
    assert llm["stackwright.cost"] == pytest.approx(0.00042)
    docs = spans["search"].attributes
    assert docs["retrieval.documents.0.document.id"] == "doc-1"
    assert docs["retrieval.documents.0.document.score"] == pytest.approx(0.92)
    assert docs["retrieval.documents.0.document.metadata"] == '{"src":"faq"}'
    assert docs["retrieval.documents.1.document.content"] == "Shipping is free."
    assert docs["retrieval.documents.1.document.id"] == "2"


# -- OTLP/HTTP export -------------------------------------------------------------------------------------------


def test_otlp_export_protobuf_gzip_and_auth(receiver: Receiver) -> None:
    assert configure_tracing(
        base_url=receiver.url + "/", api_key=KEY, service_name="support-bot", environment="prod",
        schedule_delay=0.05,
    )

    @observe(name="answer", kind="llm")
    def answer(question: str) -> str:
        current_span().set_usage(input_tokens=10, output_tokens=5, model="m1", cost=0.01, provider="local")
        return "ok"

    with observe("pipeline", kind="chain") as pipeline:
        pipeline.set_session("s-9")
        answer("why?")
        with observe("lookup", kind="retrieval") as lookup:
            lookup.set_documents([{"id": "c1", "content": "chunk", "score": 0.7}])
        with pytest.raises(ZeroDivisionError):
            with observe("boom", kind="tool"):
                1 / 0  # noqa: B018 - the error is the point
    assert flush(5) is True

    request = receiver.requests[0]
    assert request["path"] == "/v1/traces"
    assert request["headers"]["Authorization"] == f"Bearer {KEY}"
    assert request["headers"]["Content-Encoding"] == "gzip"
    assert request["headers"]["Content-Type"] == "application/x-protobuf"
    resource = attrs(request["body"].resource_spans[0].resource)
    assert resource["service.name"] == "support-bot"

    spans = receiver.spans()
    assert set(spans) == {"pipeline", "answer", "lookup", "boom"}
    kinds = {name: attrs(span)["openinference.span.kind"] for name, span in spans.items()}
    assert kinds == {"pipeline": "CHAIN", "answer": "LLM", "lookup": "RETRIEVER", "boom": "TOOL"}
    root = spans["pipeline"]
    assert len(root.trace_id) == 16 and len(root.span_id) == 8 and root.parent_span_id == b""
    for name in ("answer", "lookup", "boom"):
        assert spans[name].trace_id == root.trace_id and spans[name].parent_span_id == root.span_id
    llm = attrs(spans["answer"])
    assert llm["input.value"] == '{"question":"why?"}' and llm["input.mime_type"] == "application/json"
    assert llm["output.value"] == "ok"
    assert (llm["llm.model_name"], llm["llm.provider"], llm["llm.token_count.total"]) == ("m1", "local", 15)
    assert llm["stackwright.cost"] == pytest.approx(0.01)
    assert llm["session.id"] == "s-9" and llm["stackwright.environment"] == "prod"
    assert attrs(spans["lookup"])["retrieval.documents.0.document.score"] == pytest.approx(0.7)
    boom = spans["boom"]
    assert boom.status.code == 2 and boom.status.message == "division by zero"
    assert boom.events[0].name == "exception"
    assert attrs(boom.events[0])["exception.type"] == "ZeroDivisionError"
    assert attrs(boom.events[0])["exception.stacktrace"].startswith("Traceback")
    assert spans["answer"].status.code == 1 and spans["answer"].end_time_unix_nano >= spans["answer"].start_time_unix_nano


def test_export_is_batched(receiver: Receiver) -> None:
    configure_tracing(base_url=receiver.url, api_key=KEY, max_batch_size=10, schedule_delay=5.0)

    @observe
    def tick(i: int) -> int:
        return i

    for i in range(35):
        tick(i)
    assert flush(5) is True
    sizes = [len(r["body"].resource_spans[0].scope_spans[0].spans) for r in receiver.requests]
    assert sum(sizes) == 35 and max(sizes) <= 10 and len(sizes) >= 4
    ids = {s.span_id for r in receiver.requests for s in r["body"].resource_spans[0].scope_spans[0].spans}
    assert len(ids) == 35


@pytest.mark.parametrize(("status", "attempts"), [(401, 1), (500, 1), (503, 2)])
def test_server_rejection_is_logged(receiver: Receiver, caplog, status: int, attempts: int) -> None:
    receiver.status = status
    configure_tracing(base_url=receiver.url, api_key=KEY, export_retries=1, schedule_delay=0.05)
    with caplog.at_level(logging.WARNING, logger="stackwright.sdk"):
        with observe("rejected"):
            pass
        assert flush(10) is True
    messages = [r.getMessage() for r in caplog.records if r.name == "stackwright.sdk"]
    assert any(f"HTTP {status}" in m and "could not export 1 spans" in m for m in messages)
    assert len(receiver.requests) == attempts  # OTLP: only 429/502/503/504 are retried


def test_server_down_does_not_disturb_the_program(caplog) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens here
    configure_tracing(base_url=f"http://127.0.0.1:{port}", api_key=KEY, export_retries=0, schedule_delay=0.05)

    @observe
    def work(x: int) -> int:
        return x * 2

    with caplog.at_level(logging.WARNING, logger="stackwright.sdk"):
        assert [work(i) for i in range(5)] == [0, 2, 4, 6, 8]
        assert flush(10) is True
        assert work(5) == 10
        flush(10)
    failures = [r for r in caplog.records if "could not export" in r.getMessage()]
    assert len(failures) == 1  # rate-limited: the second failure is not logged again
    assert "ConnectError" in failures[0].getMessage()


def test_full_queue_drops_spans_without_blocking(caplog) -> None:
    release = threading.Event()

    class Stuck(InMemoryExporter):
        def export(self, spans, resource, defaults):
            release.wait(10)
            return super().export(spans, resource, defaults)

    sink = Stuck()
    configure_tracing(exporter=sink, max_queue_size=5, max_batch_size=1, schedule_delay=0.01)

    @observe(name="hot")
    def hot() -> None:
        pass

    with caplog.at_level(logging.WARNING, logger="stackwright.sdk"):
        for _ in range(50):
            hot()
    assert dropped_spans() >= 40
    assert any("export queue is full" in r.getMessage() for r in caplog.records)
    release.set()
    assert flush(5) is True
    assert 1 <= len(sink.spans) <= 10 and len(sink.spans) + dropped_spans() == 50


def test_flush(sink: InMemoryExporter) -> None:
    configure_tracing(exporter=sink, schedule_delay=60.0)  # the worker would wait a minute on its own

    @observe(name="queued")
    def queued() -> None:
        pass

    queued()
    queued()
    assert flush(5) is True
    assert [s.name for s in sink.spans] == ["queued", "queued"]


# -- off --------------------------------------------------------------------------------------------------------


def test_disabled_mode_records_nothing(sink: InMemoryExporter) -> None:
    assert configure_tracing(exporter=sink, enabled=False) is False

    @observe(name="quiet")
    def quiet(x: int) -> int:
        assert isinstance(current_span(), NoopSpan)
        return x

    @observe(name="quiet-gen")
    def quiet_gen():
        yield from (1, 2)

    assert quiet(3) == 3 and list(quiet_gen()) == [1, 2]
    with observe("quiet-block") as span:
        span.set_usage(input_tokens=1, output_tokens=1, model="m")
        span.record_error(ValueError("x"))
    assert isinstance(span, NoopSpan) and span.is_recording is False
    assert flush(1) is True
    assert sink.spans == []


def test_no_api_key_means_off_and_env_key_means_on(monkeypatch) -> None:
    monkeypatch.delenv("STACKWRIGHT_API_KEY", raising=False)
    assert configure_tracing() is False

    @observe(name="maybe")
    def maybe() -> Any:
        return current_span()

    assert isinstance(maybe(), NoopSpan)
    STATE.config, STATE.active = None, True  # unconfigured: the first call reads the environment
    monkeypatch.setenv("STACKWRIGHT_API_KEY", KEY)
    monkeypatch.setenv("STACKWRIGHT_BASE_URL", "http://127.0.0.1:9/")
    span = maybe()
    assert isinstance(span, Span) and span.name == "maybe"
    assert STATE.config.api_key == KEY and STATE.config.base_url == "http://127.0.0.1:9"
    assert STATE.processor.exporter.endpoint == "http://127.0.0.1:9/v1/traces"
    configure_tracing(enabled=False)  # drop the queued span rather than send it to port 9
