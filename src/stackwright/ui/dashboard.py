"""The dashboard (`/ui/dashboard`): requests, error rate, p50/p95 latency, tokens and cost over time, a
breakdown by model, route, environment, prompt version or span name, the most expensive and slowest traces
and the latest alerts. Every figure comes from the tracing layer's stats service (a few aggregate queries
for the whole range, never one per bucket); every bucket and group links to the trace list it counts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import Response

from stackwright.core.deps import get_db
from stackwright.core.errors import InvalidInput
from stackwright.monitoring.alerts import alert_dict, list_alerts
from stackwright.tracing import queries
from stackwright.tracing.admin import stats
from stackwright.ui.charts import Bucket, chart
from stackwright.ui.nav import NavEntry, add_nav
from stackwright.ui.pages import UserDep, page_router, render

router = page_router()
add_nav(NavEntry("Dashboard", "/ui/dashboard", 10))

HOUR_NS = 3600 * 10**9
RANGES = {"24h": 24 * HOUR_NS, "7d": 7 * 24 * HOUR_NS, "30d": 30 * 24 * HOUR_NS}
BUCKETS = {"hour": "1h", "day": "1d", "week": "7d"}  # weeks are 7-day buckets counted from 1970 (UTC)
DEFAULT_BUCKET = {"24h": "hour", "7d": "hour", "30d": "day", "custom": "day"}
BREAKDOWNS = ("model", "route", "environment", "prompt_version", "span_name")
TRACE_FILTER_OF = {"model": "model", "route": "route", "environment": "environment", "prompt_version": "prompt_version"}
MAX_BUCKETS = 1000
TOP = 5


@dataclass(frozen=True)
class Window:
    range: str
    start_ns: int
    end_ns: int
    bucket: str


def parse_range(values: dict[str, str], now_ns: int) -> tuple[str, int | None, int | None, dict[str, str]]:
    """The range asked for (``range``: 24h, 7d, 30d or custom with ``from`` and ``to``) as unix nanoseconds,
    or per field what is wrong with it."""
    errors: dict[str, str] = {}
    chosen = values.get("range") or "24h"
    if chosen not in (*RANGES, "custom"):
        errors["range"] = f"Pick one of {', '.join(RANGES)} or custom."
        chosen = "24h"
    if chosen != "custom":
        return chosen, now_ns - RANGES[chosen], now_ns, errors
    start = end = None
    for name in ("from", "to"):
        try:
            parsed = stats.parse_time(values.get(name), name)
        except InvalidInput as exc:
            errors[name] = exc.message
            continue
        if parsed is None:
            errors[name] = "Give a time (ISO 8601, e.g. 2025-01-31T12:00:00Z) for a custom range."
        start, end = (parsed, end) if name == "from" else (start, parsed)
    if start is not None and end is not None and end <= start:
        errors["to"] = "The end must be after the start."
    return chosen, start, end, errors


def _window(values: dict[str, str], now_ns: int) -> tuple[Window | None, dict[str, str]]:
    """The time range and bucket asked for, or per field what is wrong with it."""
    chosen, start, end, errors = parse_range(values, now_ns)
    bucket = values["bucket"] or DEFAULT_BUCKET[chosen]
    if bucket not in BUCKETS:
        errors["bucket"] = f"Bucket by {', '.join(BUCKETS)}."
    if errors or start is None or end is None:
        return None, errors
    width = stats.parse_bucket(BUCKETS[bucket]) or HOUR_NS
    if (end - start) // width > MAX_BUCKETS:
        return None, {"bucket": f"That is more than {MAX_BUCKETS} {bucket}s: pick a wider bucket or a shorter range."}
    return Window(chosen, start, end, bucket), {}


def trace_link(**params: Any) -> str:
    return "/ui/traces?" + urlencode({k: v for k, v in params.items() if v not in (None, "")})


def _buckets(window: Window, rows: list[dict[str, Any]]) -> list[Bucket]:
    """Every bucket of the range, empty ones included, each with its trace-list link."""
    width = stats.parse_bucket(BUCKETS[window.bucket]) or HOUR_NS
    by_start = {row["bucket_start_ns"]: row for row in rows}
    out = []
    first = window.start_ns // width * width
    for begin in range(first, window.end_ns, width):
        lo, hi = max(begin, window.start_ns), min(begin + width, window.end_ns)
        label = queries.iso(begin)[:16].replace("T", " ")
        out.append(Bucket(lo, hi, trace_link(start=queries.iso(lo), end=queries.iso(hi)), label, by_start.get(begin)))
    return out


def _charts(buckets: list[Bucket]) -> list[Any]:
    def latency(pct: str) -> Any:
        return lambda row: row["latency_ms"][pct]

    return [
        chart("requests", "Requests", buckets, {"requests": lambda r: r["count"]}, lambda v: f"{v:,.0f}"),
        chart("errors", "Error rate", buckets, {"errors": lambda r: r["error_rate"] * 100}, lambda v: f"{v:.1f}%"),
        chart(
            "latency",
            "Latency p50 / p95",
            buckets,
            {"p50": latency("p50"), "p95": latency("p95")},
            lambda v: f"{v:,.0f} ms",
            lines=True,
        ),  # fmt: skip
        chart("tokens", "Tokens", buckets, {"tokens": lambda r: r["total_tokens"]}, lambda v: f"{v:,.0f}"),
        chart("cost", "Cost", buckets, {"cost": lambda r: r["cost"]}, lambda v: f"${v:,.4f}"),
    ]


def _breakdown(rows: list[dict[str, Any]], by: str, window: Window) -> list[dict[str, Any]]:
    out = []
    for row in sorted(rows, key=lambda r: -r["count"]):
        href = None
        if by in TRACE_FILTER_OF and row["group"] is not None:
            href = trace_link(
                start=queries.iso(window.start_ns), end=queries.iso(window.end_ns), **{TRACE_FILTER_OF[by]: row["group"]}
            )
        out.append({**row, "href": href})
    return out


def _totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    count = sum(r["count"] for r in rows)
    errors = sum(r["error_count"] for r in rows)
    return {"count": count, "error_rate": errors / count if count else 0.0,
            "tokens": sum(r["total_tokens"] for r in rows), "cost": sum(r["cost"] for r in rows)}  # fmt: skip


def _figures(session: Any, project_id: str, q: stats.StatsQuery) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Traces per bucket and per group, from one read of the range's traces. Span names are counted over spans,
    so that breakdown is a second read (the figures over time stay traces)."""
    if q.group_by == "span_name":
        over_time = stats.compute_stats(session, project_id, replace(q, group_by="none"))["data"]
        return over_time, stats.compute_stats(session, project_id, replace(q, bucket=None))["data"]
    overview = stats.compute_overview(session, project_id, q)
    return overview["over_time"], overview["by_group"]


