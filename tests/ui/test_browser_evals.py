"""Evaluations in a real browser, on the shared seeded demo: start an eval run from the form (the demo's dataset,
its gateway model), watch the page follow its progress to the end, start a second run with other parameters,
then pick both in the runs list, compare them and read the paired tests' p-values and the verdict."""

from __future__ import annotations

import re

import pytest

from tests.ui.browser_support import signed_in_page

pytestmark = [pytest.mark.browser, pytest.mark.e2e]
RUN_PAGE = re.compile(r".*/ui/evals/run_[0-9a-f]+$")


def start_run(page, base_url: str, name: str, params: str) -> str:
    page.goto(base_url + "/ui/evals/new")
    page.fill("input[name=dataset]", "support-cases")
    page.select_option("select[name=model]", "support-model")
    page.fill("input[name=params]", params)
    page.uncheck("input[name=scorers][value=contains]")
    page.check("input[name=scorers][value=similarity]")
    page.fill("input[name=name]", name)
    page.get_by_role("button", name="Start run").click()
    page.wait_for_url(RUN_PAGE)
    page.wait_for_selector("#run-status:text-is('completed')", timeout=180_000)  # ui.js polls, then reloads the page
    assert page.locator("tr[data-scorer=similarity]").count() == 1
    return page.url.rsplit("/", 1)[1]


def test_start_two_eval_runs_from_the_ui_and_compare_them(demo_server, chromium) -> None:
    server, credentials = demo_server
    page = signed_in_page(chromium, server, credentials["STACKWRIGHT_ADMIN_EMAIL"], credentials["STACKWRIGHT_ADMIN_PASSWORD"])
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.get_by_role("link", name="Evaluations", exact=True).click()
    page.get_by_role("link", name="Start a run").click()
    page.wait_for_url(re.compile(r".*/ui/evals/new$"))
    first = start_run(page, server.base_url, "ui-browser-long", '{"temperature": 0}')
    second = start_run(page, server.base_url, "ui-browser-short", '{"temperature": 0, "max_tokens": 5}')
    assert page.locator("tr[data-case]").count() > 0 and page.locator("a", has_text="trace").count() > 0

    page.goto(server.base_url + "/ui/evals")
    page.check(f"tr[data-run-id={first}] input[name=a]")
    page.check(f"tr[data-run-id={second}] input[name=b]")
    page.get_by_role("button", name="Compare A with B").click()
    page.wait_for_url(re.compile(r".*/ui/evals/compare\?.*"))
    row = page.locator("tr[data-scorer=similarity]")
    mcnemar, wilcoxon = row.locator("td[data-p=mcnemar]").inner_text(), row.locator("td[data-p=wilcoxon]").inner_text()
    for p_value in (mcnemar, wilcoxon):  # a number, or "< 0.000001" below the layer's rounding
        assert p_value == "< 0.000001" or 0 <= float(p_value) <= 1, p_value
    verdict = page.locator("#verdict").inner_text()
    assert "similarity" in verdict and re.search(r"p [=<] \d", verdict), verdict
    assert page.locator("table.eval-side-by-side.all tr[data-case]").count() > 0
    assert not errors, errors
