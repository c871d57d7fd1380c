"""`stackwright evals ...`: run a spec (through the gateway in this process), resume, show, compare, list.

Exit codes: 0 when the run finished (and, with --gate, every gate held), 1 when a gate failed, 2 for a
usage or spec error (the message names the file and line).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from stackwright.auth.commands import project_for
from stackwright.core import command_helpers as common

eval_app = typer.Typer(help="Evaluations: run specs, resume, show, compare, gate.", no_args_is_help=True)


def _usage_error(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {getattr(exc, 'message', exc)}", err=True)
    return typer.Exit(2)


def _importable_from(*folders: Path) -> None:
    """Let `python: module:function` name modules in these folders (a console script's path lacks the cwd)."""
    import sys

    for folder in folders:
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))


class _Bar:
    """A rich progress bar on stderr (drawn only on a terminal)."""

    def __init__(self, label: str):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        console = Console(stderr=True)
        self.progress = Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                 console=console, disable=not console.is_terminal)  # fmt: skip
        self.task = self.progress.add_task(label, total=None)

    def __call__(self, done: int, total: int) -> None:
        self.progress.update(self.task, completed=done, total=total)

    def __enter__(self) -> _Bar:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()


def _warm_local_model(spec: Any) -> None:
    """When the target is a built-in WordLlama model (local/extractive, local/wordllama), load it in the
    background while the run is prepared, instead of on the first case."""
    import threading

    from stackwright.local.catalog import BUILTIN_MODELS

    if spec.target.model in BUILTIN_MODELS:
        from stackwright.local.embedder import preload

        threading.Thread(target=preload, name="stackwright-local-preload", daemon=True).start()


def _drive(ctx: typer.Context, project_id: str, run_id: str, run_name: str, executor: Any = None) -> dict[str, Any]:
    """Run (or resume) to the end with the gateway in this process (or the cases on ``executor``, Ray);
    Ctrl-C leaves the run resumable."""
    import asyncio

    from stackwright.evals.runner import run_cases
    from stackwright.evals.targets import GatewayCaller
    from stackwright.evals.trust import CodePolicy
    from stackwright.gateway.client import GatewayClient

    settings = common.settings(ctx)
    db = common.database(ctx)

    async def run() -> dict[str, Any]:
        async with GatewayClient(settings, db) as client:
            caller = GatewayCaller(client.gateway, project_id, label=f"eval:{run_name}")
            with _Bar(run_name) as bar:
                return await run_cases(db, project_id, run_id, caller, bar, executor, policy=CodePolicy.operator())

    try:
        return asyncio.run(run())
    except KeyboardInterrupt:
        typer.echo(f"interrupted: finished cases are stored; continue with `stackwright evals resume {run_id}`.", err=True)
        raise typer.Exit(130) from None


