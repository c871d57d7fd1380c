"""`stackwright demo seed|traffic|accounts`: the support app's commands in the `demo` group.

``stackwright.apps.demo_cli`` owns the group (and `demo ask|explain`) and calls ``register(demo_app)``.
Heavy imports stay inside the commands so `stackwright --help` stays fast.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import typer

from stackwright.core import command_helpers as common


def _progress(started: float) -> Any:
    def say(message: str) -> None:
        typer.echo(f"[{time.perf_counter() - started:5.1f}s] {message}", err=True)

    return say


def seed_command(
    ctx: typer.Context,
    force: bool = typer.Option(False, "--force", help="Seed again even if the database is already seeded (adds traffic and eval runs)."),
    requests: int = typer.Option(300, "--requests", min=0, max=100_000, help="Traced requests the traffic generator sends."),
    evals: bool = typer.Option(True, "--evals/--no-evals", help="Run the eval spec for stable and canary (finished runs with gates)."),
    concurrency: int = typer.Option(4, "--concurrency", min=1, max=64, help="Requests in flight at once."),
    as_json: bool = typer.Option(False, "--json", help="Print the seed report as JSON (progress still goes to stderr)."),
) -> None:
    """Set up the support demo in the configured database (idempotent): project, admin and demo key, corpus,
    prompts and labels, gateway config, guardrail policy, release with a canary, dataset, traffic, evals."""
    from stackwright.apps.support.seed import seed

    started = time.perf_counter()
    settings = common.settings(ctx)
    report = seed(settings, force=force, requests=requests, evals=evals, concurrency=concurrency, progress=_progress(started))
    if as_json:
        common.print_json(report.as_dict())
        return
    _print_login(report)


def _print_login(report: Any) -> None:
    steps = report.steps
    out = sys.stdout
    if report.skipped:
        out.write(f"The support demo is already seeded ({steps.get('seeded_at')}); `stackwright demo seed --force` seeds it again.\n")
    else:
        out.write(f"The support demo is seeded ({report.seconds:.1f} s).\n")
        for name, run in (steps.get("evals") or {}).items():
            verdict = "passed" if run["gate_passed"] else "failed (the candidate cannot be promoted until it passes)"
            means = ", ".join(f"{k} {v:.2f}" for k, v in run["scorers"].items() if v is not None)
            out.write(f"  eval {name}: gate {verdict}; {means}\n")
    out.write(
        "\nLog in:\n"
        f"  URL:      {report.base_url}   (start it with `stackwright serve`; API docs at {report.base_url}/docs)\n"
        f"  project:  {report.project}\n"
        f"  API key:  {report.api_key}\n"
        f"            (saved in {report.credentials_file}, mode 0600: `source` it to use the CLI/SDK against the server)\n"
    )
    if report.admin_email:
        where = f" (password in {report.admin_password_file})" if report.admin_password_file else ""
        out.write(f"  admin:    {report.admin_email}{where}\n")
    out.write(
        "\nTry:\n"
        '  stackwright demo ask "How do I reset my password?"\n'
        "  stackwright releases status support.answer --env production\n"
        "  stackwright evals compare support-eval-stable support-eval-canary\n"
        "  stackwright traces list --limit 5\n"
    )


def traffic_command(
    ctx: typer.Context,
    n: int = typer.Argument(100, min=0, max=100_000, help="How many requests."),
    seed_value: int = typer.Option(0, "--seed", help="Seed of the generator (the same seed sends the same requests)."),
    concurrency: int = typer.Option(4, "--concurrency", min=1, max=64, help="Requests in flight at once."),
    base_url: str = typer.Option(None, "--base-url", help="Send to a running server (default: in this process, on the configured database)."),
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Send N varied questions (help-center questions, PII, injection attempts, escalations) through the support app."""
    from stackwright.apps.support.app import SupportApp
    from stackwright.apps.support.traffic import run_traffic

    settings = common.settings(ctx)
    support = SupportApp.connect(base_url, settings=settings) if base_url else SupportApp.in_process(settings)
    try:
        summary = run_traffic(support, n, seed=seed_value, concurrency=concurrency, progress=_progress(time.perf_counter()))
    finally:
        support.close()
    if as_json:
        common.print_json(summary)
        return
    typer.echo(f"{summary['requests']} requests: {summary['escalated']} escalated, {summary['blocked']} blocked, "
               f"{summary['errors']} errors; arms {summary['arms']}")  # fmt: skip


def eval_command(
    ctx: typer.Context,
    canary: bool = typer.Option(False, "--canary", help="Answer with the prompt labelled canary (default: production, the stable one)."),
    name: str = typer.Option(None, "--name", help="Run name (default support-eval-stable or support-eval-canary)."),
    gate: bool = typer.Option(False, "--gate", help="Exit 1 when a gate of the spec fails (for CI)."),
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Run the support eval spec (assets/eval.yaml) over the dataset support-cases, through the whole flow, and judge its gate."""
    from stackwright.apps.support.app import SupportApp
    from stackwright.apps.support.evaluation import SPEC_FILE, run_eval

    prompt = "support-answer@canary" if canary else "support-answer@production"
    run_name = name or ("support-eval-canary" if canary else "support-eval-stable")
    support = SupportApp.in_process(common.settings(ctx))
    try:
        summary = run_eval(support, name=run_name, prompt=prompt)
    finally:
        support.close()
    if as_json:
        common.print_json({**summary, "spec": str(SPEC_FILE), "prompt": prompt})
    else:
        means = ", ".join(f"{k} {v:.3f}" for k, v in summary["scorers"].items() if v is not None)
        typer.echo(f"run {summary['name']} ({summary['run_id']}): {summary['status']}, {summary['cases']} cases, "
                   f"gate {'passed' if summary['gate_passed'] else 'failed'}; {means}")  # fmt: skip
        typer.echo(f"details: stackwright evals show {summary['run_id']}")
    if gate and not summary["gate_passed"]:
        raise typer.Exit(1)


def accounts_command(ctx: typer.Context, as_json: bool = common.JSON_OPTION) -> None:
    """The demo accounts the support assistant's account tool knows."""
    from stackwright.apps.support.accounts import AccountsDB, default_path

    db = AccountsDB(default_path(common.settings(ctx).home))
    try:
        rows = db.all()
    finally:
        db.close()
    common.emit(rows, ["id", "name", "email", "plan", "seats", "status", "notes"], as_json, title="Demo accounts")


def register(demo_app: typer.Typer) -> None:
    """Add the support app's commands to the `demo` group."""
    demo_app.command("seed")(seed_command)
    demo_app.command("traffic")(traffic_command)
    demo_app.command("eval")(eval_command)
    demo_app.command("accounts")(accounts_command)
