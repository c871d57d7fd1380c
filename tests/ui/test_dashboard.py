"""The dashboard: figures over time as server-drawn SVG with a trace-list link per bucket, ranges and buckets,
the breakdown, the most expensive and slowest traces, the latest alerts, bad choices, escaping and projects."""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlsplit

import httpx

from stackwright.auth import service
from stackwright.auth.actors import SYSTEM
from stackwright.monitoring.alerts import raise_alert
from tests.tracing.spans_helpers import send, span, span_id, trace_id
from tests.ui.test_sign_in import assert_page

BOTH_DATABASES = True  # the pages run their own queries: both databases (tests/ui/conftest.py)

SCRIPT = "<script>alert('x')</script>"
HOUR_MS = 3600 * 1000


def send_recent(api: httpx.Client, name: str, hours_ago: float, *, model: str = "gpt-4o-mini", error: bool = False,
                duration_ms: float = 100, attrs: dict | None = None) -> str:  # fmt: skip
    """A root span with an LLM child, ``hours_ago`` before now; returns the trace id."""
    tid, root = trace_id(), span_id()
    base = time.time_ns() - int(hours_ago * HOUR_MS * 1_000_000)
    child = {"llm.model_name": model, "llm.token_count.prompt": 10, "llm.token_count.completion": 5, **(attrs or {})}
    send(api, [span(tid, root, name, 0, duration_ms, base_ns=base, error="boom" if error else None, attrs=attrs),
               span(tid, span_id(), "llm", 1, duration_ms - 1, parent=root, attrs=child, base_ns=base)])  # fmt: skip
    return tid


def test_the_dashboard_is_home_and_draws_each_figure_with_a_link_per_bucket(admin: httpx.Client, api: httpx.Client) -> None:
    assert admin.get("/ui/").headers["location"] == "/ui/dashboard"
    send_recent(api, "chat", 1)
    send_recent(api, "chat", 1.2, error=True, model="gpt-4o")
    slow = send_recent(api, "slow-one", 5, duration_ms=900)
    page = assert_page(admin.get("/ui/dashboard"), 200)
    links = re.findall(r"<nav aria-label=\"Main\">(.*?)</nav>", page, re.S)[0]
    assert re.findall(r">([^<>]+)</a>", links)[0] == "Dashboard"
    assert set(re.findall(r'data-chart="([a-z]+)"', page)) == {"requests", "errors", "latency", "tokens", "cost"}
    assert page.count("<svg viewBox") == 5
    assert 'data-figure="requests">3 requests' in page and "33.3% errors" in page
    buckets = re.findall(r'<a href="([^"]+)" data-bucket>', page)
    assert len(buckets) == 5 * 25  # 24 h in hours: 25 buckets (the first and last are partial), per chart
    with_traces = [h for h in buckets[:25] if h.startswith("/ui/traces?")]
    assert len(with_traces) == 25
    # the bucket holding the two recent traces links to a trace list showing exactly them
    counts = []
    for href in buckets[:25]:
        query = parse_qs(urlsplit(href.replace("&amp;", "&")).query)
        assert set(query) == {"start", "end"}
        listed = admin.get(href.replace("&amp;", "&")).text
        counts.append(len(re.findall(r"data-trace-id=", listed)))
    assert sum(counts) == 3 and max(counts) in (2, 1)
    assert re.search(r'data-group="gpt-4o-mini"><td><a href="/ui/traces\?start=[^"]+model=gpt-4o-mini"', page)
    slowest = re.search(r"Slowest traces(.*?)</section>", page, re.S).group(1)
    assert re.findall(r'data-trace-id="([0-9a-f]+)"', slowest)[0] == slow
    assert f'href="/ui/traces/{slow}"' in slowest


def test_ranges_buckets_and_breakdowns_and_bad_choices(admin: httpx.Client, api: httpx.Client) -> None:
    send_recent(api, "chat", 30)
    send_recent(api, "chat", 24 * 20)
    week = assert_page(admin.get("/ui/dashboard", params={"range": "7d", "bucket": "day"}), 200)
    assert 'data-figure="requests">1 requests' in week
    month = assert_page(admin.get("/ui/dashboard", params={"range": "30d", "bucket": "week", "by": "span_name"}), 200)
    assert 'data-figure="requests">2 requests' in month
    assert 'data-group="llm"' in month and 'data-group="chat"' in month
    assert len(re.findall(r"data-bucket>", month)) in (5 * 5, 5 * 6)  # 30 days in 7-day buckets
    custom = admin.get("/ui/dashboard", params={"range": "custom", "from": "2020-01-01T00:00:00Z", "to": "2020-01-02T00:00:00Z",
                                               "bucket": "hour"})  # fmt: skip
    assert 'data-figure="requests">0 requests' in assert_page(custom, 200)
    bad = assert_page(
        admin.get("/ui/dashboard", params={"range": "custom", "from": "soon", "bucket": "fortnight", "by": SCRIPT}), 200
    )
    assert re.search(r'data-error-for="from">[^<]*is not a time', bad)
    assert 'data-error-for="to"' in bad and 'data-error-for="bucket"' in bad and 'data-error-for="by"' in bad
    assert "<svg viewBox" not in bad
    too_many = admin.get("/ui/dashboard", params={"range": "custom", "from": "2000-01-01", "to": "2020-01-01", "bucket": "hour"})
    assert 'data-error-for="bucket">That is more than' in assert_page(too_many, 200)


def test_latest_alerts_values_escaped_and_only_this_projects_data(admin: httpx.Client, api: httpx.Client, app, prepared) -> None:
    from stackwright.auth import keys
    from stackwright.sdk.transport import InProcessTransport

    send_recent(api, SCRIPT, 1, model=SCRIPT)
    with prepared.write() as session:
        mine = service.find_project(session, "default")
        raise_alert(session, mine.id, "release.auto_rollback", f"Rolled back {SCRIPT}", "error rate 40% over 5%")
        other = service.create_project(session, SYSTEM, "other")
        raise_alert(session, other.id, "release.auto_rollback", "their rollback", "theirs")
        _, other_key = keys.create_key(session, SYSTEM, other.id, "other key", ["write"])
    with httpx.Client(transport=InProcessTransport(app), base_url="http://stackwright.test",
                      headers={"Authorization": f"Bearer {other_key}"}) as other_api:  # fmt: skip
        theirs = send_recent(other_api, "their-trace", 1, model="their-model")
    page = assert_page(admin.get("/ui/dashboard"), 200)
    assert 'data-alert-kind="release.auto_rollback"' in page and "error rate 40% over 5%" in page
    assert "their rollback" not in page and theirs not in page and "their-model" not in page
    assert 'data-figure="requests">1 requests' in page
    assert "<script>alert" not in page and "&lt;script&gt;alert(" in page
