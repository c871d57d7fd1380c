"""What the model gateway costs, against the fake OpenAI-compatible upstream on loopback, in one run.

For each server process count (`--workers 1,2`, STACKWRIGHT_WORKERS) a fresh `stackwright serve` (SQLite) is
started, a gateway model whose only deployment is the fake upstream is applied, and then:

1. start-up: seconds from launching `stackwright serve` to /readyz = 200 (first start: migrations and
   bootstrap included; and a later start on the same data dir). Target <= 1.5 s.
2. latency added: the same client (stdlib http.client, one keep-alive connection) sends the same body,
   sequentially, straight to the upstream and through the gateway, interleaved in blocks so both see the
   same machine; p50/p99 of each and the difference. Target <= 1 ms added at p50.
3. throughput: requests/s at concurrency 32, through the gateway and (baseline) straight to the upstream,
   both measured by `wrk` (C, epoll; not the bottleneck). Without wrk a Python asyncio load generator is
   used instead and labelled as such (it may be the bottleneck on 2 cores). Target >= 1,000 requests/s.
   Also the cache-hit path (temperature 0, the same request repeated).
4. memory: resident set size (from /proc) of the server process(es) after 1,000 gateway requests and after
   100,000 (`--requests`), with their ratio. Target: no growth beyond noise. The first reading waits until the
   embedded embedder, which every server process loads in the background 2 s after start, is in memory. A third
   reading after as many requests again tells a leak (still growing) from caches that filled up (flat).
Every gateway call is authenticated, limited, counted and traced as in production; the bench checks at the
end that the traces were stored.

Usage: .venv/bin/python bench/gateway.py [--workers 1,2] [--requests 100000] [--latency-requests 2000]
       [--duration 10] [--no-twice] [--upstream-latency-ms 0]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STACKWRIGHT = str(Path(sys.executable).parent / "stackwright")
FAKE = ROOT / "tests" / "gateway" / "fake_upstream.py"
KEY = "sw-bench-admin-key-0123456789abcdef"
CONCURRENCY = 32
MODEL = "fake-model"  # the gateway serves the upstream's own name, so both get the very same body
BODY = {
    "model": MODEL,
    "messages": [
        {"role": "system", "content": "You are a helpful support assistant. Answer in one short sentence."},
        {"role": "user", "content": "How do I reset my password if I no longer have access to my email?"},
    ],
    "max_tokens": 64,
}
CACHED_BODY = {**BODY, "temperature": 0}
PATH = "/v1/chat/completions"
PRELOAD_DONE_S = 5.0  # seconds after ready by which every process has loaded the embedder (it starts 2 s after start)


# -- processes ---------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Upstream:
    """tests/gateway/fake_upstream.py in its own process (no request recording: it would cost memory)."""

    def __init__(self, latency_ms: float):
        argv = [sys.executable, str(FAKE), "--port", "0", "--record", "0", "--latency-ms", str(latency_ms)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline().strip()  # prints its base URL once listening
        if not line.startswith("http://"):
            raise RuntimeError(f"the fake upstream did not start: {line!r}")
        self.base_url = line
        self.port = int(line.rsplit(":", 1)[1].split("/")[0])
        wait_http(self.port, "/v1/models", 20)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


class Server:
    """`stackwright serve` on a fresh data dir (SQLite), with the bootstrapped admin key."""

    def __init__(self, workers: int, home: str | None = None, port: int | None = None):
        self.workers = workers
        self.home = home or tempfile.mkdtemp(prefix="sw-bench-gw-")
        self.port = port or free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("STACKWRIGHT_")}
        # the fake upstream is on loopback: allowed as an operator would (the config is PUT through the API)
        env.update({"STACKWRIGHT_HOME": self.home, "STACKWRIGHT_PORT": str(self.port), "STACKWRIGHT_INIT_API_KEY": KEY,
                    "STACKWRIGHT_LOG_LEVEL": "warning", "STACKWRIGHT_WORKERS": str(workers),
                    "STACKWRIGHT_EGRESS_ALLOW": "127.0.0.1"})  # fmt: skip
        started = time.perf_counter()
        self.proc = subprocess.Popen([STACKWRIGHT, "serve"], env=env, stdout=subprocess.DEVNULL,
                                     stderr=open(Path(self.home) / "server.log", "a"))  # fmt: skip
        try:
            wait_http(self.port, "/readyz", 60)
        except RuntimeError:
            self.proc.kill()
            raise RuntimeError(f"the server did not get ready; see {self.home}/server.log") from None
        self.ready_at = time.perf_counter()
        self.ready_s = self.ready_at - started

    def pids(self) -> list[int]:
        """The server process and its descendants (uvicorn's worker processes)."""
        found, queue = [], [self.proc.pid]
        while queue:
            pid = queue.pop()
            found.append(pid)
            for task in Path(f"/proc/{pid}/task").glob("*/children"):
                queue.extend(int(child) for child in task.read_text().split())
        return found

    def rss_mb(self) -> float:
        return sum(rss_kb(pid) for pid in self.pids()) / 1024

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


def wait_http(port: int, path: str, timeout_s: float) -> None:
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            status = conn.getresponse().status
            conn.close()
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.005)
    raise RuntimeError(f"nothing answered 200 on 127.0.0.1:{port}{path} within {timeout_s:g} s")


