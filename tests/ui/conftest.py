"""Fixtures for the web UI: a browser-like client (cookies kept) and signing in through the real form."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import TEST_ADMIN_EMAIL, TEST_ADMIN_PASSWORD

HTML = {"Accept": "text/html"}


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def sign_in(client: httpx.Client, email: str = TEST_ADMIN_EMAIL, password: str = TEST_ADMIN_PASSWORD) -> httpx.Response:
    form = client.get("/ui/sign-in")
    return client.post("/ui/sign-in", data={"csrf_token": csrf_of(form), "email": email, "password": password, "next": "/ui/traces"})


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """UI pages run on SQLite: the services under them are tested on both databases in their own layers.
    A test module whose pages run queries of their own opts in to Postgres too with `BOTH_DATABASES = True`."""
    return getattr(request, "param", "sqlite")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames and getattr(metafunc.module, "BOTH_DATABASES", False):
        metafunc.parametrize("backend", ["sqlite", "postgres"], indirect=True)


@pytest.fixture
def browser(app) -> Iterator[httpx.Client]:
    """A client that behaves like a browser: asks for HTML, keeps cookies, does not follow redirects."""
    from stackwright.sdk.transport import InProcessTransport

    with httpx.Client(transport=InProcessTransport(app), base_url="http://stackwright.test", headers=HTML) as client:
        yield client


@pytest.fixture
def admin(browser: httpx.Client) -> httpx.Client:
    response = sign_in(browser)
    assert response.status_code == 303, response.text
    return browser


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory: pytest.TempPathFactory):
    """`stackwright demo seed` then `stackwright serve` on a loopback port, once per test process, with the
    first-start credentials. Browser tests share it: a test that changes the demo makes its own objects."""
    from tests.ui.browser_support import serve_demo

    yield from serve_demo(tmp_path_factory)


@pytest.fixture(scope="module")
def chromium():
    """Debian's Chromium under Playwright, once per test module: Playwright's sync API keeps an event loop
    running while it is open, and the next modules' tests call asyncio.run()."""
    from tests.ui.browser_support import launch_chromium

    yield from launch_chromium()
