"""`stackwright releases ...`: set, canary, promote, rollback, rules, check, status, history, list.

Commands work on the database directly, as cli:<os user> (admin), like the other layers' commands.
"""

from __future__ import annotations

from typing import Any

import typer

from stackwright.auth.commands import project_for
from stackwright.core import command_helpers as common

release_app = typer.Typer(
    help="Releases: routes per environment, canary/A-B/shadow candidates, promotion, rollback.", no_args_is_help=True
)
ENV = typer.Option(..., "--env", help="Environment: dev, staging, production or a custom name.")
ROUTE = typer.Argument(..., help="Route name, e.g. support.answer.")
PARAM = typer.Option(None, "--param", help="Model parameter k=v (repeatable; values read as JSON when they parse).")
SETTING = typer.Option(None, "--setting", help="Free-form setting k=v, e.g. retrieval_k=5 (repeatable).")
REVISION = typer.Option(None, "--if-revision", help="Refuse unless the release is at this revision (0: must not exist).")
ERROR_MARGIN = typer.Option(None, "--rollback-error-rate-margin", help="Roll back if the candidate's error rate is this much higher (0.05 = 5 points).")
P95_MARGIN = typer.Option(None, "--rollback-p95-margin-ms", help="Roll back if the candidate's p95 latency is this many ms higher.")
SCORE_RULE = typer.Option(None, "--rollback-score", help="NAME:margin: roll back if the candidate's mean score is lower by more (repeatable).")
MIN_REQUESTS = typer.Option(None, "--window-min-requests", help="Requests each arm needs before the rules apply (default 100).")


def _run(ctx: typer.Context, project: str | None, work: Any, *, write: bool = True) -> Any:
    """``work(session, project_id)`` in one transaction, on the project --project (or its default) names."""
    db = common.database(ctx)
    with db.write() if write else db.read() as session:
        return work(session, project_for(ctx, session, project).id)


def _rules(
    base: dict[str, Any] | None, error: float | None, p95: float | None, scores: list[str] | None, min_requests: int | None
) -> Any:
    """Rules from the options merged over ``base``; UNSET when no rule option was given."""
    from stackwright.releases.schemas import parse_score_rule
    from stackwright.releases.service import UNSET

    if error is None and p95 is None and not scores and min_requests is None:
        return UNSET
    rules = dict(base or {})
    if error is not None:
        rules["error_rate_margin"] = error
    if p95 is not None:
        rules["p95_margin_ms"] = p95
    if scores:
        rules["scores"] = {**(rules.get("scores") or {}), **dict(parse_score_rule(s) for s in scores)}
    if min_requests is not None:
        rules["min_requests"] = min_requests
    return rules


def _config_text(config: dict[str, Any] | None) -> str:
    if not config:
        return "none"
    extra = [f"{k}={v}" for k, v in {**config.get("params", {}), **config.get("settings", {})}.items()]
    return f"{config['prompt']} on {config['model']}" + (f" ({', '.join(extra)})" if extra else "")


def _rules_text(rules: dict[str, Any] | None) -> str:
    if not rules:
        return "none"
    parts = []
    if rules.get("error_rate_margin") is not None:
        parts.append(f"error rate +{rules['error_rate_margin']:.1%}")
    if rules.get("p95_margin_ms") is not None:
        parts.append(f"p95 +{rules['p95_margin_ms']:g} ms")
    parts += [f"{name} -{margin:g}" for name, margin in (rules.get("scores") or {}).items()]
    return ", ".join(parts) + f" (after {rules.get('min_requests')} requests per arm)"


def _rollback_text(last: dict[str, Any] | None, effect: dict[str, Any] | None = None) -> str:
    if not last:
        return "never"
    how = "automatic" if last.get("automatic") else "manual"
    text = f"{last['at']} by {last['actor']} ({how}, {last['kind']}: {_config_text(last.get('from'))})"
    if last.get("reason"):
        text += f": {last['reason']}"
    if effect and effect.get("took_effect_s") is not None:
        text += f"; took effect within {effect['took_effect_s']:.1f} s (traces)"
    return text


