"""The prompt pages in a real browser (see test_browser.py): create a prompt from the list page, push a second
version through the editor, and read the diff of the two versions. The test makes its own prompt, so the demo's
prompts and release stay as the other browser tests read them."""

from __future__ import annotations

import re

import pytest

from tests.ui.browser_support import signed_in_page

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def test_a_diff_of_two_versions_pushed_through_the_editor(demo_server, chromium) -> None:
    server, credentials = demo_server
    page = signed_in_page(chromium, server, credentials["STACKWRIGHT_ADMIN_EMAIL"], credentials["STACKWRIGHT_ADMIN_PASSWORD"])
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if "Refused" in message.text else None)
    try:
        page.get_by_role("link", name="Prompts", exact=True).click()
        page.wait_for_url(re.compile(r".*/ui/prompts$"))
        assert page.locator("tr[data-prompt='support-answer']").count() == 1  # the demo's prompt is listed

        page.fill("input[name=name]", "browser-diff")
        page.select_option("select[name=type]", "text")  # the page's script swaps the messages for the template
        assert page.locator("fieldset[data-for-type=chat]").is_hidden()
        page.fill("textarea[name=template]", "Hello {{ who }}.\n{% if x }}\nBye.")
        page.fill("input[name=message]", "first")
        page.click("button[value=save]")
        error = page.locator("[data-error-for=template]")  # a Jinja2 error, at its line, before saving
        assert error.inner_text().startswith("line 2:"), error.inner_text()
        page.fill("textarea[name=template]", "Hello {{ who }}.\nBye.")
        page.click("button[value=save]")
        page.wait_for_url(re.compile(r".*/ui/prompts/browser-diff/versions/1\?done=pushed$"))

        page.get_by_role("link", name="Edit from this version").click()
        page.wait_for_url(re.compile(r".*/ui/prompts/browser-diff/edit\?from=1$"))
        page.fill("textarea[name=template]", "Hello {{ who }}!\nBye.")
        page.fill("input[name=message]", "more excited")
        page.click("button[value=save]")
        page.wait_for_url(re.compile(r".*/ui/prompts/browser-diff/versions/2\?done=pushed$"))

        page.get_by_role("link", name="History").click()
        assert page.locator("tr[data-version='2']").inner_text().count("more excited") == 1
        page.click("form[data-diff-form] button[type=submit]")  # from 1 to 2, as the form offers
        page.wait_for_url(re.compile(r".*/ui/prompts/browser-diff/diff\?a=1&b=2$"))
        removed = page.locator("pre[data-diff=templates] .diff-del").all_inner_texts()
        added = page.locator("pre[data-diff=templates] .diff-add").all_inner_texts()
        assert removed == ["-Hello {{ who }}."] and added == ["+Hello {{ who }}!"], (removed, added)
        assert not errors, errors  # nothing refused by the CSP
    finally:
        page.close()
