"""The browser tests' shared parts: one seeded demo server per test process and one Chromium per module (the
fixtures are in conftest.py), and signing a page in through the real form. Each browser test file of a
UI area uses them, so the demo is seeded once per process rather than once per file."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.serverproc import ServerProcess, clean_env, free_ports, read_env_file, run

CHROMIUM = os.environ.get("STACKWRIGHT_TEST_CHROMIUM") or "/usr/bin/chromium"  # scripts/chromium.sh sets it


def _chromium() -> str:
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is missing: install Debian's chromium package (`apt-get install -y chromium`)."
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " Browser tests never skip under CI=true.")
        pytest.skip(message)
    return CHROMIUM


def serve_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    """The seeded demo served on a free loopback port, and its first-start credentials."""
    tmp = tmp_path_factory.mktemp("browser")
    env = clean_env(home=tmp / "home")
    seeded = run(["demo", "seed", "--requests", "3", "--no-evals"], env, cwd=tmp, timeout=300)
    assert seeded.returncode == 0, seeded.stderr
    credentials = read_env_file(tmp / "home" / "initial-credentials.env")
    with ServerProcess(tmp / "run", env, free_ports()[0]) as server:
        server.wait_ready()
        yield server, credentials


def launch_chromium() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        yield browser
        browser.close()

def signed_in_page(chromium, server, email: str, password: str):
    """A new page signed in as ``email``, on the dashboard."""
    page = chromium.new_page()
    page.goto(server.base_url + "/ui/sign-in")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/ui/dashboard$"))
    return page