def call(port: int, method: str, path: str, body: object = None) -> tuple[int, object]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    payload = json.dumps(body).encode() if body is not None else None
    conn.request(method, path, body=payload, headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, json.loads(data) if data else None


def apply_config(server: Server, upstream: Upstream) -> None:
    config = {"models": [{"name": MODEL, "retries": 0,
                          "deployments": [{"provider": "openai", "base_url": upstream.base_url, "model": MODEL}]}]}  # fmt: skip
    status, answer = call(server.port, "PUT", "/api/v1/gateway/config", {"config": config})
    if status != 200:
        raise RuntimeError(f"applying the gateway config failed: {status} {answer}")


# -- sequential latency ------------------------------------------------------------------------------------


class Client:
    """One keep-alive connection; the same code times the upstream and the gateway."""

    def __init__(self, port: int, body: dict):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.payload = json.dumps(body).encode()
        self.headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}

    def send(self) -> float:
        started = time.perf_counter()
        self.conn.request("POST", PATH, body=self.payload, headers=self.headers)
        response = self.conn.getresponse()
        data = response.read()
        elapsed = time.perf_counter() - started
        if response.status != 200:
            raise RuntimeError(f"{response.status}: {data[:300]!r}")
        return elapsed


def sequential(clients: dict[str, Client], requests: int, warmup: int, block: int = 50) -> dict[str, list[float]]:
    """Per client, ``requests`` timings in ms, taken in alternating blocks after ``warmup`` untimed each."""
    for client in clients.values():
        for _ in range(warmup):
            client.send()
    times: dict[str, list[float]] = {name: [] for name in clients}
    for _ in range(max(1, requests // block)):
        for name, client in clients.items():
            times[name].extend(client.send() * 1000 for _ in range(block))
    return times


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


# -- load at concurrency 32 --------------------------------------------------------------------------------


def wrk_script(body: dict, directory: str) -> str:
    path = Path(directory) / f"body-{abs(hash(json.dumps(body)))}.lua"
    path.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(json.dumps(body))}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {KEY}"\n'
    )
    return str(path)


def run_wrk(port: int, body: dict, duration_s: float, scratch: str) -> tuple[int, float, int, str]:
    """(requests, requests/s, non-2xx or socket errors, latency p50 text) from one wrk run."""
    argv = ["wrk", "-t1", f"-c{CONCURRENCY}", f"-d{max(1, round(duration_s))}s", "--latency", "-s", wrk_script(body, scratch),
            f"http://127.0.0.1:{port}{PATH}"]  # fmt: skip
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    p50 = re.search(r"50%\s+(\S+)", out)
    return requests, rate, errors, p50.group(1) if p50 else "?"


