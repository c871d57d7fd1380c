"""The web UI in a real browser: Playwright drives Debian's Chromium against `stackwright serve` on a
loopback port, after `stackwright demo seed` (what `make run` does). The admin signs in with the printed
first-start credentials, sees the demo's traces, opens one and finds the eight answers; no request of the
page leaves the server's origin. Run them alone with `-m browser`.
"""

from __future__ import annotations

import re

import pytest

from tests.e2e.serverproc import run
from tests.ui.browser_support import signed_in_page

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def test_sign_in_see_the_demo_traces_and_the_eight_answers_then_sign_out(demo_server, chromium) -> None:
    server, credentials = demo_server
    page = chromium.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)

    page.goto(server.base_url + "/")
    assert "/ui/sign-in" in page.url
    page.fill("input[name=email]", credentials["STACKWRIGHT_ADMIN_EMAIL"])
    page.fill("input[name=password]", credentials["STACKWRIGHT_ADMIN_PASSWORD"])
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/ui/dashboard$"))
    assert page.locator("figure[data-chart] svg").count() == 5
    for label in ("Dashboard", "Traces", "Sessions"):
        assert page.get_by_role("link", name=label, exact=True).count() == 1
    page.get_by_role("link", name="Traces", exact=True).click()
    page.wait_for_url(re.compile(r".*/ui/traces$"))
    rows = page.locator("tr[data-trace-id]")
    assert rows.count() >= 3, page.content()
    ids = [rows.nth(i).get_attribute("data-trace-id") for i in range(2)]
    focused = "document.activeElement.dataset.traceId || null"
    page.keyboard.press("j")  # enters the table at its first row
    assert page.evaluate(focused) == ids[0]
    page.keyboard.press("j")
    page.keyboard.press("k")
    page.keyboard.press("ArrowDown")
    assert page.evaluate(focused) == ids[1]
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf".*/ui/traces/{ids[1]}$"))
    page.go_back()
    page.wait_for_url(re.compile(r".*/ui/traces$"))

    demo_trace = page.locator("tr[data-trace-id]", has_text="support").first
    demo_trace.locator("a").first.click()
    page.wait_for_url(re.compile(r".*/ui/traces/[0-9a-f]{32}$"))
    questions = page.locator("[data-question]")
    assert questions.count() == 8
    for n in range(1, 9):
        assert page.locator(f'[data-question="{n}"]').inner_text().strip()
    assert page.locator("tr[data-span-id]").count() >= 2
    shown = page.locator("tr[data-span-id]:visible").count()
    root_toggle = page.locator("tr[data-span-id]").first.locator("button[data-toggle]")
    root_toggle.click()  # collapse the root: only it stays in view
    assert page.locator("tr[data-span-id]:visible").count() == 1
    root_toggle.click()
    assert page.locator("tr[data-span-id]:visible").count() == shown
    page.locator("tr[data-span-id] a").nth(1).click()
    page.wait_for_url(re.compile(r".*\?span=[0-9a-f]{16}$"))
    assert page.locator("tr[aria-selected=true]").count() == 1

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r".*/ui/sign-in$"))
    page.goto(server.base_url + "/ui/traces")
    assert "/ui/sign-in" in page.url

    assert requested and all(url.startswith(server.base_url + "/") for url in requested), requested
    assert not [e for e in errors if "Content Security Policy" in e], errors  # nothing the policy had to block
    page.close()


def test_a_wrong_password_and_an_injected_script_stay_inert(demo_server, chromium) -> None:
    server, credentials = demo_server
    page = chromium.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(server.base_url + "/ui/sign-in")
    page.fill("input[name=email]", credentials["STACKWRIGHT_ADMIN_EMAIL"])
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    assert "Wrong email or password." in page.locator("[role=alert]").inner_text()

    page.fill("input[name=password]", credentials["STACKWRIGHT_ADMIN_PASSWORD"])
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/ui/dashboard$"))
    page.goto(server.base_url + "/ui/traces?name=%3Cscript%3Ealert(1)%3C/script%3E&start=%3Cimg%20src=x%20onerror=alert(2)%3E")
    assert page.locator('[data-error-for="start"]').count() == 1
    assert page.locator("script:not([src])").count() == 0 and page.locator("img").count() == 0
    assert dialogs == []
    page.close()


