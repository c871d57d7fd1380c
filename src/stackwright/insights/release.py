"""Answers 5 and 8 for the release a request went through: did the candidate's prompt improve the eval
scores (the newest eval runs of the stable and candidate prompt versions, compared case by case), and
can the route roll back (to which config, and how fast the last rollback took effect). Both read only
stored data, through the releases, evals and tracing services."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from stackwright.core.errors import Conflict
from stackwright.evals.compare import compare_runs
from stackwright.evals.models import EvalRun
from stackwright.evals.service import case_rows, case_traces, recent_completed
from stackwright.insights.call import config_prompt
from stackwright.releases.history import list_changes, stable_to_restore
from stackwright.releases.models import Release
from stackwright.releases.service import status_view
from stackwright.tracing.queries import prompt_versions_of

EVAL_RUNS_SCANNED = 50  # newest completed eval runs looked at to find the configs' runs
CASES_PER_RUN = 5_000  # case results of a run read to learn which prompt version answered each
SIGNIFICANCE = 0.05


# -- 5. eval delta -------------------------------------------------------------------------------------------


def _case_prompts(session: Session, project_id: str, run: EvalRun) -> dict[tuple[str, int], str]:
    """Per case (item id, repeat) of a run, the prompt version (name@version) that answered it: read from the
    case's trace, else (untraced cases) the spec's target when it names an exact version."""
    cases = case_traces(session, run.id, CASES_PER_RUN)
    by_trace = prompt_versions_of(session, project_id, [t for _, _, t in cases if t])
    if by_trace:
        return {(item, repeat): by_trace[t] for item, repeat, t in cases if t in by_trace}
    target = ((run.spec or {}).get("target") or {}).get("prompt") or ""
    if target.partition("@")[2].isdigit():
        return {(item, repeat): target for item, repeat, _ in cases}
    return {}


CasePrompts = dict[tuple[str, int], str]  # (item id, repeat index) -> the prompt version that answered the case


def _runs_for(
    session: Session, project_id: str, configs: dict[str, dict[str, Any]]
) -> tuple[dict[str, EvalRun], tuple[EvalRun, CasePrompts] | None]:
    """The newest completed run that evaluated only each config's prompt version, and the newest run whose
    cases went to both (a run over the release route itself, sticky per case)."""
    wanted = {arm: config_prompt(c) for arm, c in configs.items() if config_prompt(c)}
    found: dict[str, EvalRun] = {}
    mixed: tuple[EvalRun, CasePrompts] | None = None
    runs = recent_completed(session, project_id, EVAL_RUNS_SCANNED)
    for run in runs:
        prompt_of = _case_prompts(session, project_id, run)
        prompts = set(prompt_of.values())
        if len(prompts) == 1:
            (prompt,) = prompts
            for arm, want in wanted.items():
                if arm not in found and want == prompt:
                    found[arm] = run
        elif mixed is None and len(wanted) == 2 and set(wanted.values()) <= prompts:
            mixed = (run, prompt_of)
        if len(found) == len(wanted):
            break
    return found, mixed


def _split_run(session: Session, run: EvalRun, prompt_of: CasePrompts, wanted: dict[str, str | None]) -> dict[str, Any]:
    """One run's cases split by the prompt version that answered them: per-scorer means, their difference
    and a Mann-Whitney U test (the groups hold different cases, so the test is unpaired)."""
    from scipy.stats import mannwhitneyu  # heavy: loaded only when a run is split

    names = list((run.summary or {}).get("scorers") or {})
    rows = case_rows(session, run.id)
    groups = {arm: [r for r in rows if prompt_of.get((r["item_id"], r["repeat_index"])) == want] for arm, want in wanted.items()}
    scorers = {}
    for name in names:
        raw = {arm: [((r.get("scores") or {}).get(name) or {}).get("value") for r in group] for arm, group in groups.items()}
        values = {arm: [float(v) for v in vs if v is not None] for arm, vs in raw.items()}
        a, b = values["stable"], values["candidate"]
        mean_a = round(sum(a) / len(a), 6) if a else None
        mean_b = round(sum(b) / len(b), 6) if b else None
        p = None
        if a and b:
            try:
                p = round(float(mannwhitneyu(a, b).pvalue), 6) if len(set(a) | set(b)) > 1 else 1.0
            except ValueError:
                p = None
        scorers[name] = {
            "stable_mean": mean_a, "candidate_mean": mean_b,
            "mean_delta": None if mean_a is None or mean_b is None else round(mean_b - mean_a, 6),
            "stable_cases": len(a), "candidate_cases": len(b), "paired_cases": 0, "mannwhitney_p": p,
            "significant": p is not None and p < SIGNIFICANCE,
        }  # fmt: skip
    return {"compared": True, "paired": False, "scorers": scorers, "run": _run_brief(run),
            "method": f"one run over the route ({run.name}): its cases split by the prompt version that answered them, Mann-Whitney U"}  # fmt: skip


def _run_brief(run: EvalRun) -> dict[str, Any]:
    scorers = (run.summary or {}).get("scorers") or {}
    return {"id": run.id, "name": run.name, "dataset": run.dataset_ref,
            "finished_at": run.finished_at.isoformat() if run.finished_at else None,
            "means": {k: v.get("mean") for k, v in scorers.items()}}  # fmt: skip


def eval_delta(session: Session, project_id: str, release: Release | None) -> dict[str, Any]:
    if release is None:
        return {"compared": False, "explanation": "the request went through no release route, so there are no stable and candidate configs to compare"}
    configs: dict[str, dict[str, Any]] = {"stable": release.stable}
    if release.candidate is not None:
        configs["candidate"] = release.candidate
    elif release.last_rollback and release.last_rollback.get("from"):
        configs["candidate"] = release.last_rollback["from"]  # the config the last rollback left
    out: dict[str, Any] = {
        "route": release.route, "environment": release.environment,
        "stable": config_prompt(configs["stable"]), "candidate": config_prompt(configs.get("candidate")),
        "candidate_is_rolled_back": release.candidate is None and "candidate" in configs,
    }  # fmt: skip
    runs, mixed = _runs_for(session, project_id, configs)
    out["runs"] = {arm: _run_brief(run) for arm, run in runs.items()}
    if ("stable" not in runs or "candidate" not in runs) and mixed is not None:
        wanted = {arm: config_prompt(c) for arm, c in configs.items()}
        run, prompt_of = mixed
        out.update(_split_run(session, run, prompt_of, wanted), significance_level=SIGNIFICANCE)
        out["verdict"] = _verdict(out["scorers"])
        return out
    if "stable" not in runs or "candidate" not in runs:
        missing = [f"{arm} ({config_prompt(c)})" for arm, c in configs.items() if arm not in runs]
        out.update(compared=False, scorers={},
                   explanation=f"no completed eval run of {' and '.join(missing)} is stored; run `stackwright evals run` with a spec whose target is that prompt version")  # fmt: skip
        return out
    result = compare_runs(session, project_id, runs["stable"].id, runs["candidate"].id, limit=5)
    scorers = {}
    for name, s in result["scorers"].items():
        ps = [p for p in (s.get("wilcoxon_p"), s.get("mcnemar_p")) if p is not None]
        p = min(ps) if ps else None
        scorers[name] = {
            "stable_mean": s["mean_a"], "candidate_mean": s["mean_b"], "mean_delta": s["mean_diff"],
            "paired_cases": s["paired"], "improved_cases": s["improvements"], "regressed_cases": s["regressions"],
            "wilcoxon_p": s["wilcoxon_p"], "mcnemar_p": s["mcnemar_p"],
            "significant": p is not None and p < SIGNIFICANCE and bool(s["paired"]),
            "regressions": s["regressed_cases"], "improvements": s["improved_cases"],
        }  # fmt: skip
    out.update(compared=True, paired=True, same_dataset=result["same_dataset"], scorers=scorers, significance_level=SIGNIFICANCE,
               method="the newest completed run of each prompt version, paired by case: Wilcoxon signed-rank and exact McNemar")  # fmt: skip
    out["verdict"] = _verdict(scorers)
    return out


def _verdict(scorers: dict[str, dict[str, Any]]) -> str:
    better = [n for n, s in scorers.items() if s["significant"] and (s["mean_delta"] or 0) > 0]
    worse = [n for n, s in scorers.items() if s["significant"] and (s["mean_delta"] or 0) < 0]
    parts = ([f"improved: {', '.join(better)}"] if better else []) + ([f"regressed: {', '.join(worse)}"] if worse else [])
    return "; ".join(parts) or "no significant change"


# -- 8. rollback --------------------------------------------------------------------------------------------


def rollback(session: Session, release: Release | None, route: str | None, env: str | None) -> dict[str, Any]:
    if release is None:
        why = "the request went through no release route" if not route else f"no release for route {route!r} in {env!r} is stored"
        return {"can_roll_back": False, "explanation": why}
    out: dict[str, Any] = {"route": release.route, "environment": release.environment, "revision": release.revision,
                           "current": config_prompt(release.stable)}  # fmt: skip
    if release.candidate is not None:
        out.update(can_roll_back=True, kind="candidate", to=release.stable, to_prompt=config_prompt(release.stable),
                   explanation=f"dropping the {release.candidate_mode} candidate {config_prompt(release.candidate)} "
                               f"({release.candidate_share:g}%) returns all traffic to the stable {config_prompt(release.stable)}")  # fmt: skip
    else:
        try:
            restored, undone = stable_to_restore(session, release)
        except Conflict as exc:
            out.update(can_roll_back=False, kind=None, to=None, to_prompt=None, explanation=exc.message)
        else:
            out.update(can_roll_back=True, kind="stable", to=restored, to_prompt=config_prompt(restored),
                       explanation=f"returns to {config_prompt(restored)}, undoing change #{undone.id} ({undone.action})")  # fmt: skip
    status = status_view(session, release)
    last = status["last_rollback"]
    effect = status["last_rollback_effect"]
    if last:
        out["last_rollback"] = {
            "at": last.get("at"), "actor": last.get("actor"), "automatic": last.get("automatic"), "kind": last.get("kind"),
            "reason": last.get("reason"), "from": config_prompt(last.get("from")), "to": config_prompt(last.get("to")),
            "history_id": last.get("history_id"), "effect": effect,
            "took_effect_s": (effect or {}).get("took_effect_s"),
        }  # fmt: skip
    else:
        out["last_rollback"] = None
        out["last_rollback_explanation"] = (
            f"this route has never been rolled back; a rollback reaches every server process within "
            f"{status['resolve_cache_ttl_s']:g} s (how long a process caches a release)"
        )
    out["resolve_cache_ttl_s"] = status["resolve_cache_ttl_s"]
    changes, _ = list_changes(session, release, limit=10)
    out["recent_changes"] = [{"id": c.id, "revision": c.revision, "action": c.action, "actor": c.actor,
                              "at": c.created_at.isoformat()} for c in changes]  # fmt: skip
    return out
