"""Gateway usage (`/ui/usage`): spend, requests and tokens of every API key and model this UTC minute, day
and month, against their budgets and rate limits, with the period's burn (what the period would end at if
spending went on at the rate so far). Figures come from the gateway's limits service, as the API's
`GET /api/v1/gateway/usage`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from stackwright.core.deps import get_db
from stackwright.gateway.limits.api import flush_local_usage, usage_now
from stackwright.gateway.limits.service import usage
from stackwright.ui.nav import NavEntry, add_nav
from stackwright.ui.pages import UserDep, page_router, render

router = page_router()
add_nav(NavEntry("Usage", "/ui/usage", 50))

# (what is counted, the period, the limit capping it, how to show an amount)
FIGURES = (
    ("usd", "day", "daily_usd", "Spend today"),
    ("usd", "month", "monthly_usd", "Spend this month"),
    ("requests", "minute", "rpm", "Requests this minute"),
    ("tokens", "minute", "tpm", "Tokens this minute"),
)


def _seconds(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _figure(entry: dict[str, Any], metric: str, period: str, limit_name: str, label: str, now: float) -> dict[str, Any]:
    counted = entry["usage"][period]
    used, cap = counted[metric], entry["limits"][limit_name]
    start, end = _seconds(counted["start"]), _seconds(counted["resets_at"])
    elapsed = min(max((now - start) / (end - start), 1e-6), 1.0)
    projected = used / elapsed if period != "minute" else None  # a minute is too short to project
    return {
        "label": label, "metric": metric, "used": used, "cap": cap, "resets_at": counted["resets_at"],
        "share": (used / cap if cap else (1.0 if cap == 0 and used else 0.0)) if cap is not None else None,
        "elapsed": elapsed, "projected": projected,
        "over": cap is not None and projected is not None and projected > cap,
    }  # fmt: skip


@router.get("/ui/usage")
def usage_page(request: Request, user: UserDep) -> Response:
    project_id = user.project_id
    flush_local_usage(request)  # before the first read, as the API does: on SQLite that read fixes the snapshot
    now = usage_now(request)
    with get_db(request).read() as session:
        entries = usage(session, project_id, now)
    rows = [
        {**e, "requests_today": e["usage"]["day"]["requests"], "figures": [_figure(e, *f, now) for f in FIGURES]} for e in entries
    ]
    return render(request, "usage.html", user=user, keys=[r for r in rows if r["scope"] == "key"],
                  models=[r for r in rows if r["scope"] == "model"])  # fmt: skip
