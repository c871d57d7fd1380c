"""Regenerate the web UI screenshots in docs/screenshots/ (shown in the README's "Web UI" section).

Run it as `.venv/bin/python scripts/screenshots.py`. In a throwaway data dir it seeds the support demo
offline (`stackwright demo seed`, a few requests, its eval runs), starts `stackwright serve` on a free loopback
port, signs in as the first-start admin with Playwright driving Debian's Chromium
(STACKWRIGHT_TEST_CHROMIUM, default /usr/bin/chromium) and saves one PNG per page, light and dark.
Needs no network.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.serverproc import ServerProcess, clean_env, free_ports, read_env_file, run  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
CHROMIUM = os.environ.get("STACKWRIGHT_TEST_CHROMIUM") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
VIEWPORT = {"width": 1280, "height": 800}
DEMO_REQUESTS = "12"
MAX_HEIGHT = 2000  # a full-page shot stops here, so each file stays small
# (file name, URL path or a function of (page, base URL) finding it, full page?)
PAGES = [
    ("dashboard", "/ui/dashboard", True),
    ("traces", "/ui/traces", False),
    ("trace", lambda page, base: demo_trace_path(page, base), True),
    ("sessions", "/ui/sessions", False),
    ("prompts", "/ui/prompts", False),
    ("prompt-history", "/ui/prompts/support-answer", True),
    ("prompt-diff", "/ui/prompts/support-answer/diff?a=1&b=2", True),
    ("playground-replay", lambda page, base: replay_path(page, base), True),
    ("evals", "/ui/evals", False),
    ("eval-run", lambda page, base: eval_run_paths(page, base)[0], True),
    ("eval-compare", lambda page, base: "/ui/evals/compare?a={}&b={}".format(*eval_run_ids(page, base)), True),
    ("datasets", "/ui/datasets/support-cases/versions/1", False),
    ("releases", "/ui/releases", False),
    ("release", "/ui/releases/support.answer?env=production", True),
    ("retrieval-search", "/ui/retrieval/help-center/search?q=reset+my+password&mode=hybrid&k=5", True),
    ("gateway", "/ui/gateway", True),
    ("guardrails", "/ui/guardrails", False),
    ("jobs", "/ui/jobs", False),
    ("settings-members", "/ui/settings/members", False),
    ("settings-keys", "/ui/settings/keys", False),
]


def seed_and_serve(tmp: Path) -> tuple[ServerProcess, dict[str, str]]:
    """The seeded demo served on a free loopback port (started, ready) and its admin's credentials."""
    env = clean_env(home=tmp / "home")
    print(f"seeding the demo ({DEMO_REQUESTS} requests) in {tmp} ...", flush=True)
    seeded = run(["demo", "seed", "--requests", DEMO_REQUESTS], env, cwd=tmp, timeout=900)  # with its two eval runs
    if seeded.returncode != 0:
        sys.exit(f"stackwright demo seed failed:\n{seeded.stderr}")
    credentials = read_env_file(tmp / "home" / "initial-credentials.env")
    server = ServerProcess(tmp / "run", env, free_ports()[0]).start()
    server.wait_ready()
    return server, credentials


def shoot(page, name: str, full_page: bool) -> Path:
    path = OUT / f"{name}.png"
    height = page.evaluate("document.documentElement.scrollHeight") if full_page else VIEWPORT["height"]
    clip = {"x": 0, "y": 0, "width": VIEWPORT["width"], "height": min(height, MAX_HEIGHT)}
    page.screenshot(path=str(path), clip=clip, full_page=full_page)
    return path


def demo_trace_path(page, base_url: str) -> str:
    page.goto(base_url + "/ui/traces")
    link = page.locator("tr[data-trace-id]", has_text="support").first.locator("a").first
    return link.get_attribute("href") or sys.exit("no demo trace on the trace list")


def replay_path(page, base_url: str) -> str:
    """The playground replaying a demo answer's model call (the first span whose panel offers Replay)."""
    page.goto(base_url + "/ui/traces?prompt_name=support-answer")
    page.locator("tr[data-trace-id] a").first.click()
    page.locator('[data-question="8"]').wait_for()
    for url in page.locator("tr[data-span-id] a").evaluate_all("links => links.map(a => a.href)"):
        page.goto(url)
        replay = page.get_by_role("link", name="Replay", exact=True)
        if replay.count():
            return replay.first.get_attribute("href") or ""
    sys.exit("no span of the demo trace offers Replay")


def eval_run_paths(page, base_url: str) -> list[str]:
    """The two newest eval runs' pages (the demo's stable and canary runs)."""
    page.goto(base_url + "/ui/evals")
    links = page.locator('tbody a[href^="/ui/evals/"]').evaluate_all("links => links.map(a => a.getAttribute('href'))")
    runs = [href for href in links if href.count("/") == 3 and "compare" not in href and "new" not in href]
    return runs[:2] if len(runs) >= 2 else sys.exit(f"the demo has {len(runs)} eval runs; expected 2")


def eval_run_ids(page, base_url: str) -> list[str]:
    return [path.rsplit("/", 1)[1] for path in reversed(eval_run_paths(page, base_url))]  # older (stable) first


def capture(browser, server: ServerProcess, credentials: dict[str, str], scheme: str) -> list[Path]:
    """Sign in and save every page of PAGES in ``scheme`` (light or dark)."""
    suffix = "" if scheme == "light" else "-dark"
    context = browser.new_context(viewport=VIEWPORT, color_scheme=scheme)
    page = context.new_page()
    page.goto(server.base_url + "/ui/sign-in")
    saved = [shoot(page, "sign-in" + suffix, False)]
    page.fill("input[name=email]", credentials["STACKWRIGHT_ADMIN_EMAIL"])
    page.fill("input[name=password]", credentials["STACKWRIGHT_ADMIN_PASSWORD"])
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/ui/dashboard$"))
    for name, path, full_page in PAGES:
        page.goto(server.base_url + (path if isinstance(path, str) else path(page, server.base_url)))
        if name == "trace":
            page.locator('[data-question="8"]').wait_for()
        saved.append(shoot(page, name + suffix, full_page))
    context.close()
    return saved


def main() -> None:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        sys.exit(f"{CHROMIUM} is missing: run scripts/chromium.sh or set STACKWRIGHT_TEST_CHROMIUM.")
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="stackwright-screenshots-") as tmp:
        server, credentials = seed_and_serve(Path(tmp))
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                saved = [path for scheme in ("light", "dark") for path in capture(browser, server, credentials, scheme)]
                browser.close()
        finally:
            server.kill()
    for path in saved:
        print(f"{path.relative_to(ROOT)}  {path.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
