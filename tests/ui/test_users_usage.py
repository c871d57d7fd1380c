"""The end-users page (requests, errors and cost per user_id, each linking to that user's traces) and the
gateway usage page (spend and counts per key and model against budgets and rate limits, with the burn)."""

from __future__ import annotations

import asyncio
import re

import httpx
from sqlalchemy import select

from stackwright.auth import keys, service
from stackwright.auth.actors import SYSTEM
from stackwright.auth.models import ApiKey
from stackwright.gateway.limits.enforcer import Enforcer
from stackwright.gateway.limits.service import replace_model_limits
from tests.ui.test_dashboard import SCRIPT, send_recent
from tests.ui.test_sign_in import assert_page

BOTH_DATABASES = True  # the pages run their own queries: both databases (tests/ui/conftest.py)


def test_users_are_listed_with_their_figures_and_link_to_their_traces(admin: httpx.Client, api: httpx.Client) -> None:
    alice = [send_recent(api, "chat", h, attrs={"user.id": "alice"}) for h in (1, 2)]
    send_recent(api, "chat", 3, error=True, attrs={"user.id": SCRIPT})
    send_recent(api, "anonymous", 4)
    send_recent(api, "old", 24 * 40, attrs={"user.id": "bob"})  # outside the default 30 days
    page = assert_page(admin.get("/ui/users", params={"sort": "requests"}), 200)
    users = re.findall(r'<tr data-user-id="([^"]*)"', page)
    assert users[0] == "alice" and set(users) == {"alice", "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;", ""}
    assert "<script>alert" not in page
    row = re.search(r'<tr data-user-id="alice">(.*?)</tr>', page, re.S).group(1)
    assert re.findall(r'class="num">([^<]+)<', row)[:3] == ["2", "0", "0.0%"]
    link = re.search(r'href="(/ui/traces\?[^"]+)"', row).group(1).replace("&amp;", "&")
    assert "user_id=alice" in link
    assert sorted(re.findall(r'data-trace-id="([0-9a-f]+)"', admin.get(link).text)) == sorted(alice)
    scripted = re.search(r'<tr data-user-id="&lt;script[^"]*">(.*?)</tr>', page, re.S).group(1)
    assert re.findall(r'class="num">([^<]+)<', scripted)[:3] == ["1", "1", "100.0%"]
    assert (
        'data-user-id="bob"' in admin.get("/ui/users", params={"range": "custom", "from": "2000-01-01", "to": "2100-01-01"}).text
    )
    bad = assert_page(admin.get("/ui/users", params={"range": "custom", "from": "x", "sort": "height"}), 200)
    assert 'data-error-for="from"' in bad and 'data-error-for="sort"' in bad and "<tr data-user-id" not in bad


def test_users_of_another_project_are_not_shown(admin: httpx.Client, api: httpx.Client, app, prepared) -> None:
    from stackwright.sdk.transport import InProcessTransport

    with prepared.write() as session:
        other = service.create_project(session, SYSTEM, "other")
        _, other_key = keys.create_key(session, SYSTEM, other.id, "other key", ["write"])
    with httpx.Client(transport=InProcessTransport(app), base_url="http://stackwright.test",
                      headers={"Authorization": f"Bearer {other_key}"}) as other_api:  # fmt: skip
        send_recent(other_api, "theirs", 1, attrs={"user.id": "their-user"})
    send_recent(api, "mine", 1, attrs={"user.id": "my-user"})
    page = assert_page(admin.get("/ui/users"), 200)
    assert 'data-user-id="my-user"' in page and "their-user" not in page


def _traffic(enforcer: Enforcer, project_id: str, key_id: str, model: str, n: int, cost: float, tokens: int) -> None:
    async def go() -> None:
        for _ in range(n):
            ticket = await enforcer.admit(project_id, key_id, model)
            await enforcer.settle(ticket, cost, tokens)

    asyncio.run(go())


def test_gateway_usage_shows_spend_and_counts_against_limits_with_the_burn(admin: httpx.Client, app, prepared) -> None:
    enforcer = app.state.limits
    with prepared.write() as session:
        project = service.find_project(session, "default")
        key = session.scalar(select(ApiKey).where(ApiKey.project_id == project.id))
        replace_model_limits(session, project.id, {"gpt-x": {"daily_usd": 1.5, "tpm": 100_000}, SCRIPT: {"rpm": 5}})
        other = service.create_project(session, SYSTEM, "other")
        other_key, _ = keys.create_key(session, SYSTEM, other.id, "their key", ["write"])
        ids = (project.id, key.id, other.id, other_key.id)
    _traffic(enforcer, ids[0], ids[1], "gpt-x", 4, 0.25, 100)
    _traffic(enforcer, ids[2], ids[3], "their-model", 3, 1.0, 10)
    page = assert_page(admin.get("/ui/usage"), 200)
    models = re.findall(r'data-scope="model" data-subject="([^"]+)"', page)
    assert models == ["&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;", "gpt-x"]  # by name
    assert f'data-scope="key" data-subject="{ids[1]}"' in page and "bootstrap admin key" in page
    row = re.search(r'data-subject="gpt-x">(.*?)</tr>', page, re.S).group(1)
    spend = re.sub(
        r"\s+", " ", re.sub(r"<[^>]+>", "", re.search(r'data-figure="usd-spend-today">(.*?)</td>', row, re.S).group(1))
    )
    assert "$1.0000 / $1.5000 (67%)" in spend and "burn: $" in spend  # projected to the end of the UTC day
    tokens = re.sub(r"<[^>]+>", "", re.search(r'data-figure="tokens-tokens-this-minute">(.*?)</td>', row, re.S).group(1))
    assert "400 / 100,000" in re.sub(r"\s+", " ", tokens)
    assert "their-model" not in page and "their key" not in page and "<script>alert" not in page
