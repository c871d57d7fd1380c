"""The release pages in a real browser, on the shared demo server: start a canary at 10 %, change it to 30 %,
try to promote (refused with the required evaluation's reason), roll back after the confirmation, and see the
history and the API's resolve answer change; a viewer sees no `Roll back`. The demo's own release
(support.answer in production) is left alone: these tests use the environment `browser-releases`."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from tests.e2e.serverproc import run
from tests.ui.browser_support import signed_in_page

pytestmark = [pytest.mark.browser, pytest.mark.e2e]
ROUTE, ENV = "support.answer", "browser-releases"


def _resolved(api: httpx.Client, share: float | None) -> dict:
    """The API's resolve answer once it shows ``share`` (the resolver caches a release for up to 2 s)."""
    deadline = time.monotonic() + 5
    while True:
        answer = api.get(f"/api/v1/releases/{ROUTE}/resolve", params={"env": ENV}).json()
        if answer["share"] == share or time.monotonic() > deadline:
            return answer
        time.sleep(0.2)


def test_canary_share_promote_refused_and_roll_back_in_the_browser_and_a_viewer_sees_no_roll_back(demo_server, chromium) -> None:
    server, credentials = demo_server
    headers = {"Authorization": f"Bearer {credentials['STACKWRIGHT_API_KEY']}"}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=30) as api:
        body = {"env": ENV, "prompt": "support-answer@1", "model": "support-model"}
        assert api.post(f"/api/v1/releases/{ROUTE}/set", json=body).is_success
        assert api.put(f"/api/v1/releases/{ROUTE}/rules", json={"env": ENV, "require_eval": "release-gate"}).is_success
        assert _resolved(api, None)["arm"] == "stable"

        page = signed_in_page(chromium, server, credentials["STACKWRIGHT_ADMIN_EMAIL"], credentials["STACKWRIGHT_ADMIN_PASSWORD"])
        page.get_by_role("link", name="Releases", exact=True).click()
        page.wait_for_url(re.compile(r".*/ui/releases$"))
        page.locator(f'tr[data-release="{ROUTE}@{ENV}"] a').click()
        page.wait_for_url(re.compile(rf".*/ui/releases/{re.escape(ROUTE)}\?env={ENV}$"))

        page.fill("input[name=prompt]", "support-answer@2")
        page.fill("#f-share", "10")
        page.get_by_role("button", name="Start canary").click()
        page.wait_for_url(re.compile(r".*done=canary$"))
        assert page.locator("[data-share]").inner_text().strip() == "10 %"
        assert _resolved(api, 10.0)["share"] == 10.0

        page.fill("#f-new_share", "30")
        page.get_by_role("button", name="Change share").click()
        page.wait_for_url(re.compile(r".*done=share$"))
        assert page.locator("[data-share]").inner_text().strip() == "30 %"
        assert _resolved(api, 30.0)["share"] == 30.0

        page.get_by_role("button", name="Promote").click()
        problem = page.locator("[data-problem]").inner_text()
        assert "Promotion refused" in problem and "release-gate" in problem

        page.get_by_role("button", name="Roll back", exact=True).click()
        page.wait_for_url(re.compile(r".*/rollback\?env=.*"))
        page.fill("input[name=reason]", "too many complaints")
        page.get_by_role("button", name="Confirm roll back").click()
        page.wait_for_url(re.compile(r".*done=rolled-back$"))
        assert page.locator("[data-candidate]").inner_text().strip() == "none"
        actions = [page.locator("tr[data-action]").nth(i).get_attribute("data-action") for i in range(4)]
        assert actions == ["rollback", "canary", "canary", "rules"]
        assert "too many complaints" in page.locator("tr[data-action=rollback]").inner_text()
        resolved = _resolved(api, None)
        assert resolved["share"] is None and resolved["arm"] == "stable" and resolved["config"]["prompt"] == "support-answer@1"
        page.close()

    viewer = ["users", "create", "release-viewer@example.com", "--password", "a long password", "--project", credentials["STACKWRIGHT_PROJECT"],
              "--role", "viewer"]  # fmt: skip
    assert run(viewer, server.env, cwd=server.workdir).returncode == 0
    page = signed_in_page(chromium, server, "release-viewer@example.com", "a long password")
    page.goto(f"{server.base_url}/ui/releases/{ROUTE}?env={ENV}")
    assert page.locator("[data-stable]").count() == 1
    assert page.get_by_role("button", name="Roll back").count() == 0 and page.locator("[data-read-only]").count() == 1
    page.close()
