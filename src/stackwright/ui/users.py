"""End users (`/ui/users`): requests, errors, tokens and cost per ``user_id`` over a time range, from the
tracing layer's stats service (one grouped query), each user linking to the trace list of their traces."""

from __future__ import annotations

import time
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from stackwright.core.deps import get_db
from stackwright.core.errors import InvalidInput
from stackwright.tracing import queries
from stackwright.tracing.admin import stats
from stackwright.ui.dashboard import RANGES, parse_range, trace_link
from stackwright.ui.nav import NavEntry, add_nav
from stackwright.ui.pages import UserDep, page_router, render

router = page_router()
add_nav(NavEntry("Users", "/ui/users", 40))

SORTS = {"cost": "cost", "requests": "count", "errors": "error_count"}
SHOWN = 500


@router.get("/ui/users")
def user_list(request: Request, user: UserDep) -> Response:
    values = {name: request.query_params.get(name, "").strip() for name in ("range", "from", "to", "sort")}
    values["range"] = values["range"] or "30d"
    _, start, end, errors = parse_range(values, time.time_ns())
    sort = values["sort"] or "cost"
    if sort not in SORTS:
        errors["sort"] = f"Sort by one of {', '.join(SORTS)}."
    rows: list[dict[str, Any]] = []
    problem = None
    total = 0
    if not errors and start is not None and end is not None:
        query = stats.StatsQuery(group_by="user_id", start_ns=start, end_ns=end)
        try:
            with get_db(request).read() as session:
                found = stats.compute_stats(session, user.project_id, query)["data"]
        except InvalidInput as exc:  # more users than the stats service groups at once
            found, problem = [], exc.message
        found.sort(key=lambda r: (-r[SORTS[sort]], r["group"] is None, r["group"] or ""))
        total = len(found)
        window = {"start": queries.iso(start), "end": queries.iso(end)}
        for row in found[:SHOWN]:
            href = trace_link(user_id=row["group"], **window) if row["group"] is not None else None
            rows.append({**row, "href": href})
    return render(request, "users.html", user=user, values=values, errors=errors, problem=problem, rows=rows, total=total,
                  shown=SHOWN, ranges=list(RANGES), sorts=list(SORTS), sort=sort)  # fmt: skip