async def _py_load(port: int, body: dict, duration_s: float | None, total: int | None) -> tuple[int, float, int]:
    payload = json.dumps(body).encode()
    head = (f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {KEY}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n").encode()  # fmt: skip
    request = head + payload
    done = errors = 0
    remaining = [total if total is not None else 1 << 62]
    deadline = time.perf_counter() + (duration_s if duration_s is not None else 1e9)

    async def worker() -> None:
        nonlocal done, errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while remaining[0] > 0 and time.perf_counter() < deadline:
            remaining[0] -= 1
            writer.write(request)
            status_line = await reader.readuntil(b"\r\n")
            length = 0
            while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            done += 1
            errors += status_line[9:12] != b"200"
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return done, done / (time.perf_counter() - started), errors


def py_load(port: int, body: dict, duration_s: float | None = None, total: int | None = None) -> tuple[int, float, int]:
    """A Python asyncio load generator (keep-alive, Content-Length framing): (requests, requests/s, errors)."""
    try:
        import uvloop

        return uvloop.run(_py_load(port, body, duration_s, total))
    except ImportError:
        return asyncio.run(_py_load(port, body, duration_s, total))


class Load:
    def __init__(self, scratch: str):
        self.scratch = scratch
        self.wrk = shutil.which("wrk") is not None
        self.label = f"wrk -t1 -c{CONCURRENCY}" if self.wrk else f"PYTHON asyncio load generator, c={CONCURRENCY} (may be the bottleneck)"

    def run(self, port: int, body: dict, duration_s: float) -> tuple[int, float, int, str]:
        if self.wrk:
            return run_wrk(port, body, duration_s, self.scratch)
        requests, rate, errors = py_load(port, body, duration_s=duration_s)
        return requests, rate, errors, "n/a"


# -- one server --------------------------------------------------------------------------------------------


def stored_traces(server: Server) -> int:
    status, body = call(server.port, "GET", "/api/v1/traces/stats")
    if status != 200:
        return -1
    groups = body.get("data", body.get("groups", [body])) if isinstance(body, dict) else body
    return sum(int(g.get("count", 0)) for g in groups)


def bench_server(workers: int, upstream: Upstream, load: Load, args: argparse.Namespace, report: dict) -> None:
    label = f"{workers} worker{'s' if workers > 1 else ''}"
    server = Server(workers)
    first_ready = server.ready_s
    sent = 0  # gateway requests answered so far
    try:
        apply_config(server, upstream)
        time.sleep(0.3)
        # 1,000 requests: a few sequential, then at concurrency 32 so that every pool and buffer has been used
        gateway = Client(server.port, BODY)
        for _ in range(200):
            gateway.send()
        count, _, errors = py_load(server.port, BODY, total=800)
        sent += 200 + count
        if errors:
            raise RuntimeError(f"{errors} gateway requests failed during warm-up; see {server.home}/server.log")
        time.sleep(max(0.5, PRELOAD_DONE_S - (time.perf_counter() - server.ready_at)))
        rss_1k = server.rss_mb()

        direct = Client(upstream.port, BODY)
        times = sequential({"direct": direct, "gateway": gateway}, args.latency_requests, warmup=200)
        sent += 200 + len(times["gateway"])
        d50, d99 = pct(times["direct"], 50), pct(times["direct"], 99)
        g50, g99 = pct(times["gateway"], 50), pct(times["gateway"], 99)

        base_n, base_rps, base_err, base_p50 = load.run(upstream.port, BODY, args.duration)
        n, rps, err, p50 = load.run(server.port, BODY, args.duration)
        sent += n
        cached = Client(server.port, CACHED_BODY)
        cached.send()  # fills the cache
        time.sleep(0.3)
        hit_n, hit_rps, hit_err, hit_p50 = load.run(server.port, CACHED_BODY, min(args.duration, 5))
        sent += hit_n + 1

        sent, err = top_up(server, load, BODY, sent, args.requests, rps, err)
        time.sleep(1.0)
        rss_end = server.rss_mb()
        at_end = sent
        rss_twice = 0.0
        if args.twice and 2 * args.requests > at_end:  # as many again: growth that goes on (a leak) or a plateau (caches filled)?
            sent, err = top_up(server, load, BODY, sent, 2 * args.requests, rps, err)
            time.sleep(1.0)
            rss_twice = server.rss_mb()
        processes = len(server.pids())
        traced = 0
        deadline = time.time() + 30
        while time.time() < deadline:  # every call is traced: wait for the span writer to catch up
            traced = stored_traces(server)
            if traced >= sent:
                break
            time.sleep(0.5)
        later = restart_ready(server)
    finally:
        server.stop()
        shutil.rmtree(server.home, ignore_errors=True)

    print(f"\n== {label} (STACKWRIGHT_WORKERS={workers}) ==")
    print(f"start-up to /readyz 200: first start {first_ready:.2f} s, later start {later:.2f} s   target <= 1.5 s  "
          f"{'ok' if max(first_ready, later) <= 1.5 else 'MISSED'}")  # fmt: skip
    print(f"sequential latency, {len(times['gateway'])} requests each (ms):   p50      p99")
    print(f"  direct to upstream (baseline)            {d50:7.3f}  {d99:7.3f}")
    print(f"  through the gateway                      {g50:7.3f}  {g99:7.3f}")
    print(f"  added by the gateway                     {g50 - d50:7.3f}  {g99 - d99:7.3f}   target <= 1 ms at p50  "
          f"{'ok' if g50 - d50 <= 1.0 else 'MISSED'}   ratio p50 {g50 / d50:.1f}x")  # fmt: skip
    print(f"requests/s at concurrency {CONCURRENCY} ({load.label}, {args.duration:g} s):")
    print(f"  direct to upstream (baseline)            {base_rps:9,.0f}   p50 {base_p50}   errors {base_err}")
    print(f"  through the gateway                      {rps:9,.0f}   p50 {p50}   errors {err}   target >= 1,000  "
          f"{'ok' if rps >= 1000 else 'MISSED'}   ratio to baseline {rps / base_rps:.2f}")  # fmt: skip
    print(f"  gateway cache hits (temperature 0)       {hit_rps:9,.0f}   p50 {hit_p50}   errors {hit_err}")
    growth = rss_end / rss_1k
    print(f"resident memory of {processes} process(es): after 1,000 requests {rss_1k:.1f} MB, "
          f"after {at_end:,} {rss_end:.1f} MB, ratio {growth:.3f}   target: no growth beyond noise  "
          f"{'ok' if growth <= 1.05 else 'CHECK'}")  # fmt: skip
    if rss_twice:
        print(f"  and after {sent:,} requests {rss_twice:.1f} MB: ratio to after {at_end:,} {rss_twice / rss_end:.3f}  "
              f"({'flat: what grew before is filled caches, not a leak' if rss_twice / rss_end <= 1.03 else 'STILL GROWING'})")  # fmt: skip
    print(f"traces stored: {traced:,} of {sent:,} gateway calls")
    report[workers] = {"ready_s": first_ready, "later_ready_s": later, "added_p50_ms": g50 - d50, "added_p99_ms": g99 - d99,
                       "rps": rps, "direct_rps": base_rps, "cache_hit_rps": hit_rps, "rss_1k_mb": rss_1k, "rss_end_mb": rss_end,
                       "rss_twice_mb": rss_twice}  # fmt: skip


def top_up(server: Server, load: Load, body: dict, sent: int, target: int, rps: float, errors: int) -> tuple[int, int]:
    """Send gateway requests under load until ``target`` have been answered; (answered, errors)."""
    while sent < target:
        got, _, failed, _ = load.run(server.port, body, max(1.0, min(30.0, (target - sent) / max(rps, 100) * 1.05)))
        sent += got
        errors += failed
    return sent, errors


def restart_ready(server: Server) -> float:
    """Seconds to ready for a later start on the same data dir (the server is stopped and started again)."""
    server.stop()
    again = Server(server.workers, home=server.home, port=server.port)
    server.proc = again.proc
    return again.ready_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", default="1,2", help="server process counts to measure, comma-separated")
    parser.add_argument("--requests", type=int, default=100_000, help="gateway requests before the second memory reading")
    parser.add_argument("--latency-requests", type=int, default=2000, help="sequential requests per target")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per load run")
    parser.add_argument("--no-twice", dest="twice", action="store_false",
                        help="skip the third memory reading, after twice --requests")  # fmt: skip
    parser.add_argument("--upstream-latency-ms", type=float, default=0.0, help="delay the fake upstream adds to each call")
    args = parser.parse_args()

    scratch = tempfile.mkdtemp(prefix="sw-bench-gw-lua-")
    load = Load(scratch)
    if not load.wrk:
        print("wrk is not installed: install it with `apt-get update && apt-get install -y wrk` (Debian/Ubuntu) or "
              "`brew install wrk`. Falling back to a PYTHON asyncio load generator; its requests/s figures are "
              "labelled and may be limited by the generator itself.")  # fmt: skip
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} (other work competes for the CPUs), "
          f"Python {sys.version.split()[0]}; upstream: fake_upstream.py (latency {args.upstream_latency_ms:g} ms); "
          f"load: {load.label}")  # fmt: skip
    upstream = Upstream(args.upstream_latency_ms)
    report: dict = {}
    try:
        for workers in [int(w) for w in args.workers.split(",") if w.strip()]:
            bench_server(workers, upstream, load, args, report)
    finally:
        upstream.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")
    print("summary: " + json.dumps({str(k): {n: round(v, 3) for n, v in r.items()} for k, r in report.items()}))


if __name__ == "__main__":
    main()
