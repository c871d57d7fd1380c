"""The jobs pages in a real browser: a long job enqueued through the API is cancelled from its page, after the
confirmation step, and its status turns to cancelled. Run with `-m browser`."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from tests.ui.browser_support import signed_in_page

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def test_a_job_is_cancelled_from_its_page(demo_server, chromium) -> None:
    server, credentials = demo_server
    headers = {"Authorization": f"Bearer {credentials['STACKWRIGHT_API_KEY']}"}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=30) as api:
        created = api.post("/api/v1/jobs", json={"kind": "sleep", "params": {"seconds": 500, "ticks": 1000}})
    assert created.status_code == 202, created.text
    job_id = created.json()["id"]

    page = signed_in_page(chromium, server, credentials["STACKWRIGHT_ADMIN_EMAIL"], credentials["STACKWRIGHT_ADMIN_PASSWORD"])
    page.get_by_role("link", name="Jobs", exact=True).click()
    page.wait_for_url(re.compile(r".*/ui/jobs$"))
    page.locator(f'tr[data-job-id="{job_id}"] a').click()
    page.wait_for_url(re.compile(rf".*/ui/jobs/{job_id}$"))
    assert page.locator("dd[data-status]").get_attribute("data-status") in ("queued", "running")
    page.locator("a[data-cancel]").click()
    page.wait_for_url(re.compile(rf".*/ui/jobs/{job_id}/cancel$"))
    page.get_by_role("button", name="Cancel the job").click()
    page.wait_for_url(re.compile(rf".*/ui/jobs/{job_id}\?done=(cancelled|requested)$"))
    deadline = time.monotonic() + 20  # a running job stops at its next progress report (every half second here)
    while page.locator("dd[data-status]").get_attribute("data-status") != "cancelled" and time.monotonic() < deadline:
        time.sleep(0.3)
        page.reload()
    assert page.locator("dd[data-status]").get_attribute("data-status") == "cancelled"
    assert page.locator("a[data-cancel]").count() == 0
    page.close()
