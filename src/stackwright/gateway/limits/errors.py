"""The 429 a refused request gets: which limit, how much was used, and when it resets."""

from __future__ import annotations

import math
from typing import Any

from stackwright.core.errors import StackwrightError
from stackwright.gateway.limits.spec import CAPPED, describe_amount, iso, period_bounds, to_usd


class LimitExceeded(StackwrightError):
    """A budget or rate limit refused the request; ``details.retry_after_s`` becomes Retry-After."""

    status = 429
    code = "rate_limited"


def _wait(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} days {seconds % 86400 // 3600} h"


def _who(scope: str, subject: str, name: str | None) -> str:
    if scope == "model":
        return f"model {subject!r}"
    return f"key {name!r} ({subject})" if name and name != subject else f"key {subject}"


def _hint(scope: str, subject: str, field: str) -> str:
    if scope == "model":
        return f"Raise models[].limits.{field} for {subject!r} in gateway.yaml and apply it, or wait."
    option = {"daily_usd": "budget KEY --daily USD", "monthly_usd": "budget KEY --monthly USD",
              "rpm": "limits KEY --rpm N", "tpm": "limits KEY --tpm N"}[field]  # fmt: skip
    return f"Wait, or raise it with `stackwright keys {option}` or PUT /api/v1/keys/{subject}/limits."


def limit_exceeded(
    key: tuple[str, str, str, str, str, int], cap: int, used: int, leased: int, now: float, name: str | None = None
) -> LimitExceeded:
    """The error for a counter at its cap. ``key`` is (project, scope, subject, metric, period, period_start)."""
    _project, scope, subject, metric, period, start = key
    end = period_bounds(period, start)[1]
    retry_after = max(1, math.ceil(end - now))
    field = CAPPED[(metric, period)]
    who = _who(scope, subject, name)
    in_flight = f" (and {describe_amount(metric, leased)} reserved by requests in flight)" if leased > 0 else ""
    resets = f"It resets at {iso(end)} (in {_wait(retry_after)})."
    if metric == "usd":
        budget = "daily" if period == "day" else "monthly"
        message = (f"Budget exceeded: {who} has spent {describe_amount('usd', used)}{in_flight} "
                   f"of its {describe_amount('usd', cap)} {budget} budget (UTC {period}). {resets}")  # fmt: skip
        code = "budget_exceeded"
    else:
        message = (f"Rate limit reached: {who} has used {used:,}{in_flight} of its {cap:,} {metric} "
                   f"per minute ({field}). {resets}")  # fmt: skip
        code = "rate_limited"
    as_number = to_usd if metric == "usd" else int
    details: dict[str, Any] = {
        "scope": scope,
        "subject": subject,
        "name": name or subject,
        "limit": field,
        "period": period,
        "used": as_number(used),
        "reserved": as_number(max(leased, 0)),
        "limit_value": as_number(cap),
        "resets_at": iso(end),
        "retry_after_s": retry_after,
    }
    return LimitExceeded(message, hint=_hint(scope, subject, field), details=details, code=code)
