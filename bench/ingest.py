"""Trace ingest and query speed, against a real `stackwright serve` on SQLite and on Postgres.

1. Ingest 100,000 spans (10 per trace, LLM attributes) as OTLP protobuf from concurrent exporters and
   print persisted spans per second: the clock stops when the query API (`/api/v1/traces/stats`)
   counts every trace, not when requests are accepted.
2. Top the store up to 1,000,000 spans (SQLite; `--full-size` for Postgres too) and print the p50 latency
   of the trace-list query and of opening one trace.
Baseline in the same run: raw sqlite3 `executemany` of the same 100,000 rows into an indexed table
(no HTTP, no parsing, no mapping), so the ratio shows what the whole path costs over bare storage.
The server runs with `--workers` processes (default 2, one per core of the reference machine).
Usage: .venv/bin/python bench/ingest.py [--spans 100000] [--total 1000000] [--workers 2] [--postgres-url URL | --no-postgres]
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

ROOT = Path(__file__).resolve().parent.parent
STACKWRIGHT = str(Path(sys.executable).parent / "stackwright")
KEY = "sw-bench-admin-key-0123456789abcdef"
SPANS_PER_TRACE = 10
SPANS_PER_REQUEST = 2000
MODELS = ["gpt-4o-mini", "gpt-4o", "claude-3-5-haiku-latest"]


def _kv(key: str, value: object) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def make_trace(rng: random.Random, start_ns: int) -> list[Span]:
    trace_id = rng.randbytes(16)
    root_id = rng.randbytes(8)
    spans = []
    for i in range(SPANS_PER_TRACE):
        span_id = root_id if i == 0 else rng.randbytes(8)
        begin = start_ns + i * 1_000_000
        attrs = {"session.id": f"s{rng.randrange(1000)}", "user.id": f"u{rng.randrange(5000)}"}
        if i == 0:
            attrs.update({"openinference.span.kind": "CHAIN", "input.value": "How do I reset my password?",
                          "output.value": "Open Settings > Security and choose Reset password.",
                          "stackwright.route": "support.answer"})  # fmt: skip
        else:
            attrs.update({"openinference.span.kind": "LLM", "llm.model_name": rng.choice(MODELS), "llm.provider": "openai",
                          "llm.token_count.prompt": rng.randrange(50, 2000), "llm.token_count.completion": rng.randrange(10, 400),
                          "input.value": "Context: ... Question: how do I reset my password?", "output.value": "Open Settings."})  # fmt: skip
        spans.append(
            Span(
                trace_id=trace_id,
                span_id=span_id,
                parent_span_id=b"" if i == 0 else root_id,
                name="support.answer" if i == 0 else "llm.chat",
                start_time_unix_nano=begin,
                end_time_unix_nano=begin + (SPANS_PER_TRACE * 1_000_000 if i == 0 else 800_000),
                attributes=[_kv(k, v) for k, v in attrs.items()],
            )
        )
    return spans


def make_payloads(n_spans: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    now = time.time_ns() - 3600 * 10**9
    payloads, batch = [], []
    for t in range(n_spans // SPANS_PER_TRACE):
        batch.extend(make_trace(rng, now + t * 10_000))
        if len(batch) >= SPANS_PER_REQUEST:
            payloads.append(_encode(batch))
            batch = []
    if batch:
        payloads.append(_encode(batch))
    return payloads


def _encode(spans: list[Span]) -> bytes:
    request = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource={"attributes": [_kv("service.name", "bench")]}, scope_spans=[ScopeSpans(spans=spans)])]
    )
    return request.SerializeToString()


class Server:
    def __init__(self, database_url: str | None, workers: int = 1):
        self.home = tempfile.mkdtemp(prefix="sw-bench-")
        with socket_port() as port:
            self.port = port
        env = {k: v for k, v in os.environ.items() if not k.startswith("STACKWRIGHT_")}
        env.update({"STACKWRIGHT_HOME": self.home, "STACKWRIGHT_PORT": str(self.port), "STACKWRIGHT_INIT_API_KEY": KEY,
                    "STACKWRIGHT_LOG_LEVEL": "warning"})  # fmt: skip
        env["STACKWRIGHT_WORKERS"] = str(workers)
        if database_url:
            env["STACKWRIGHT_DATABASE_URL"] = database_url
        self.proc = subprocess.Popen([STACKWRIGHT, "serve"], env=env, stderr=open(Path(self.home) / "server.log", "w"))
        self.url = f"http://127.0.0.1:{self.port}"
        self.client = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=120)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if self.client.get("/readyz").status_code == 200:
                    self.wait_idle()
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError(f"server did not start; see {self.home}/server.log")

    def wait_idle(self, timeout_s: float = 60.0) -> None:
        """Wait until the server's processes stop using CPU: work they do in the background after start
        (loading the local embedder a few seconds in) is not ingest, and would share the clock with it."""
        time.sleep(3)  # background start-up work begins about 2 s after start
        deadline = time.time() + timeout_s
        last = self.cpu_seconds()
        while time.time() < deadline:
            time.sleep(0.5)
            now = self.cpu_seconds()
            if now - last < 0.05:
                return
            last = now

    def cpu_seconds(self) -> float:
        """CPU time used so far by the server and its worker processes (Linux /proc; 0 elsewhere)."""
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
            total = 0
            for pid in [self.proc.pid, *map(int, children)]:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime in clock ticks
            return total / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return 0.0

    def stop(self) -> None:
        self.client.close()
        self.proc.terminate()
        self.proc.wait(timeout=30)


class socket_port:
    def __enter__(self) -> int:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        return self.sock.getsockname()[1]

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


def send_all(server: Server, payloads: list[bytes], concurrency: int = 8) -> None:
    headers = {"Content-Type": "application/x-protobuf"}

    def post(body: bytes) -> None:
        while True:
            response = server.client.post("/v1/traces", content=body, headers=headers)
            if response.status_code == 429:
                time.sleep(float(response.headers.get("Retry-After", "1")))
                continue
            response.raise_for_status()
            return

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(post, payloads))


def trace_count(server: Server) -> int:
    response = server.client.get("/api/v1/traces/stats")
    response.raise_for_status()
    body = response.json()
    groups = body.get("data", body.get("groups", [body]))
    return sum(int(g.get("count", 0)) for g in groups)


def ingest_rate(server: Server, payloads: list[bytes], expected_traces: int) -> float:
    before = trace_count(server)
    started = time.perf_counter()
    send_all(server, payloads)
    while trace_count(server) < before + expected_traces:
        time.sleep(0.01)
    elapsed = time.perf_counter() - started
    return expected_traces * SPANS_PER_TRACE / elapsed


def p50_ms(fn, runs: int = 40) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def query_latency(server: Server) -> tuple[float, float]:
    page = server.client.get("/api/v1/traces", params={"limit": 50}).json()["data"]
    ids = [t["trace_id"] for t in page]
    rng = random.Random(7)
    list_ms = p50_ms(lambda: server.client.get("/api/v1/traces", params={"limit": 50}).raise_for_status())
    open_ms = p50_ms(lambda: server.client.get(f"/api/v1/traces/{rng.choice(ids)}").raise_for_status())
    return list_ms, open_ms


def raw_sqlite_baseline(n_spans: int) -> float:
    rows = [(f"{i // 10:032x}", f"{i:016x}", "llm.chat", "llm", i, i + 800_000, "gpt-4o-mini", 100, 20, "x" * 60, "{}")
            for i in range(n_spans)]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "raw.db")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(
            "CREATE TABLE spans (trace_id TEXT, span_id TEXT, name TEXT, kind TEXT, start_ns INT, end_ns INT,"
            " model TEXT, input_tokens INT, output_tokens INT, input TEXT, attributes TEXT, UNIQUE(trace_id, span_id))"
        )
        conn.execute("CREATE INDEX ix_start ON spans(start_ns)")
        started = time.perf_counter()
        for i in range(0, n_spans, SPANS_PER_REQUEST):
            with conn:
                conn.executemany("INSERT INTO spans VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows[i : i + SPANS_PER_REQUEST])
        elapsed = time.perf_counter() - started
        conn.close()
    return n_spans / elapsed


def run_backend(label: str, database_url: str | None, spans: int, total: int, baseline: float, workers: int) -> None:
    payloads = make_payloads(spans, seed=1)
    server = Server(database_url, workers)
    label = f"{label}/{workers}w"
    try:
        rate = ingest_rate(server, payloads, spans // SPANS_PER_TRACE)
        print(f"{label:12} ingest {spans:>9,} spans: {rate:10,.0f} spans/s persisted   target >= 20,000 on SQLite"
              f"   raw sqlite3 baseline {baseline:,.0f}/s  ratio {rate / baseline:.2f}")  # fmt: skip
        stored = spans
        seed = 2
        while stored < total:
            chunk = min(200_000, total - stored)
            send_all(server, make_payloads(chunk, seed=seed))
            stored += chunk
            seed += 1
        list_ms, open_ms = query_latency(server)
        print(f"{label:12} with {stored:>9,} spans stored: trace list p50 {list_ms:6.1f} ms, open one trace p50 {open_ms:6.1f} ms"
              "   target <= 50 ms each")  # fmt: skip
    finally:
        server.stop()


def start_postgres() -> tuple[str, dict[str, str]]:
    env = {**os.environ, "VENV": str(Path(sys.executable).parent.parent), "STACKWRIGHT_PG_STATE": "/tmp/sw-bench-pg"}
    url = subprocess.run([str(ROOT / "scripts/postgres.sh"), "start"], env=env, check=True, capture_output=True, text=True)
    return url.stdout.strip(), env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=100_000)
    parser.add_argument("--total", type=int, default=1_000_000, help="spans stored before timing queries (SQLite)")
    parser.add_argument("--postgres-url", default=None, help="an empty Postgres database (default: start one)")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--full-size", action="store_true", help="also store --total spans on Postgres")
    parser.add_argument("--workers", type=int, default=2, help="server processes (STACKWRIGHT_WORKERS)")
    args = parser.parse_args()

    baseline = raw_sqlite_baseline(args.spans)
    run_backend("sqlite", None, args.spans, args.total, baseline, args.workers)
    if args.no_postgres:
        return
    pg_env = None
    url = args.postgres_url
    if url is None:
        url, pg_env = start_postgres()
    try:
        run_backend("postgres", url, args.spans, args.total if args.full_size else args.spans, baseline, args.workers)
    finally:
        if pg_env is not None:
            subprocess.run([str(ROOT / "scripts/postgres.sh"), "stop"], env=pg_env, check=False)


if __name__ == "__main__":
    main()
