"""Signing in to the web UI: the browser's way in from /, passwords, rate limits, CSRF, idle expiry,
sign-out and the security headers. In process, on SQLite and Postgres."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
from sqlalchemy import select, update

from stackwright.auth.models import WebSession
from stackwright.auth.web_sessions import MAX_FAILURES_PER_ACCOUNT
from stackwright.core.clock import utcnow
from tests.conftest import TEST_ADMIN_EMAIL, TEST_ADMIN_PASSWORD
from tests.ui.conftest import csrf_of, sign_in


def assert_page(response: httpx.Response, status: int) -> str:
    """An HTML page with this status, the UI's security headers, and no stack trace."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "unsafe-inline" not in csp
    assert "Traceback" not in response.text
    return response.text


def test_a_browser_without_a_session_is_led_to_the_sign_in_form(browser: httpx.Client, anon: httpx.Client) -> None:
    home = browser.get("/")
    assert home.status_code == 303 and home.headers["location"] == "/ui/dashboard"
    page = browser.get("/ui/traces")
    assert page.status_code == 303 and page.headers["location"].startswith("/ui/sign-in?next=")
    form = assert_page(browser.get(page.headers["location"]), 200)
    assert 'name="email"' in form and 'name="password"' in form
    assert anon.get("/").json()["name"] == "stackwright"  # API clients keep the JSON
    assert browser.get("/", headers={"Accept": "application/json"}).json()["docs"] == "/docs"


def test_the_first_start_admin_signs_in_and_sees_the_navigation(browser: httpx.Client, prepared) -> None:
    response = sign_in(browser)
    assert response.status_code == 303 and response.headers["location"] == "/ui/traces"
    cookie = response.headers["set-cookie"]
    assert "sw_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    assert "Secure" not in cookie  # plain http here
    page = assert_page(browser.get("/ui/traces"), 200)
    links = re.findall(r"<nav aria-label=\"Main\">(.*?)</nav>", page, re.S)[0]
    assert {"Traces", "Sessions"} <= set(re.findall(r">([^<>]+)</a>", links))
    assert TEST_ADMIN_EMAIL in page
    token = browser.cookies["sw_session"]
    with prepared.read() as session:
        stored = session.scalars(select(WebSession.token_hash)).all()
    assert stored and token not in stored  # only a hash of the token is kept


def test_the_cookie_is_secure_over_https(app) -> None:
    from stackwright.sdk.transport import InProcessTransport

    with httpx.Client(transport=InProcessTransport(app), base_url="https://stackwright.test") as client:
        assert "Secure" in sign_in(client).headers["set-cookie"]


def test_a_wrong_password_gets_a_clear_page_and_no_session(browser: httpx.Client) -> None:
    page = assert_page(sign_in(browser, password="not the password"), 401)
    assert "Wrong email or password." in page
    assert "sw_session" not in browser.cookies
    assert "Wrong email or password." in assert_page(sign_in(browser, email="nobody@example.com"), 401)


def test_sign_ins_are_rate_limited_per_account_and_the_page_states_the_limit(browser: httpx.Client) -> None:
    for _ in range(MAX_FAILURES_PER_ACCOUNT):
        assert sign_in(browser, password="wrong password").status_code == 401
    page = assert_page(sign_in(browser), 429)  # even the right password, until the window passes
    assert f"at most {MAX_FAILURES_PER_ACCOUNT} failed sign-ins per account" in page
    assert "sw_session" not in browser.cookies


def test_a_sign_in_without_its_form_token_is_refused(browser: httpx.Client) -> None:
    response = browser.post("/ui/sign-in", data={"email": TEST_ADMIN_EMAIL, "password": TEST_ADMIN_PASSWORD})
    assert "CSRF" in assert_page(response, 403)


def test_a_form_with_a_bad_csrf_token_gets_a_403_page_and_changes_nothing(admin: httpx.Client) -> None:
    response = admin.post("/ui/sign-out", data={"csrf_token": "forged"})
    assert "CSRF" in assert_page(response, 403)
    assert admin.get("/ui/traces").status_code == 200  # still signed in
    assert assert_page(admin.post("/ui/project", data={"project_id": "x"}), 403)


def test_sign_out_ends_the_session_everywhere(admin: httpx.Client, prepared) -> None:
    token = admin.cookies["sw_session"]
    page = admin.get("/ui/traces")
    response = admin.post("/ui/sign-out", data={"csrf_token": csrf_of(page)})
    assert response.status_code == 303 and response.headers["location"] == "/ui/sign-in"
    assert "sw_session" not in admin.cookies
    with prepared.read() as session:
        assert session.scalars(select(WebSession)).all() == []
    admin.cookies.set("sw_session", token)  # a copy of the old cookie is worth nothing
    assert admin.get("/ui/traces").status_code == 303


def test_an_idle_session_expires(admin: httpx.Client, prepared, settings) -> None:
    with prepared.write() as session:
        idle = timedelta(minutes=settings.web_session_idle_minutes + 1)
        session.execute(update(WebSession).values(last_seen_at=utcnow() - idle))
    response = admin.get("/ui/traces")
    assert response.status_code == 303 and "expired=1" in response.headers["location"]
    assert "Your session expired" in assert_page(admin.get(response.headers["location"]), 200)
    with prepared.read() as session:
        assert session.scalars(select(WebSession)).all() == []


def test_sign_in_only_returns_to_pages_of_this_ui(browser: httpx.Client) -> None:
    form = browser.get("/ui/sign-in")
    data = {"csrf_token": csrf_of(form), "email": TEST_ADMIN_EMAIL, "password": TEST_ADMIN_PASSWORD, "next": "//evil.example/ui"}
    response = browser.post("/ui/sign-in", data=data)
    assert response.headers["location"] == "/ui/dashboard"


def test_unknown_pages_and_static_files(admin: httpx.Client) -> None:
    assert "There is no page at /ui/nowhere" in assert_page(admin.get("/ui/nowhere"), 404)
    css = admin.get("/ui/static/ui.css")
    assert css.status_code == 200 and "prefers-color-scheme: dark" in css.text
    assert admin.get("/ui/static/..%2Fpages.py").status_code == 404
    assert admin.get("/ui/static/nothing.js").status_code == 404
