"""What a limit is: the four caps of a key or model, the UTC periods they count over, and their units.

Money is counted in nano-USD (integers), so shared counters add up exactly on every database.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

NANO_PER_USD = 1_000_000_000
MAX_USD = 1e9
MAX_RATE = 10**12

SCOPES = ("key", "model")
PERIODS = ("minute", "day", "month")
METRICS = ("usd", "requests", "tokens")
COUNTERS = tuple((metric, period) for metric in METRICS for period in PERIODS)  # every one is counted

# Which field of a LimitSpec caps which counter.
CAPPED = {("usd", "day"): "daily_usd", ("usd", "month"): "monthly_usd", ("requests", "minute"): "rpm", ("tokens", "minute"): "tpm"}
FIELDS = ("daily_usd", "monthly_usd", "rpm", "tpm")


@dataclass(frozen=True)
class LimitSpec:
    """Caps of one key or model; None means no cap. 0 blocks every request."""

    daily_usd: float | None = None
    monthly_usd: float | None = None
    rpm: int | None = None
    tpm: int | None = None

    @classmethod
    def of(cls, value: Any) -> LimitSpec:
        """A LimitSpec from a LimitSpec, a mapping, or any object with the four attributes (gateway.yaml's LimitsSpec)."""
        if value is None:
            return cls()
        if isinstance(value, LimitSpec):
            return value
        get = value.get if isinstance(value, dict) else lambda name: getattr(value, name, None)
        spec = cls(**{name: get(name) for name in FIELDS})
        spec.check()
        return spec

    def check(self) -> None:
        from stackwright.core.errors import InvalidInput

        for name in ("daily_usd", "monthly_usd"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not math.isfinite(value) or not 0 <= value <= MAX_USD):  # fmt: skip
                raise InvalidInput(f"{name} must be a number of USD from 0 to {MAX_USD:.0f}, not {value!r}.")
        for name in ("rpm", "tpm"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_RATE):
                raise InvalidInput(f"{name} must be a whole number from 0 to {MAX_RATE}, not {value!r}.")

    def is_empty(self) -> bool:
        return all(getattr(self, name) is None for name in FIELDS)

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in FIELDS}

    def caps(self) -> dict[tuple[str, str], int]:
        """The capped counters, in counting units: {(metric, period): cap}."""
        out: dict[tuple[str, str], int] = {}
        for counter, name in CAPPED.items():
            value = getattr(self, name)
            if value is not None:
                out[counter] = to_nano(value) if counter[0] == "usd" else int(value)
        return out


def to_nano(usd: float) -> int:
    return round(usd * NANO_PER_USD)


def to_usd(nano: int) -> float:
    return nano / NANO_PER_USD


def period_bounds(period: str, now: float) -> tuple[int, int]:
    """[start, end) of the UTC minute, day or month holding ``now`` (unix seconds)."""
    t = math.floor(now)
    if period == "minute":
        return t - t % 60, t - t % 60 + 60
    day = t - t % 86400
    if period == "day":
        return day, day + 86400
    return _month_of_day(day)


@lru_cache(maxsize=64)
def _month_of_day(day_start: int) -> tuple[int, int]:
    d = datetime.fromtimestamp(day_start, UTC)
    start = datetime(d.year, d.month, 1, tzinfo=UTC)
    end = datetime(d.year + (d.month == 12), d.month % 12 + 1, 1, tzinfo=UTC)
    return int(start.timestamp()), int(end.timestamp())


def iso(ts: float) -> str:
    """ISO 8601 UTC with a Z, e.g. 2026-11-23T00:00:00Z."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def describe_amount(metric: str, value: int) -> str:
    if metric == "usd":
        usd = to_usd(value)
        return f"${usd:,.2f}" if round(usd, 2) == usd else f"${usd:,.6f}".rstrip("0")
    return f"{value:,} {metric}"


# -- lease policy: how much allowance a process may hold, and when a counter is near its cap ---------

LEASE_SHARE = 16  # a lease takes at most 1/16 of what remains
NEAR_SHARE = 32  # closer than 1/32 of the cap (or 32 requests' worth) to the cap: exact mode


def near_threshold(cap: int, estimate: int) -> int:
    """Below this much remaining allowance a counter is 'near its cap': every admission goes to the database."""
    return max(cap // NEAR_SHARE, NEAR_SHARE * max(estimate, 1))


def lease_size(remaining: int, cap: int, estimate: int) -> int:
    """How much to lease from ``remaining``; 0 when the counter is near its cap."""
    if remaining < near_threshold(cap, estimate):
        return 0
    return max(remaining // LEASE_SHARE, 1)
