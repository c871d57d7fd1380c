"""Gates: the spec's thresholds (min_mean, max_mean, min_pass_rate per scorer) and ``no_regression_vs``
(no scorer's mean may drop by more than ``max_drop`` against the newest completed run of that name).
Each check is ``{name, passed, message}``; a scorer that measured no case fails its thresholds.

Release promotion asks ``check_release``: the newest completed run of the release's required evaluation
must have passed every gate. The releases layer, above this one, puts it first in line of its checkers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class GateResult:
    """Whether a release's candidate may be promoted, and why (``releases.gates`` re-exports it)."""

    passed: bool
    detail: str
    evidence: dict[str, Any] | None = None  # e.g. the run id and its scores

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def threshold_checks(spec: Any, summary: dict[str, Any]) -> list[dict[str, Any]]:
    checks: list[dict[str, Any]] = []
    for scorer, threshold in (spec.gate.scorers.items() if spec.gate else []):
        stats = (summary.get("scorers") or {}).get(scorer) or {}
        for key, limit in (("min_mean", threshold.min_mean), ("max_mean", threshold.max_mean), ("min_pass_rate", threshold.min_pass_rate)):
            if limit is None:
                continue
            observed = stats.get("pass_rate" if key == "min_pass_rate" else "mean")
            label = "pass rate" if key == "min_pass_rate" else "mean"
            name = f"{scorer}.{key}"
            if observed is None:
                checks.append({"name": name, "passed": False, "observed": None, "threshold": limit,
                               "message": f"{scorer}: no case was measured ({stats.get('unmeasured', 0)} unmeasured), so its {label} cannot reach {limit:g}"})  # fmt: skip
                continue
            ok = observed >= limit if key != "max_mean" else observed <= limit
            relation = (">=" if key != "max_mean" else "<=") if ok else ("<" if key != "max_mean" else ">")
            checks.append({"name": name, "passed": ok, "observed": observed, "threshold": limit,
                           "message": f"{scorer}: {label} {_fmt(observed)} {relation} {limit:g}"})  # fmt: skip
    return checks


def regression_checks(session: Any, project_id: str, spec: Any, summary: dict[str, Any], run: Any) -> list[dict[str, Any]]:
    if not spec.gate or not spec.gate.no_regression_vs:
        return []
    from stackwright.evals import service

    baseline_name = spec.gate.no_regression_vs
    baseline = service.latest_completed(session, project_id, name=baseline_name)
    if baseline is None or baseline.id == run.id:
        return [{"name": f"no_regression_vs.{baseline_name}", "passed": False, "observed": None, "threshold": None,
                 "message": f"no completed run named {baseline_name!r} to compare with; run the baseline with --name {baseline_name}"}]  # fmt: skip
    checks = []
    base_scorers = (baseline.summary or {}).get("scorers") or {}
    for scorer, stats in (summary.get("scorers") or {}).items():
        before = (base_scorers.get(scorer) or {}).get("mean")
        now = stats.get("mean")
        name = f"no_regression_vs.{baseline_name}.{scorer}"
        if before is None:
            continue
        drop = None if now is None else before - now
        ok = drop is not None and drop <= spec.gate.max_drop + 1e-12
        message = (f"{scorer}: mean {_fmt(now)} vs {_fmt(before)} in {baseline.name} ({baseline.id})"
                   + ("" if ok else f": dropped by more than {spec.gate.max_drop:g}"))  # fmt: skip
        checks.append({"name": name, "passed": ok, "observed": now, "threshold": before, "message": message, "baseline_run": baseline.id})
    return checks


def evaluate(session: Any, project_id: str, spec: Any, summary: dict[str, Any], run: Any) -> list[dict[str, Any]]:
    return threshold_checks(spec, summary) + regression_checks(session, project_id, spec, summary, run)


def failed(summary: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [g for g in (summary or {}).get("gates") or [] if not g["passed"]]


# -- release promotion -------------------------------------------------------------------------------


def check_release(session: Any, project_id: str, requirement: str, release: Any) -> Any:
    """The newest completed run of evaluation ``requirement`` (spec name or run name) must pass its gates."""
    from stackwright.evals import service

    run = service.latest_completed(session, project_id, spec_name=requirement) or service.latest_completed(session, project_id, name=requirement)
    if run is None:
        return None  # no opinion: the releases layer refuses with "no passing result exists"
    evidence = {"run_id": run.id, "run_name": run.name, "dataset": run.dataset_ref,
                "scorers": {k: v.get("mean") for k, v in ((run.summary or {}).get("scorers") or {}).items()}}  # fmt: skip
    started = getattr(release, "candidate_started_at", None)
    if started is not None and run.finished_at is not None and run.finished_at < started:
        return GateResult(False, f"the newest run of {requirement!r} ({run.name}, {run.id}) finished before the candidate started; "
                                 f"run `stackwright evals run` again on the candidate.", evidence)  # fmt: skip
    bad = failed(run.summary)
    if bad:
        reasons = "; ".join(g["message"] for g in bad)
        return GateResult(False, f"evaluation {requirement!r} run {run.name} ({run.id}) failed its gate: {reasons}", evidence)
    return GateResult(True, f"evaluation {requirement!r} run {run.name} ({run.id}) passed its gate", evidence)
