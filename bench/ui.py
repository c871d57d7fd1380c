"""Web UI page times, against a real `stackwright serve` (SQLite) on a loopback port with a signed-in session.

The store is seeded through the OTLP endpoint with `--spans` spans (default 1,000,000; 10 per trace, LLM
attributes, spread evenly over the last 30 days) and one 10,000-span trace (a root, 10 steps, 100 calls,
the rest leaves). Then the p50 of the whole request, as a browser's keep-alive connection sees it, of:
the trace list with a filter (target <= 100 ms), a 10-span trace page (<= 50 ms), the 10,000-span trace
page (<= 1 s), the dashboard over 30 days (<= 1 s) and signing in (<= 300 ms, argon2 included).
Then part 2's pages (AREA_BENCHES; each module seeds what it measures): prompts, the playground's run
against the same gateway call through the API (overhead <= 20 ms), an eval run page with 1,000 cases
(<= 150 ms), the compare page of two 1,000-case runs (<= 300 ms), a release page with its live arm stats
at 1M spans (<= 200 ms).
Baseline in the same run: GET /healthz on the same connection (no session, no database).
Usage: .venv/bin/python bench/ui.py [--spans 1000000] [--workers 2] [--runs 20]
"""

from __future__ import annotations

import argparse
import importlib
import random
import shutil
import time

from opentelemetry.proto.trace.v1.trace_pb2 import Span

from ingest import SPANS_PER_TRACE, Server, make_trace, send_all
from ui_support import add_user, p50_ms, payloads, sign_in, sign_in_form

# Part 2's pages: each module has figures(server, runs) -> [(label, p50 ms, target ms)], seeding what it needs.
AREA_BENCHES = ["ui_prompts", "ui_playground", "ui_evals", "ui_releases"]

DAY_NS = 86_400 * 10**9
CHUNK_SPANS = 100_000


def seed_month(server: Server, n_spans: int) -> None:
    """``n_spans`` spans in 10-span traces, evenly over the last 30 days, sent in chunks."""
    rng = random.Random(3)
    traces = n_spans // SPANS_PER_TRACE
    first, step = time.time_ns() - 30 * DAY_NS, 30 * DAY_NS // max(traces, 1)
    per_chunk = CHUNK_SPANS // SPANS_PER_TRACE
    for begin in range(0, traces, per_chunk):
        chunk = range(begin, min(begin + per_chunk, traces))
        send_all(server, payloads(span for t in chunk for span in make_trace(rng, first + t * step)))


def big_trace(n_spans: int = 10_000) -> tuple[str, list[bytes]]:
    """One trace of ``n_spans`` spans: a root, 10 steps, 100 calls, the rest leaves under the calls."""
    rng = random.Random(9)
    trace_id, start = rng.randbytes(16), time.time_ns() - 3600 * 10**9
    ms = 1_000_000

    def make(parent: bytes | None, name: str, offset_ms: int) -> Span:
        return Span(trace_id=trace_id, span_id=rng.randbytes(8), parent_span_id=parent or b"", name=name,
                    start_time_unix_nano=start + offset_ms * ms, end_time_unix_nano=start + (offset_ms + 50) * ms)  # fmt: skip

    root = make(None, "agent", 0)
    steps = [make(root.span_id, f"step-{i}", i) for i in range(10)]
    calls = [make(steps[i // 10].span_id, f"call-{i}", 10 + i) for i in range(100)]
    spans = [root, *steps, *calls]
    spans += [make(calls[i % 100].span_id, "tool", 20 + i % 1000) for i in range(n_spans - len(spans))]
    return trace_id.hex(), payloads(spans)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=1_000_000, help="spans stored over the last 30 days")
    parser.add_argument("--workers", type=int, default=2, help="server processes (STACKWRIGHT_WORKERS)")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    server = Server(None, args.workers)
    try:
        started = time.perf_counter()
        seed_month(server, args.spans)
        big_id, big_payloads = big_trace()
        send_all(server, big_payloads)
        add_user(server)
        while server.client.get(f"/api/v1/traces/{big_id}").status_code != 200:
            time.sleep(0.1)
        print(f"seeded {args.spans:,} spans over 30 days and a 10,000-span trace in {time.perf_counter() - started:.0f} s")
        server.wait_idle()

        browser = sign_in(sign_in_form(server.url))
        small_ids = [
            t["trace_id"]
            for t in server.client.get("/api/v1/traces", params={"limit": 50}).json()["data"]
            if t["trace_id"] != big_id
        ]
        rng = random.Random(5)

        def page(url: str, **params: str) -> None:
            response = browser.get(url, params=params)
            assert response.status_code == 200 and "<h1>" in response.text, (url, response.status_code)

        runs = args.runs
        health = p50_ms(lambda _: browser.get("/healthz").raise_for_status(), runs)
        figures = [
            ("trace list, filtered (model)", p50_ms(lambda _: page("/ui/traces", model="gpt-4o"), runs), 100),
            ("10-span trace page", p50_ms(lambda _: page(f"/ui/traces/{rng.choice(small_ids)}"), runs), 50),
            ("10,000-span trace page", p50_ms(lambda _: page(f"/ui/traces/{big_id}"), max(runs // 2, 3)), 1000),
            ("dashboard, last 30 days", p50_ms(lambda _: page("/ui/dashboard", range="30d"), max(runs // 2, 3)), 1000),
            ("sign-in post (argon2)", p50_ms(sign_in, max(runs // 2, 3), lambda: sign_in_form(server.url)), 300),
        ]
        for name in AREA_BENCHES:
            figures += importlib.import_module(name).figures(server, runs)
        print(f"with {args.spans + 10_000:,} spans stored, {args.workers} server processes; p50 per request on loopback:")
        for label, ms, target in figures:
            verdict = "ok" if ms <= target else "OVER"
            print(
                f"  {label:48} p50 {ms:8.1f} ms   target <= {target:5} ms  {verdict:4}   ({ms / health:,.0f}x the /healthz baseline)"
            )
        print(f"  {'GET /healthz (baseline)':48} p50 {health:8.2f} ms")
        browser.close()
    finally:
        server.stop()
        shutil.rmtree(server.home, ignore_errors=True)  # a 1M-span store is most of a gigabyte


if __name__ == "__main__":
    main()