def _emit_run(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        common.print_json(result)
        return
    summary = result.get("summary") or {}
    typer.echo(f"run {result['name']} ({result['id']}): {result['status']} on {result['dataset']}, "
               f"{summary.get('cases', 0)} cases, {summary.get('errors', 0)} errors, cost {summary.get('cost_usd')} USD")  # fmt: skip
    rows = [{"scorer": name, "mean": s["mean"], "95% CI": f"{s['ci_low']} – {s['ci_high']}" if s["mean"] is not None else "",
             "pass rate": s["pass_rate"], "measured": s["measured"], "unmeasured": s["unmeasured"]}
            for name, s in (summary.get("scorers") or {}).items()]  # fmt: skip
    if rows:
        common.print_table(rows, ["scorer", "mean", "95% CI", "pass rate", "measured", "unmeasured"], title="scores")
    for gate in summary.get("gates") or []:
        typer.echo(f"gate {gate['name']}: {'pass' if gate['passed'] else 'FAIL'} ({gate['message']})")


def _finish(result: dict[str, Any], gate: bool, as_json: bool, report_md: Path | None, junit: Path | None) -> None:
    from stackwright.evals import gates, reports

    if report_md:
        report_md.write_text(reports.markdown(result), encoding="utf-8")
    if junit:
        junit.write_text(reports.junit_xml(result), encoding="utf-8")
    _emit_run(result, as_json)
    if gate and gates.failed(result.get("summary")):
        if not as_json:
            typer.echo(f"gate failed: {'; '.join(g['message'] for g in gates.failed(result['summary']))}", err=True)
        raise typer.Exit(1)


@eval_app.command("run")
def run(
    ctx: typer.Context,
    spec_file: Path = typer.Argument(..., metavar="SPEC", help="The eval spec (YAML)."),
    gate: bool = typer.Option(False, "--gate", help="Exit 1 when a gate of the spec fails (for CI)."),
    executor: str = typer.Option("local", "--executor", help="Where cases run: local (asyncio in this process) or ray (ray extra)."),
    repeat: int = typer.Option(None, "--repeat", min=1, max=100, help="Run every case N times (overrides the spec)."),
    seed: int = typer.Option(None, "--seed", min=0, max=2**31 - 1, help="Seed for case order and model sampling (overrides the spec)."),
    name: str = typer.Option(None, "--name", help="Run name (default: spec name + timestamp); `no_regression_vs` finds runs by it."),
    report_md: Path = typer.Option(None, "--report-md", help="Write a Markdown report here."),
    junit: Path = typer.Option(None, "--junit", help="Write a JUnit XML report here."),
    project: str | None = common.PROJECT_OPTION,
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Run an eval spec: every case through the target, scored, stored as it completes; then the summary and gates."""
    from stackwright.auth.actors import cli_actor
    from stackwright.core.errors import StackwrightError
    from stackwright.evals.runner import check_executor, open_executor, prepare_run
    from stackwright.evals.spec import NAME_RE, load_file
    from stackwright.evals.trust import CodePolicy

    _importable_from(Path.cwd(), spec_file.resolve().parent)  # python: targets and scorers next to the spec
    try:
        check_executor(executor)
        if name is not None and not NAME_RE.match(name):
            raise StackwrightError(f"--name {name!r} is not a valid run name: use letters, digits, '.', '_' or '-'.")
        spec = load_file(spec_file, CodePolicy.operator())  # the operator's own file: its python code may run
        _warm_local_model(spec)
        db = common.database(ctx)
        with db.read() as session:
            project_id = project_for(ctx, session, project).id
        prepared = prepare_run(db, project_id, spec, name=name, repeat=repeat, seed=seed, actor=cli_actor())
    except StackwrightError as exc:
        raise _usage_error(exc) from None
    if not as_json:
        typer.echo(f"run {prepared.name} ({prepared.run_id}): {prepared.total} cases" + (f" on {executor}" if executor != "local" else ""), err=True)
    try:
        runner_executor = open_executor(executor)
    except StackwrightError as exc:
        raise _usage_error(exc) from None
    result = _drive(ctx, project_id, prepared.run_id, prepared.name, runner_executor)
    _finish(result, gate, as_json, report_md, junit)


@eval_app.command("resume")
def resume(
    ctx: typer.Context,
    run_ref: str = typer.Argument(..., metavar="RUN", help="Run id or name."),
    gate: bool = typer.Option(False, "--gate", help="Exit 1 when a gate fails."),
    executor: str = typer.Option("local", "--executor", help="Where the remaining cases run: local or ray (ray extra)."),
    report_md: Path = typer.Option(None, "--report-md", help="Write a Markdown report here."),
    junit: Path = typer.Option(None, "--junit", help="Write a JUnit XML report here."),
    project: str | None = common.PROJECT_OPTION,
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Finish an interrupted run: only the cases without a stored result run; the summary is recomputed."""
    from stackwright.auth.actors import cli_actor
    from stackwright.core.errors import StackwrightError
    from stackwright.evals import service
    from stackwright.evals.reaper import check_resumable
    from stackwright.evals.runner import check_executor, open_executor

    _importable_from(Path.cwd())
    try:
        check_executor(executor)
        db = common.database(ctx)
        with db.write() as session:
            project_id = project_for(ctx, session, project).id
            found = service.find_run(session, project_id, run_ref)
            check_resumable(found, db.settings.eval_stale_after_s)  # not while a live process runs it
            run_id, run_name, left = found.id, found.name, found.total_cases - len(service.done_pairs(session, found.id))
            service.record_resume(session, cli_actor(), found)
    except StackwrightError as exc:
        raise _usage_error(exc) from None
    if not as_json:
        typer.echo(f"run {run_name} ({run_id}): {left} case(s) left", err=True)
    try:
        runner_executor = open_executor(executor)
    except StackwrightError as exc:
        raise _usage_error(exc) from None
    result = _drive(ctx, project_id, run_id, run_name, runner_executor)
    _finish(result, gate, as_json, report_md, junit)


@eval_app.command("show")
def show(
    ctx: typer.Context,
    run_ref: str = typer.Argument(..., metavar="RUN", help="Run id or name."),
    cases: bool = typer.Option(False, "--cases", help="Also list the cases (with --json: always included)."),
    project: str | None = common.PROJECT_OPTION,
    as_json: bool = common.JSON_OPTION,
) -> None:
    """A run's summary: per-scorer means with 95 % CIs, pass rates, unmeasured counts, gates."""
    from stackwright.core.errors import StackwrightError
    from stackwright.evals import service

    try:
        with common.database(ctx).read() as session:
            found = service.find_run(session, project_for(ctx, session, project).id, run_ref)
            result = service.run_payload(found, with_spec=as_json)
            rows = service.case_rows(session, found.id) if (cases or as_json) else []
    except StackwrightError as exc:
        raise _usage_error(exc) from None
    if as_json:
        common.print_json({**result, "cases": rows})
        return
    _emit_run(result, False)
    if cases:
        table = [{"item": r["item_id"], "repeat": r["repeat_index"], "error": r["error"], "trace": r["trace_id"],
                  **{k: (v or {}).get("value") for k, v in (r["scores"] or {}).items()}} for r in rows]  # fmt: skip
        names = list((result.get("summary") or {}).get("scorers") or {})
        common.print_table(table, ["item", "repeat", *names, "error", "trace"], title="cases")


@eval_app.command("compare")
def compare(
    ctx: typer.Context,
    run_a: str = typer.Argument(..., metavar="RUN_A", help="The baseline run (id or name)."),
    run_b: str = typer.Argument(..., metavar="RUN_B", help="The new run (id or name)."),
    limit: int = typer.Option(20, "--limit", min=1, max=1000, help="How many regressed/improved cases to list per scorer."),
    project: str | None = common.PROJECT_OPTION,
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Per-case differences between two runs: regressions, improvements, McNemar and Wilcoxon p-values."""
    from stackwright.core.errors import StackwrightError
    from stackwright.evals.compare import compare_runs

    try:
        with common.database(ctx).read() as session:
            result = compare_runs(session, project_for(ctx, session, project).id, run_a, run_b, limit)
    except StackwrightError as exc:
        raise _usage_error(exc) from None
    if as_json:
        common.print_json(result)
        return
    if not result["same_dataset"]:
        typer.echo(f"note: the runs used different datasets ({result['a']['dataset']} vs {result['b']['dataset']}).")
    rows = [{"scorer": n, "mean A": s["mean_a"], "mean B": s["mean_b"], "diff": s["mean_diff"], "paired": s["paired"],
             "regressions": s["regressions"], "improvements": s["improvements"], "McNemar p": s["mcnemar_p"],
             "Wilcoxon p": s["wilcoxon_p"]} for n, s in result["scorers"].items()]  # fmt: skip
    common.print_table(rows, ["scorer", "mean A", "mean B", "diff", "paired", "regressions", "improvements", "McNemar p", "Wilcoxon p"],
                       title=f"{result['a']['name']} -> {result['b']['name']}")  # fmt: skip
    for name, s in result["scorers"].items():
        for case in s["regressed_cases"]:
            typer.echo(f"regressed {name}: {case['item_id']}#{case['repeat_index']} {case['a']} -> {case['b']}")


@eval_app.command("list")
def list_(
    ctx: typer.Context,
    name: str = typer.Option(None, "--name", help="Only runs of this name or spec name."),
    limit: int = typer.Option(50, "--limit", min=1, max=500, help="How many rows."),
    project: str | None = common.PROJECT_OPTION,
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Runs, newest first."""
    from stackwright.evals import service

    with common.database(ctx).read() as session:
        rows = service.list_runs(session, project_for(ctx, session, project).id, name=name, limit=limit)
    table = [{**r, "passed": (r["summary"] or {}).get("passed")} for r in rows]
    common.emit(table if not as_json else rows, ["id", "name", "spec_name", "dataset", "status", "total_cases", "passed", "created_at"],
                as_json, title="eval runs")  # fmt: skip


online_app = typer.Typer(help="Online evaluation: rules that sample production traces and store scores on them.", no_args_is_help=True)
eval_app.add_typer(online_app, name="online")


def _scorer_arg(text: str) -> Any:
    """``contains`` or a YAML/JSON mapping such as ``{type: similarity, threshold: 0.7}``."""
    import yaml

    from stackwright.core.errors import InvalidInput

    try:
        return yaml.safe_load(text) if text.strip().startswith("{") else text
    except yaml.YAMLError as exc:
        raise InvalidInput(f"--scorer {text!r} is not a name or a YAML mapping: {exc}.") from None


@online_app.command("set")
def online_set(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Rule name."),
    scorer: list[str] = typer.Option(..., "--scorer", help="A scorer: a name, or a mapping like '{type: similarity, threshold: 0.7}' (repeat)."),
    filter_: list[str] = typer.Option([], "--filter", help="Trace field=value, e.g. route=support.answer (repeat)."),
    rate: float = typer.Option(..., "--rate", help="Share of matching traces to score (0-1]."),
    disabled: bool = typer.Option(False, "--disabled", help="Store the rule without running it."),
    project: str | None = common.PROJECT_OPTION,
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Create or replace a rule: sample traces matching the filter at the rate and store scores on them."""
    from stackwright.auth.actors import cli_actor
    from stackwright.core.errors import InvalidInput
    from stackwright.evals import online
    from stackwright.evals.trust import CodePolicy

    pairs = {}
    for pair in filter_:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"--filter {pair!r} is not of the form field=value.", hint="e.g. --filter route=support.answer")
        pairs[key.strip()] = value
    policy = CodePolicy.server(common.settings(ctx))  # rules run in the server: its allow-list holds, even for the operator
    with common.database(ctx).write() as session:
        result = online.save_rule(session, cli_actor(), project_for(ctx, session, project).id, name, pairs, rate, [_scorer_arg(s) for s in scorer],
                                  enabled=not disabled, policy=policy)  # fmt: skip
    if as_json:
        common.print_json(result)
    else:
        typer.echo(f"online rule {name}: {len(result['scorers'])} scorer(s), rate {result['sample_rate']:g}, filter {result['filter'] or 'all traces'}.")


@online_app.command("list")
def online_list(ctx: typer.Context, project: str | None = common.PROJECT_OPTION, as_json: bool = common.JSON_OPTION) -> None:
    """Rules with how many traces each examined and scored."""
    from stackwright.evals import online

    with common.database(ctx).read() as session:
        rows = online.list_rules(session, project_for(ctx, session, project).id)
    table = [{**r, "scorers": ", ".join(s.get("name") or s["type"] for s in r["scorers"])} for r in rows]
    common.emit(rows if as_json else table, ["name", "filter", "sample_rate", "scorers", "enabled", "examined", "scored", "unmeasured"], as_json,
                title="online evaluation rules")  # fmt: skip


@online_app.command("remove")
def online_remove(ctx: typer.Context, name: str = typer.Argument(..., help="Rule name."), project: str | None = common.PROJECT_OPTION) -> None:
    """Delete a rule (the scores it stored stay on their traces)."""
    from stackwright.auth.actors import cli_actor
    from stackwright.evals import online

    with common.database(ctx).write() as session:
        online.delete_rule(session, cli_actor(), project_for(ctx, session, project).id, name)
    typer.echo(f"online rule {name} removed.")


@online_app.command("run")
def online_run(ctx: typer.Context, project: str | None = common.PROJECT_OPTION, as_json: bool = common.JSON_OPTION) -> None:
    """Run the rules once now over the settled traces (for cron, or when the server does not run them)."""
    import asyncio

    from stackwright.evals import online
    from stackwright.evals.targets import GatewayCaller
    from stackwright.gateway.client import GatewayClient

    settings = common.settings(ctx)
    db = common.database(ctx)
    with db.read() as session:
        project_id = project_for(ctx, session, project).id

    async def run() -> dict[str, Any]:
        async with GatewayClient(settings, db) as client:
            return await online.run_pass(db, lambda pid: GatewayCaller(client.gateway, pid, label="eval:online"), project_id)

    totals = asyncio.run(run())
    if as_json:
        common.print_json(totals)
        return
    for name, counts in totals.items():
        typer.echo(f"{name}: examined {counts['examined']}, stored {counts['scored']} score(s), {counts['unmeasured']} unmeasured.")
    if not totals:
        typer.echo("No enabled online evaluation rules.")