@router.get("/ui/dashboard")
def dashboard(request: Request, user: UserDep) -> Response:
    values = {name: request.query_params.get(name, "").strip() for name in ("range", "from", "to", "bucket", "by")}
    window, errors = _window(values, time.time_ns())
    by = values["by"] or "model"
    if by not in BREAKDOWNS:
        errors["by"] = f"Break down by one of {', '.join(BREAKDOWNS)}."
    context: dict[str, Any] = {"charts": [], "breakdown": [], "totals": None, "expensive": [], "slowest": [], "alerts": []}
    if window is not None and not errors:
        project_id = user.project_id
        both = stats.StatsQuery(group_by=by, bucket=BUCKETS[window.bucket], start_ns=window.start_ns, end_ns=window.end_ns)
        in_range = queries.TraceFilters(start_ns=window.start_ns, end_ns=window.end_ns)
        with get_db(request).read() as session:
            series, groups = _figures(session, project_id, both)
            expensive, _ = queries.list_traces(session, project_id, in_range, sort="-cost", limit=TOP, preview_chars=0)
            slowest, _ = queries.list_traces(session, project_id, in_range, sort="-duration", limit=TOP, preview_chars=0)
            alerts = [alert_dict(a) for a in list_alerts(session, project_id, limit=TOP)[0]]
        context.update(
            charts=_charts(_buckets(window, series)), breakdown=_breakdown(groups, by, window), totals=_totals(series),
            expensive=expensive, slowest=slowest, alerts=alerts, range_link=trace_link(start=queries.iso(window.start_ns), end=queries.iso(window.end_ns)),
            shown_from=queries.iso(window.start_ns), shown_to=queries.iso(window.end_ns),
        )  # fmt: skip
    return render(
        request, "dashboard.html", user=user, values=values, errors=errors, by=by, ranges=list(RANGES), buckets=list(BUCKETS),
        breakdowns=BREAKDOWNS, bucket=window.bucket if window else values["bucket"], **context,
    )  # fmt: skip
