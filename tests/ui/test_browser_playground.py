"""The playground in a real browser: replay a demo trace's model call from its span panel, edit the prompt, run it
(streamed by the page's script) beside the recorded answer, save it as a new prompt version and find that version
in the prompt's history. Run with `-m browser`."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.ui.browser_support import signed_in_page

pytestmark = [pytest.mark.browser, pytest.mark.e2e]
SAVED = "playground-replayed"  # its own prompt: the demo's prompt and route stay as other tests read them


def test_replay_a_demo_call_edit_run_and_save_it_as_a_new_prompt_version(demo_server, chromium) -> None:
    server, credentials = demo_server
    headers = {"Authorization": f"Bearer {credentials['STACKWRIGHT_API_KEY']}"}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=30) as api:
        trace = api.get("/api/v1/traces", params={"prompt_name": "support-answer", "limit": 1}).json()["data"][0]["trace_id"]
        spans = api.get(f"/api/v1/traces/{trace}").json()["spans"]
    call = next(s["span_id"] for s in spans if s["name"].startswith("gateway chat"))

    page = signed_in_page(chromium, server, credentials["STACKWRIGHT_ADMIN_EMAIL"], credentials["STACKWRIGHT_ADMIN_PASSWORD"])
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(f"{server.base_url}/ui/traces/{trace}?span={call}")
    page.get_by_role("link", name="Replay", exact=True).click()
    page.wait_for_url(re.compile(rf".*/ui/playground\?trace={trace}&span={call}$"))
    assert page.locator("[data-before] [data-text]").inner_text().strip()  # the recorded answer
    assert page.locator("select[name=model-0]").input_value() == "support-model"
    assert page.locator("input[name=save_name]").input_value() == "support-answer"  # the span's prompt

    system = page.locator("textarea[name=content-0]")
    system.fill(system.input_value() + "\nAnswer in one short sentence.")
    page.locator("button[data-run]").click()
    page.locator('[data-column="0"] a[data-trace-link]').wait_for(timeout=30_000)  # streamed, then its figures
    assert page.url.endswith(f"span={call}")  # the script ran it: no page load
    assert page.locator('[data-column="0"] [data-text]').inner_text().strip()
    assert re.match(r"\d+ in / \d+ out", page.locator('[data-column="0"] [data-figure="tokens"]').inner_text())
    assert page.locator('[data-column="0"] [data-error]').is_hidden()

    page.fill("input[name=save_name]", SAVED)
    page.fill("input[name=save_message]", "shorter answers, from a replayed call")
    page.locator("button[data-save]").click()
    page.wait_for_url(re.compile(rf".*/ui/prompts/{SAVED}$"))
    assert page.locator('tr[data-version="1"]').count() == 1
    assert "shorter answers" in page.locator('tr[data-version="1"]').inner_text()
    assert not [e for e in errors if "Content Security Policy" in e], errors
    page.close()
