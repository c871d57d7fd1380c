"""Comparing two eval runs (`/ui/evals/compare?a={run_id}&b={run_id}`): per scorer the means, the paired tests'
p-values (the evals layer's exact McNemar on pass/fail flips and Wilcoxon signed-rank on values), the cases that
regressed or improved with both outputs side by side, every paired case side by side (paged), and a verdict in
plain words. Cases pair on (item, repeat); the tests cover every paired case, whatever page is shown.
"""

from __future__ import annotations

from typing import Any

from fastapi import Query, Request
from fastapi.responses import Response

from stackwright.core.deps import get_db
from stackwright.evals import compare, service
from stackwright.ui.evals import offset_of, shown
from stackwright.ui.pages import UserDep, page_router, render

router = page_router()
ALPHA = 0.05
LISTED = 50  # regressed / improved cases listed per scorer
SIDE_BY_SIDE_PER_PAGE = 50
PICKABLE = 100  # newest runs offered by the picker


def p_text(p: float | None) -> str:
    if p is None:
        return "n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.2g}"


def p_value(p: float | None) -> str:
    """A p-value for the table: the layer rounds to 6 decimals, so 0 means below 0.000001."""
    if p is None:
        return "n/a"
    return "< 0.000001" if p == 0 else f"{p:.4g}"


def chosen_test(name: str, result: dict[str, Any], rows: list[dict[str, Any]]) -> tuple[str, float | None]:
    """McNemar for a pass/fail scorer (every value 0 or 1: it counts the flips), else Wilcoxon on the paired values."""
    values = {((r.get("scores") or {}).get(name) or {}).get("value") for r in rows} - {None}
    if values <= {0.0, 1.0}:
        return "McNemar", result["mcnemar_p"]
    return "Wilcoxon", result["wilcoxon_p"]


def verdict(b_name: str, rows: list[dict[str, Any]]) -> str:
    """``v2 is better on groundedness, p = 0.01; no significant change on exactness (p = 0.6)``."""
    parts = []
    for row in rows:
        p, diff = row["p"], row["mean_diff"]
        if not row["paired"]:
            parts.append(f"no paired cases to compare on {row['name']}")
        elif p is not None and p < ALPHA and diff:
            parts.append(f"{b_name} is {'better' if diff > 0 else 'worse'} on {row['name']}, {p_text(p)}")
        else:
            parts.append(f"no significant change on {row['name']} ({p_text(p)})")
    return "; ".join(parts) + "." if parts else "The runs share no scorer, so there is nothing to compare."


def side_by_side(index_a: dict, index_b: dict, keys: list[tuple[str, int]], names: list[str]) -> list[dict[str, Any]]:
    out = []
    for key in keys:
        a, b = index_a.get(key) or {}, index_b.get(key) or {}
        out.append({
            "item_id": key[0], "repeat_index": key[1], "input": shown((a or b).get("input"), 200),
            "a": shown(a.get("error") and f"error: {a['error']}" or a.get("output")), "b": shown(b.get("error") and f"error: {b['error']}" or b.get("output")),
            "trace_a": a.get("trace_id"), "trace_b": b.get("trace_id"),
            "scores": [{"name": n, "a": ((a.get("scores") or {}).get(n) or {}).get("value"), "b": ((b.get("scores") or {}).get(n) or {}).get("value")}
                       for n in names],
        })  # fmt: skip
    return out


def _picker(request: Request, user: Any, a: str, b: str, problem: str | None = None) -> Response:
    with get_db(request).read() as session:
        runs = service.list_runs(session, user.project_id, limit=PICKABLE)
    return render(request, "eval_compare_pick.html", 400 if problem else 200, user=user, runs=runs, a=a, b=b, problem=problem)


@router.get("/ui/evals/compare")
def compare_page(request: Request, user: UserDep, a: str = Query("", max_length=200), b: str = Query("", max_length=200),
                 offset: str | None = Query(None, max_length=12)) -> Response:  # fmt: skip
    if not a or not b:
        return _picker(request, user, a, b, "Pick two runs: A (the baseline) and B (the new run)." if (a or b) else None)
    start = offset_of(offset)
    with get_db(request).read() as session:
        run_a, run_b = service.find_run(session, user.project_id, a), service.find_run(session, user.project_id, b)
        rows_a, rows_b = service.case_rows(session, run_a.id), service.case_rows(session, run_b.id)
    names = compare.shared_scorers(run_a, run_b)
    result = compare.compare_rows(rows_a, rows_b, names, LISTED)
    index_a, index_b = compare.index_by_case(rows_a), compare.index_by_case(rows_b)
    scorer_rows = []
    for name, r in result["scorers"].items():
        test, p = chosen_test(name, r, rows_a + rows_b)
        scorer_rows.append({**r, "name": name, "test": test, "p": p, "significant": p is not None and p < ALPHA and bool(r["mean_diff"]),
                            "regressed": side_by_side(index_a, index_b, [(c["item_id"], c["repeat_index"]) for c in r["regressed_cases"]], [name]),
                            "improved": side_by_side(index_a, index_b, [(c["item_id"], c["repeat_index"]) for c in r["improved_cases"]], [name])})  # fmt: skip
    paired_keys = sorted(set(index_a) & set(index_b))
    context: dict[str, Any] = {
        "a": service.run_payload(run_a), "b": service.run_payload(run_b), "same_dataset": run_a.dataset_ref == run_b.dataset_ref,
        "rows": scorer_rows, "verdict": verdict(run_b.name, scorer_rows), "names": names, "alpha": ALPHA, "p_text": p_text, "p_value": p_value,
        "cases": side_by_side(index_a, index_b, paired_keys[start : start + SIDE_BY_SIDE_PER_PAGE], names), "paired": len(paired_keys),
        "only_a": len(set(index_a) - set(index_b)), "only_b": len(set(index_b) - set(index_a)), "offset": start, "per_page": SIDE_BY_SIDE_PER_PAGE,
    }  # fmt: skip
    return render(request, "eval_compare.html", user=user, **context)
