"""What fetching a prompt costs through the SDK, against a real `stackwright serve` (SQLite, loopback).

1. cached ``client.prompts.get("support-answer", label="production")``: per-call time while the cached
   copy is fresh (the path every request of an app takes). Target <= 5 µs. Baseline: a bare dict lookup
   with the same key, in the same run.
2. uncached ``get`` (``cache_ttl=0``: one HTTP GET /api/v1/prompts/{name}?label=production per call, one
   keep-alive connection, authenticated, read from the database): p50 and p99. Target p50 <= 2 ms.
   Baseline: GET /healthz with the same client (no key, no database).
3. for information: ``prompt.render(...)`` of the cached prompt (two chat messages, three variables).

Figures are medians of several rounds; compare ratios, the machines are small and noisy.
Usage: .venv/bin/python bench/prompts.py [--calls 200000] [--requests 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from stackwright.sdk import Client

STACKWRIGHT = str(Path(sys.executable).parent / "stackwright")
KEY = "sw-bench-admin-key-0123456789abcdef"
CACHED_TARGET_US = 5.0
UNCACHED_TARGET_MS = 2.0
PROMPT = {
    "name": "support-answer",
    "type": "chat",
    "messages": [
        {"role": "system", "content": "You are the support assistant for {{ product }}. Answer only from the context."},
        {"role": "user", "content": "Context:\n{{ context }}\n\nQuestion: {{ question }}"},
    ],
    "model": {"name": "gpt-4o-mini", "temperature": 0.2},
    "labels": ["production"],
}
VARIABLES = {"product": "Acme", "context": "Refunds take 5 days.", "question": "How long do refunds take?"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(home: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STACKWRIGHT_")}
    env.update(STACKWRIGHT_HOME=home, STACKWRIGHT_INIT_API_KEY=KEY, STACKWRIGHT_LOG_LEVEL="warning")
    proc = subprocess.Popen([STACKWRIGHT, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("the server did not become ready within 60 s")


def per_call_us(func, calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        func()
    return (time.perf_counter() - started) / calls * 1e6


def latencies_ms(func, count: int) -> list[float]:
    out = []
    for _ in range(count):
        started = time.perf_counter()
        func()
        out.append((time.perf_counter() - started) * 1000)
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=200_000, help="cached get calls per round")
    parser.add_argument("--requests", type=int, default=2000, help="uncached HTTP gets per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as home:
        proc, url = start_server(home)
        try:
            with Client(url, KEY) as client:
                client.prompts.push(PROMPT)
                prompts = client.prompts
                prompts.cache_ttl = 3600
                prompt = prompts.get("support-answer", label="production")
                table = {("support-answer", "production", None): prompt}
                cached = statistics.median(
                    per_call_us(lambda: prompts.get("support-answer", label="production"), args.calls) for _ in range(args.rounds)
                )
                bare = statistics.median(
                    per_call_us(lambda: table.get(("support-answer", "production", None)), args.calls) for _ in range(args.rounds)
                )
                render = statistics.median(per_call_us(lambda: prompt.render(**VARIABLES), args.calls // 20) for _ in range(args.rounds))

                for _ in range(200):  # warm the connection and the server's caches
                    prompts.get("support-answer", label="production", cache_ttl=0)
                    client.health()
                fetch, health = [], []
                for _ in range(args.rounds):  # interleaved in blocks: both see the same machine
                    fetch += latencies_ms(lambda: prompts.get("support-answer", label="production", cache_ttl=0), args.requests)
                    health += latencies_ms(client.health, args.requests)
        finally:
            proc.terminate()
            proc.wait(30)

    print(f"cached get, median of {args.rounds} rounds of {args.calls} calls:")
    verdict = "ok" if cached <= CACHED_TARGET_US else "over target"
    print(f"  client.prompts.get  {cached:7.3f} µs/call   (target <= {CACHED_TARGET_US} µs: {verdict})")
    print(f"  bare dict lookup    {bare:7.3f} µs/call   ratio {cached / bare:5.1f}x")
    print(f"  prompt.render(...)  {render:7.3f} µs/call   (information: 2 messages, 3 variables)")
    print(f"uncached HTTP get against `stackwright serve` (SQLite), {len(fetch)} requests, one keep-alive connection:")
    verdict = "ok" if pct(fetch, 0.5) <= UNCACHED_TARGET_MS else "over target"
    print(f"  GET /api/v1/prompts/support-answer?label=production  p50 {pct(fetch, 0.5):6.3f} ms  p99 {pct(fetch, 0.99):6.3f} ms"
          f"   (target p50 <= {UNCACHED_TARGET_MS} ms: {verdict})")  # fmt: skip
    print(f"  GET /healthz (baseline)                               p50 {pct(health, 0.5):6.3f} ms  p99 {pct(health, 0.99):6.3f} ms"
          f"   ratio p50 {pct(fetch, 0.5) / pct(health, 0.5):4.1f}x")  # fmt: skip


if __name__ == "__main__":
    main()
