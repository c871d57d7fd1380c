"""Comparing two runs case by case: per-scorer mean differences, regressions and improvements, paired
significance (exact McNemar on pass/fail, Wilcoxon signed-rank on values), and judge variance across
repeats. Cases pair on (item id, repeat index); a case measured in only one run is left out and counted."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

EPS = 1e-9


def index_by_case(rows: list[dict[str, Any]]) -> dict[tuple[str, int], dict[str, Any]]:
    return {(r["item_id"], r["repeat_index"]): r for r in rows}


def mcnemar(b: int, c: int) -> float:
    """Exact McNemar p-value: b cases went pass->fail, c went fail->pass."""
    if b + c == 0:
        return 1.0
    from scipy.stats import binomtest

    return float(binomtest(b, b + c, 0.5).pvalue)


def wilcoxon(diffs: list[float]) -> float | None:
    nonzero = [d for d in diffs if abs(d) > EPS]
    if not nonzero:
        return 1.0 if diffs else None
    from scipy.stats import wilcoxon as test

    return float(test(nonzero).pvalue)


def judge_variance(rows: list[dict[str, Any]], scorer: str) -> float | None:
    """Mean over items of the variance of the scorer's value across repeats (None without repeats)."""
    import numpy as np

    by_item: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        score = (r.get("scores") or {}).get(scorer) or {}
        if score.get("value") is not None:
            by_item[r["item_id"]].append(score["value"])
    variances = [float(np.var(v, ddof=1)) for v in by_item.values() if len(v) > 1]
    return round(float(np.mean(variances)), 6) if variances else None


def compare_scorer(a: dict[tuple[str, int], dict], b: dict[tuple[str, int], dict], name: str, limit: int) -> dict[str, Any]:
    diffs: list[float] = []
    regressions: list[dict[str, Any]] = []
    improvements: list[dict[str, Any]] = []
    flips_down = flips_up = unpaired = 0
    for key in sorted(set(a) | set(b)):
        sa = ((a.get(key) or {}).get("scores") or {}).get(name) or {}
        sb = ((b.get(key) or {}).get("scores") or {}).get(name) or {}
        if sa.get("value") is None or sb.get("value") is None:
            unpaired += 1
            continue
        diff = sb["value"] - sa["value"]
        diffs.append(diff)
        pa, pb = sa.get("passed"), sb.get("passed")
        entry = {"item_id": key[0], "repeat_index": key[1], "a": sa["value"], "b": sb["value"], "diff": round(diff, 6)}
        down = (pa is True and pb is False) or (pa is None and diff < -EPS)
        up = (pa is False and pb is True) or (pa is None and diff > EPS)
        if pa is True and pb is False:
            flips_down += 1
        if pa is False and pb is True:
            flips_up += 1
        if down:
            regressions.append(entry)
        elif up:
            improvements.append(entry)
    mean_a = sum(s for s in (((a[k].get("scores") or {}).get(name) or {}).get("value") for k in a) if s is not None)
    n_a = sum(1 for k in a if (((a[k].get("scores") or {}).get(name) or {}).get("value")) is not None)
    mean_b = sum(s for s in (((b[k].get("scores") or {}).get(name) or {}).get("value") for k in b) if s is not None)
    n_b = sum(1 for k in b if (((b[k].get("scores") or {}).get(name) or {}).get("value")) is not None)
    regressions.sort(key=lambda e: e["diff"])
    improvements.sort(key=lambda e: -e["diff"])
    return {
        "mean_a": round(mean_a / n_a, 6) if n_a else None,
        "mean_b": round(mean_b / n_b, 6) if n_b else None,
        "mean_diff": round(sum(diffs) / len(diffs), 6) if diffs else None,
        "paired": len(diffs),
        "unpaired": unpaired,
        "regressions": len(regressions),
        "improvements": len(improvements),
        "regressed_cases": regressions[:limit],
        "improved_cases": improvements[:limit],
        "mcnemar_p": round(mcnemar(flips_down, flips_up), 6),
        "wilcoxon_p": None if (p := wilcoxon(diffs)) is None else round(p, 6),
    }


def compare_rows(rows_a: list[dict[str, Any]], rows_b: list[dict[str, Any]], scorers: list[str], limit: int = 50) -> dict[str, Any]:
    a, b = index_by_case(rows_a), index_by_case(rows_b)
    out: dict[str, Any] = {"cases_a": len(a), "cases_b": len(b), "scorers": {}}
    for name in scorers:
        result = compare_scorer(a, b, name, limit)
        result["judge_variance_a"] = judge_variance(rows_a, name)
        result["judge_variance_b"] = judge_variance(rows_b, name)
        out["scorers"][name] = result
    return out


def scorer_names(run: Any) -> list[str]:
    """A run's scorers: those its summary has, else those its spec names."""
    return list((run.summary or {}).get("scorers") or {}) or [s.get("name") or s["type"] for s in run.spec.get("scorers", [])]


def shared_scorers(run_a: Any, run_b: Any) -> list[str]:
    """The scorers both runs have, in run A's order: the ones a comparison covers."""
    names_b = set(scorer_names(run_b))
    return [n for n in scorer_names(run_a) if n in names_b]


def compare_runs(session: Any, project_id: str, ref_a: str, ref_b: str, limit: int = 50) -> dict[str, Any]:
    from stackwright.evals import service

    run_a, run_b = service.find_run(session, project_id, ref_a), service.find_run(session, project_id, ref_b)
    result = compare_rows(service.case_rows(session, run_a.id), service.case_rows(session, run_b.id), shared_scorers(run_a, run_b), limit)
    result["a"] = {"id": run_a.id, "name": run_a.name, "dataset": run_a.dataset_ref, "status": run_a.status}
    result["b"] = {"id": run_b.id, "name": run_b.name, "dataset": run_b.dataset_ref, "status": run_b.status}
    result["same_dataset"] = run_a.dataset_ref == run_b.dataset_ref
    return result
