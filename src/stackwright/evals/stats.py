"""Run summaries: per-scorer means with bootstrap 95 % confidence intervals, pass rates, measured and
unmeasured counts; totals of cost, tokens and latency. Deterministic for a seed: values are taken in
(item, repeat) order and the bootstrap uses a generator seeded from the run's seed."""

from __future__ import annotations

from collections import Counter
from typing import Any

N_RESAMPLES = 2000


def bootstrap_ci(values: list[float], seed: int, confidence: float = 0.95) -> tuple[float, float]:
    import numpy as np

    data = np.asarray(values, dtype=float)
    if len(data) < 2 or float(data.min()) == float(data.max()):
        mean = float(data.mean()) if len(data) else float("nan")
        return mean, mean
    from scipy import stats  # about 0.9 s to import: only when there is an interval to compute

    result = stats.bootstrap((data,), np.mean, confidence_level=confidence, n_resamples=N_RESAMPLES, method="percentile",
                             vectorized=True, random_state=np.random.default_rng(seed))  # fmt: skip
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def scorer_stats(scores: list[dict[str, Any] | None], seed: int) -> dict[str, Any]:
    """``scores``: one score dict (value, passed, reason) per case, in (item, repeat) order."""
    values = [s["value"] for s in scores if s and s.get("value") is not None]
    passes = [s["passed"] for s in scores if s and s.get("value") is not None and s.get("passed") is not None]
    reasons = Counter((s or {}).get("reason") or "no score" for s in scores if not s or s.get("value") is None)
    out: dict[str, Any] = {
        "measured": len(values),
        "unmeasured": len(scores) - len(values),
        "mean": None, "ci_low": None, "ci_high": None,
        "pass_rate": _r(sum(passes) / len(passes)) if passes else None,
        "passed": sum(passes), "failed": len(passes) - sum(passes),
        "unmeasured_reasons": dict(reasons.most_common(5)),
    }  # fmt: skip
    if values:
        low, high = bootstrap_ci(values, seed)
        out.update(mean=_r(sum(values) / len(values)), ci_low=_r(low), ci_high=_r(high))
    return out


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    import numpy as np

    return round(float(np.percentile(values, q)), 1)


def summarize(rows: list[dict[str, Any]], scorer_names: list[str], seed: int) -> dict[str, Any]:
    """Rows: case results with item_id, repeat_index, scores, error, cost, latency_ms, tokens."""
    rows = sorted(rows, key=lambda r: (r["item_id"], r["repeat_index"]))
    latencies = [r["latency_ms"] for r in rows if r.get("latency_ms") is not None and not r.get("error")]
    costs = [r["cost"] for r in rows if r.get("cost") is not None]
    return {
        "cases": len(rows),
        "errors": sum(1 for r in rows if r.get("error")),
        "scorers": {name: scorer_stats([(r.get("scores") or {}).get(name) for r in rows], seed) for name in scorer_names},
        "cost_usd": round(sum(costs), 8) if costs else None,
        "input_tokens": sum(r.get("input_tokens") or 0 for r in rows),
        "output_tokens": sum(r.get("output_tokens") or 0 for r in rows),
        "latency_ms": {"p50": _percentile(latencies, 50), "p95": _percentile(latencies, 95)},
    }
