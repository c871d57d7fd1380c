"""What the web UI benchmarks share: a user who signs in through the real form, and a p50 timer."""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

from ingest import STACKWRIGHT, Server

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