def _print_release(view: dict[str, Any], effect: dict[str, Any] | None = None, changed: bool | None = None) -> None:
    head = f"{view['route']} in {view['env']}: revision {view['revision']}"
    if changed is not None:
        head += "" if changed else " (unchanged)"
    typer.echo(head)
    typer.echo(f"  stable:         {_config_text(view['stable'])}")
    candidate = view.get("candidate")
    if candidate:
        typer.echo(f"  candidate:      {_config_text(candidate['config'])}, {candidate['mode']} {candidate['share']:g}% since {candidate['started_at']}")
    else:
        typer.echo("  candidate:      none")
    typer.echo(f"  promotion:      {'requires evaluation ' + repr(view['required_eval']) if view.get('required_eval') else 'no evaluation required'}")
    typer.echo(f"  rollback rules: {_rules_text(view.get('rollback_rules'))}")
    typer.echo(f"  last rollback:  {_rollback_text(view.get('last_rollback'), effect)}")


def _emit(view: dict[str, Any], as_json: bool, changed: bool | None = None) -> None:
    if as_json:
        common.print_json(view)
    else:
        _print_release(view, view.get("last_rollback_effect"), changed)


@release_app.command("set")
def set_(
    ctx: typer.Context,
    route: str = ROUTE,
    env: str = ENV,
    prompt: str = typer.Option(..., "--prompt", help="NAME@VERSION or NAME@LABEL; stored as the exact version."),
    model: str = typer.Option(..., "--model", help="Model name, as clients ask the gateway for it."),
    param: list[str] = PARAM,
    setting: list[str] = SETTING,
    if_revision: int = REVISION,
    project: str | None = common.PROJECT_OPTION,
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Point ROUTE in an environment at a stable config (creates the release; the same config is a no-op)."""
    from stackwright.auth.actors import cli_actor
    from stackwright.releases.schemas import parse_pairs
    from stackwright.releases.service import set_stable

    params, settings = parse_pairs("--param", param), parse_pairs("--setting", setting)
    result = _run(ctx, project, lambda s, pid: set_stable(
        s, cli_actor(), pid, route, env, prompt, model, params, settings, expected_revision=if_revision))  # fmt: skip
    _emit(result, as_json, result["changed"])


@release_app.command("canary")
def canary(
    ctx: typer.Context,
    route: str = ROUTE,
    env: str = ENV,
    prompt: str = typer.Option(..., "--prompt", help="The candidate's prompt: NAME@VERSION or NAME@LABEL."),
    share: float = typer.Option(..., "--share", help="Percent of requests (0-100) for the candidate (shadow: mirrored)."),
    mode: str = typer.Option("canary", "--mode", help="canary, ab or shadow."),
    model: str = typer.Option(None, "--model", help="The candidate's model (default: the stable one)."),
    param: list[str] = PARAM,
    setting: list[str] = SETTING,
    require_eval: str = typer.Option(None, "--require-eval", help="Evaluation that must pass before `promote`."),
    error_margin: float = ERROR_MARGIN,
    p95_margin: float = P95_MARGIN,
    score_rule: list[str] = SCORE_RULE,
    min_requests: int = MIN_REQUESTS,
    if_revision: int = REVISION,
    project: str | None = common.PROJECT_OPTION,
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Start or adjust a candidate for ROUTE: canary, ab or shadow, with a share and optional rollback rules."""
    from stackwright.auth.actors import cli_actor
    from stackwright.releases.schemas import parse_pairs
    from stackwright.releases.service import UNSET, get_release, start_candidate

    params, settings = parse_pairs("--param", param), parse_pairs("--setting", setting)

    def work(session: Any, project_id: str) -> Any:
        current = get_release(session, project_id, route, env).rollback_rules
        return start_candidate(
            session, cli_actor(), project_id, route, env, prompt, share=share, mode=mode, model=model, params=params,
            settings=settings, require_eval=require_eval if require_eval is not None else UNSET,
            rollback_rules=_rules(current, error_margin, p95_margin, score_rule, min_requests), expected_revision=if_revision,
        )  # fmt: skip

    result = _run(ctx, project, work)
    _emit(result, as_json, result["changed"])


@release_app.command("promote")
def promote(
    ctx: typer.Context, route: str = ROUTE, env: str = ENV, if_revision: int = REVISION, project: str | None = common.PROJECT_OPTION,
    as_json: bool = common.JSON_OPTION,
) -> None:  # fmt: skip
    """Make the candidate the stable config (refused while a required evaluation has no passing result)."""
    from stackwright.auth.actors import cli_actor
    from stackwright.releases.service import promote as promote_release

    result = _run(ctx, project, lambda s, pid: promote_release(s, cli_actor(), pid, route, env, expected_revision=if_revision))
    _emit(result, as_json)


@release_app.command("rollback")
def rollback(
    ctx: typer.Context,
    route: str = ROUTE,
    env: str = ENV,
    reason: str = typer.Option(None, "--reason", help="Why, for the history and the audit log."),
    if_revision: int = REVISION,
    project: str | None = common.PROJECT_OPTION,
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Drop the candidate; without one, return to the previous stable config from the history."""
    from stackwright.auth.actors import cli_actor
    from stackwright.releases.service import rollback as rollback_release

    result = _run(ctx, project, lambda s, pid: rollback_release(
        s, cli_actor(), pid, route, env, reason=reason, expected_revision=if_revision))  # fmt: skip
    _emit(result, as_json)


@release_app.command("rules")
def rules(
    ctx: typer.Context,
    route: str = ROUTE,
    env: str = ENV,
    error_margin: float = ERROR_MARGIN,
    p95_margin: float = P95_MARGIN,
    score_rule: list[str] = SCORE_RULE,
    min_requests: int = MIN_REQUESTS,
    require_eval: str = typer.Option(None, "--require-eval", help="Evaluation that must pass before `promote`."),
    clear_rules: bool = typer.Option(False, "--clear-rules", help="Remove the automatic-rollback rules."),
    clear_eval: bool = typer.Option(False, "--clear-eval", help="Remove the promotion requirement."),
    if_revision: int = REVISION,
    project: str | None = common.PROJECT_OPTION,
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Set automatic-rollback rules (merged over the current ones) and/or the promotion requirement."""
    from stackwright.auth.actors import cli_actor
    from stackwright.core.errors import InvalidInput
    from stackwright.releases.service import UNSET, get_release, set_rules

    def work(session: Any, project_id: str) -> Any:
        current = get_release(session, project_id, route, env).rollback_rules
        new_rules = _rules(current, error_margin, p95_margin, score_rule, min_requests)
        if clear_rules and new_rules is not UNSET or clear_eval and require_eval is not None:
            raise InvalidInput("Give new values or --clear-..., not both.")
        new_eval = None if clear_eval else require_eval if require_eval is not None else UNSET
        return set_rules(session, cli_actor(), project_id, route, env, rollback_rules=None if clear_rules else new_rules,
                         require_eval=new_eval, expected_revision=if_revision)  # fmt: skip

    result = _run(ctx, project, work)
    _emit(result, as_json, result["changed"])


@release_app.command("check")
def check(
    ctx: typer.Context,
    route: str = ROUTE,
    env: str = ENV,
    dry_run: bool = typer.Option(False, "--dry-run", help="Only report the comparison; never roll back."),
    project: str | None = common.PROJECT_OPTION,
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Compare candidate and stable over the traces now; roll back if a rule is breached."""
    from stackwright.auth.actors import cli_actor
    from stackwright.releases.guard import check_release, describe

    db = common.database(ctx)
    with db.read() as session:
        project_id = project_for(ctx, session, project).id
    report = check_release(db, cli_actor(), project_id, route, env, dry_run=dry_run)
    if as_json:
        common.print_json(report)
        return
    typer.echo(f"{route} in {env}: {report['verdict'].replace('_', ' ')}")
    for arm, summary in (report.get("arms") or {}).items():
        rate = "-" if summary["error_rate"] is None else f"{summary['error_rate']:.1%}"
        p95 = "-" if summary["p95_ms"] is None else f"{summary['p95_ms']:.0f} ms"
        scores = ", ".join(f"{n} {s['mean']:.3f} (n={s['n']})" for n, s in summary["scores"].items())
        typer.echo(f"  {arm:<9} {summary['requests']} requests, errors {rate}, p95 {p95}" + (f", {scores}" if scores else ""))
    for breach in report.get("breaches") or []:
        typer.echo(f"  breach: {describe(breach)}")


@release_app.command("status")
def status(ctx: typer.Context, route: str = ROUTE, env: str = ENV, project: str | None = common.PROJECT_OPTION, as_json: bool = common.JSON_OPTION) -> None:
    """Show ROUTE's stable and candidate configs, rules, and the last rollback (with how fast it took effect)."""
    from stackwright.releases.service import get_release, status_view

    view = _run(ctx, project, lambda s, pid: status_view(s, get_release(s, pid, route, env)), write=False)
    _emit(view, as_json)


@release_app.command("history")
def history(
    ctx: typer.Context,
    route: str = ROUTE,
    env: str = ENV,
    limit: int = typer.Option(50, "--limit", min=1, max=500, help="How many changes, newest first."),
    project: str | None = common.PROJECT_OPTION,
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Every change of ROUTE in an environment: who, when, what, before/after; marks the last rollback."""
    from stackwright.releases.history import change_view, list_changes
    from stackwright.releases.service import get_release

    def work(session: Any, project_id: str) -> Any:
        row = get_release(session, project_id, route, env)
        return [change_view(c) for c in list_changes(session, row, limit=limit)[0]], row.last_rollback

    changes, last = _run(ctx, project, work, write=False)
    if as_json:
        common.print_json(changes)
        return
    rows = [
        {"id": c["id"], "revision": c["revision"], "action": c["action"], "actor": c["actor"], "at": c["at"],
         "stable": _config_text(c["after"]["stable"]),
         "candidate": _config_text((c["after"]["candidate"] or {}).get("config")) if c["after"]["candidate"] else "none",
         "note": (c["details"] or {}).get("reason") or ""}
        for c in changes
    ]  # fmt: skip
    common.print_table(rows, ["id", "revision", "action", "actor", "at", "stable", "candidate", "note"], title=f"{route} in {env}")
    typer.echo(f"last rollback: {_rollback_text(last)}")


@release_app.command("list")
def list_(
    ctx: typer.Context,
    env: str = typer.Option(None, "--env", help="Only this environment."),
    project: str | None = common.PROJECT_OPTION,
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Every release of the project: route, environment, stable and candidate configs, last rollback."""
    from stackwright.releases.service import list_releases

    views = _run(ctx, project, lambda s, pid: list_releases(s, pid, env), write=False)
    rows = [
        {"route": v["route"], "env": v["env"], "revision": v["revision"], "stable": _config_text(v["stable"]),
         "candidate": f"{_config_text(v['candidate']['config'])} ({v['candidate']['mode']} {v['candidate']['share']:g}%)" if v["candidate"] else "none",
         "last_rollback": (v["last_rollback"] or {}).get("at")}
        for v in views
    ]  # fmt: skip
    common.emit(views if as_json else rows, ["route", "env", "revision", "stable", "candidate", "last_rollback"], as_json, title="releases")