def test_an_admin_creates_an_api_key_and_sees_its_secret_once(demo_server, chromium) -> None:
    server, credentials = demo_server
    page = chromium.new_page()
    page.goto(server.base_url + "/ui/sign-in")
    page.fill("input[name=email]", credentials["STACKWRIGHT_ADMIN_EMAIL"])
    page.fill("input[name=password]", credentials["STACKWRIGHT_ADMIN_PASSWORD"])
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/ui/sign-in" not in url)
    page.get_by_role("link", name="Settings", exact=True).click()
    page.wait_for_url(re.compile(r".*/ui/settings/members$"))
    page.get_by_role("link", name="API keys", exact=True).click()
    page.fill("input[name=name]", "browser key")
    page.check("input[name=scope][value=write]")
    page.get_by_role("button", name="Create key").click()
    page.wait_for_url(re.compile(r".*/ui/settings/keys/[^/]+/created$"))
    secret = page.locator("[data-secret]").inner_text().strip()
    assert secret.startswith("sw-") and len(secret) > 20

    page.reload()  # the secret was shown once: a reload finds none
    assert page.locator("[data-secret]").count() == 0 and page.locator("[data-secret-gone]").count() == 1
    assert secret not in page.content()
    page.goto(server.base_url + "/ui/settings/keys")
    assert "browser key" in page.content() and secret[:12] in page.content() and secret not in page.content()
    page.close()


def _write_forms(page, base_url: str) -> tuple[int, int, int]:
    """How many score, dataset and key-creation forms a demo trace's page and the keys page offer."""
    page.goto(base_url + "/ui/traces")
    page.locator("tr[data-trace-id]", has_text="support").first.locator("a").first.click()
    page.wait_for_url(re.compile(r".*/ui/traces/[0-9a-f]{32}$"))
    assert page.locator("[data-question]").count() == 8
    forms = page.locator("form[data-score-form]").count(), page.locator("form[data-dataset-form]").count()
    page.goto(base_url + "/ui/settings/keys")
    return (*forms, page.locator('form[action="/ui/settings/keys"]').count())


def test_the_dashboard_draws_its_charts_as_svg(demo_server, chromium) -> None:
    server, credentials = demo_server
    page = signed_in_page(chromium, server, credentials["STACKWRIGHT_ADMIN_EMAIL"], credentials["STACKWRIGHT_ADMIN_PASSWORD"])
    assert page.locator("figure[data-chart] svg").count() >= 1
    assert page.locator("figure[data-chart] svg").first.is_visible()
    page.close()


def test_a_viewer_reads_traces_without_the_forms_an_admin_sees(demo_server, chromium) -> None:
    server, credentials = demo_server
    viewer = ["users", "create", "browser-viewer@example.com", "--password", "a long password", "--project", credentials["STACKWRIGHT_PROJECT"],
              "--role", "viewer"]  # fmt: skip
    created = run(viewer, server.env, cwd=server.workdir)
    assert created.returncode == 0, created.stderr
    admin = signed_in_page(chromium, server, credentials["STACKWRIGHT_ADMIN_EMAIL"], credentials["STACKWRIGHT_ADMIN_PASSWORD"])
    assert _write_forms(admin, server.base_url) == (1, 1, 1)
    admin.close()
    page = signed_in_page(chromium, server, "browser-viewer@example.com", "a long password")
    assert _write_forms(page, server.base_url) == (0, 0, 0)
    assert page.locator("[data-read-only]").count() == 1
    page.close()


def test_a_10000_span_trace_opens_collapsed_below_depth_2_and_expands(demo_server, chromium) -> None:
    """10,000 spans sent through OTLP to the real server: the page opens with the 111 rows down to depth 2
    visible and the rest collapsed under their calls; a call's toggle shows its children."""
    import httpx

    from tests.tracing.spans_helpers import send, span, span_id, trace_id

    server, credentials = demo_server
    tid, root = trace_id(), span_id()
    steps = [span_id() for _ in range(10)]
    calls = [span_id() for _ in range(100)]
    spans = [span(tid, root, "agent", 0, 10_000)]
    spans += [span(tid, s, f"step-{i}", i, 9_000, parent=root) for i, s in enumerate(steps)]
    spans += [span(tid, c, f"call-{i}", 20 + i, 8_000, parent=steps[i // 10]) for i, c in enumerate(calls)]
    spans += [span(tid, span_id(), "leaf", 200 + i % 5000, 7_000, parent=calls[i % 100]) for i in range(10_000 - len(spans))]
    headers = {"Authorization": f"Bearer {credentials['STACKWRIGHT_API_KEY']}"}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=60) as api:
        for i in range(0, len(spans), 2000):
            send(api, spans[i : i + 2000])

    page = signed_in_page(chromium, server, credentials["STACKWRIGHT_ADMIN_EMAIL"], credentials["STACKWRIGHT_ADMIN_PASSWORD"])
    page.goto(f"{server.base_url}/ui/traces/{tid}")
    rows = page.locator("tr[data-span-id]")
    assert rows.count() == 10_000
    assert page.locator("tr[data-span-id]:visible").count() == 111
    call = page.locator('tr[data-span-id][data-expanded="false"]').first.get_attribute("data-span-id")
    toggle = page.locator(f'tr[data-span-id="{call}"]')
    toggle.locator("button[data-toggle]").click()
    page.wait_for_function("document.querySelectorAll('tr[data-span-id]:not([hidden])').length > 111")
    assert toggle.get_attribute("data-expanded") == "true"
    page.close()
