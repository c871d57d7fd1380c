"""What the web UI benchmarks share: a user who signs in through the real form, and a p50 timer."""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import httpx

from ingest import STACKWRIGHT, Server, _encode

EMAIL = "bench-ui@example.com"
PASSWORD = "a long bench password"


def add_user(server: Server, email: str = EMAIL, role: str = "viewer") -> None:
    """A user of the default project with ``role``; the password is PASSWORD."""
    env = {"STACKWRIGHT_HOME": server.home, "PATH": str(Path(sys.executable).parent)}
    subprocess.run([STACKWRIGHT, "users", "create", email, "--password", PASSWORD, "--project", "default", "--role", role],
                   env=env, check=True, capture_output=True)  # fmt: skip


def sign_in_form(url: str, email: str = EMAIL) -> tuple[httpx.Client, str, str]:
    """A fresh browser that has the sign-in form, and the form's CSRF token."""
    browser = httpx.Client(base_url=url, headers={"Accept": "text/html"}, timeout=120)
    form = browser.get("/ui/sign-in").text
    return browser, email, re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)


def sign_in(ready: tuple[httpx.Client, str, str]) -> httpx.Client:
    browser, email, token = ready
    response = browser.post("/ui/sign-in", data={"csrf_token": token, "email": email, "password": PASSWORD, "next": "/ui/traces"})
    assert response.status_code == 303, response.text
    return browser


def p50_ms(fn, runs: int, prepare=lambda: None) -> float:
    """The median time of ``fn(prepare())`` over ``runs`` runs after a warm-up; ``prepare`` is not timed."""
    fn(prepare())  # warm
    times = []
    for _ in range(runs):
        ready = prepare()
        started = time.perf_counter()
        fn(ready)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def payloads(spans: Iterable[Any], size: int = 2000) -> list[bytes]:
    """``spans`` as OTLP export requests of ``size`` spans each."""
    out, batch = [], []
    for span in spans:
        batch.append(span)
        if len(batch) >= size:
            out.append(_encode(batch))
            batch = []
    if batch:
        out.append(_encode(batch))
    return out


Figures = Callable[[Server, int], list[tuple[str, float, int]]]


def run_alone(figures: Figures, description: str) -> None:
    """A part-2 module run on its own: a fresh server (month spans first with ``--spans``), the viewer of
    bench/ui.py, then its figures."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=0, help="month spans stored first (bench/ui.py stores 1,000,000)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    server = Server(None, args.workers)
    try:
        if args.spans:
            from ui import seed_month

            seed_month(server, args.spans)
        add_user(server)
        for label, ms, target in figures(server, args.runs):
            print(f"  {label:48} p50 {ms:8.1f} ms   target <= {target:5} ms  {'ok' if ms <= target else 'OVER'}")
    finally:
        server.stop()
        shutil.rmtree(server.home, ignore_errors=True)
