"""Cost of a span from its model and token counts: project price overrides first, then genai-prices
(offline data shipped in the package). Rates are looked up once per model and cached."""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=4096)
def catalog_rates(model: str, provider: str | None) -> tuple[float, float] | None:
    """USD per token (input, output) from genai-prices, or None for an unknown model."""
    from genai_prices import Usage, calc_price

    def price(usage: Any) -> float:
        try:
            return float(calc_price(usage, model_ref=model, provider_id=provider).total_price)
        except LookupError:
            if provider is None:
                raise
            return float(calc_price(usage, model_ref=model).total_price)

    try:
        per_m_in = price(Usage(input_tokens=1_000_000, output_tokens=0))
        per_m_out = price(Usage(input_tokens=0, output_tokens=1_000_000))
    except (LookupError, ValueError):
        return None
    return per_m_in / 1e6, per_m_out / 1e6


class Pricer:
    """Prices spans for one project; ``overrides`` maps model -> {input_per_mtok, output_per_mtok} in USD."""

    def __init__(self, overrides: dict[str, dict[str, float]] | None = None):
        self.overrides = overrides or {}

    def __call__(self, model: str | None, provider: str | None, input_tokens: int | None, output_tokens: int | None) -> float | None:
        if not model:
            return None
        override = self.overrides.get(model)
        rates: tuple[float, float] | None
        if override:
            rates = (override.get("input_per_mtok", 0.0) / 1e6, override.get("output_per_mtok", 0.0) / 1e6)
        else:
            rates = catalog_rates(model, provider)
        if rates is None:
            return None
        return (input_tokens or 0) * rates[0] + (output_tokens or 0) * rates[1]


class ProjectPricers:
    """Each project's Pricer for one app, re-read from ``trace_settings`` at most every ``ttl_s``.

    A change through this app's API is seen at once (``forget``); one made elsewhere (another replica,
    the CLI) within ``ttl_s``.
    """

    def __init__(self, db: Any, ttl_s: float = 30.0):
        self.db = db
        self.ttl_s = ttl_s
        self._cache: dict[str, tuple[float, Pricer]] = {}

    def get(self, project_id: str) -> Pricer:
        from stackwright.tracing.models import TraceSettings

        cached = self._cache.get(project_id)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        with self.db.read() as session:
            settings = session.get(TraceSettings, project_id)
            pricer = Pricer(dict(settings.prices or {}) if settings else {})
        self._cache[project_id] = (time.monotonic() + self.ttl_s, pricer)
        return pricer

    def forget(self, project_id: str) -> None:
        self._cache.pop(project_id, None)
