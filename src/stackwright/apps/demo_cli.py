"""`stackwright demo ask|explain`: one question through the whole stack, then the eight answers for it.

``demo_app`` is the `demo` Typer group (mounted by ``stackwright.cli.main``). The support app adds its own
commands (``demo seed``) to it: this module imports ``stackwright.apps.support.cli`` when that module
exists and calls its ``register(demo_app)`` function. Keep heavy imports inside the commands there too,
so `stackwright --help` stays fast.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
from typing import Any

import typer

from stackwright.cli import common

demo_app = typer.Typer(help="The reference support assistant: seed it, ask it, explain a request.", no_args_is_help=True)

DEMO_ROUTE = "support.answer"
DEMO_ENV = "production"
PROJECT_HELP = "Project name or id (default: STACKWRIGHT_PROJECT, else the project where the support demo is seeded)."
QUESTIONS = (
    ("prompt_version", "Which prompt version is live right now (per environment, per route)?"),
    ("model", "Which model (provider, deployment, parameters) handled this request?"),
    ("context", "What context did the model receive (rendered prompt, retrieved chunks, tool results)?"),
    ("failure", "Why did this output fail (guardrail, scorer, error, retry, fallback)?"),
    ("eval_delta", "Did the new prompt improve eval scores (per case, with significance)?"),
    ("cost_usd", "How much does this workflow cost per request (per step, per model)?"),
    ("slowest_step", "Which step adds the most latency?"),
    ("rollback", "Can we roll back safely (and how fast did the last rollback take effect)?"),
)


def _register_support_commands() -> None:
    """`demo seed` and friends, from the support app, when it is installed."""
    name = "stackwright.apps.support.cli"
    try:
        if importlib.util.find_spec(name) is None:
            return
    except ModuleNotFoundError:
        return
    register = getattr(importlib.import_module(name), "register", None)
    if callable(register):
        register(demo_app)


def _not_seeded(where: str) -> typer.Exit:
    typer.echo(f"error: the support demo is not seeded{where}: run `stackwright demo seed` first.", err=True)
    return typer.Exit(1)


def _demo_project(session: Any, ref: str | None) -> str:
    """The project with the demo's release route (the named one must have it)."""
    from stackwright.auth import service
    from stackwright.releases.service import find_release

    if ref:
        project = service.find_project(session, ref)
        if find_release(session, project.id, DEMO_ROUTE, DEMO_ENV) is None:
            raise _not_seeded(f" in project {project.name!r} (no release {DEMO_ROUTE}@{DEMO_ENV})")
        return project.id
    seeded = [p for p in service.list_projects(session) if find_release(session, p.id, DEMO_ROUTE, DEMO_ENV) is not None]
    if not seeded:
        raise _not_seeded(f" (no project has a release {DEMO_ROUTE}@{DEMO_ENV})")
    named_default = [p for p in seeded if p.name == "default"]
    return (named_default or seeded)[0].id


def _call_ask(question: str, user: str | None, settings: Any, base_url: str | None, api_key: str | None) -> str:
    """Run the question through ``stackwright.apps.support.ask`` (in this process, or against the server at
    ``base_url``); its trace id, once its spans are stored."""
    from stackwright.apps.support import ask

    with contextlib.redirect_stdout(sys.stderr):  # stdout carries only the answers (one JSON object with --json)
        result = ask(question, user_id=user, settings=settings, base_url=base_url, api_key=api_key)
    trace_id = getattr(result, "trace_id", None)
    if not trace_id:
        typer.echo(f"error: the support app answered without a trace id ({result!r:.200}).", err=True)
        raise typer.Exit(1)
    return str(trace_id)


def _explain(ctx: typer.Context, trace_id: str, project_id: str | None, project_ref: str | None) -> dict[str, Any]:
    from stackwright.apps.answers import explain, find_trace_project

    with common.database(ctx).read() as session:
        pid = project_id or find_trace_project(session, trace_id, project_ref)
        return explain(session, pid, trace_id)


def _api_key(settings: Any, api_key: str | None) -> str:
    """--api-key, else STACKWRIGHT_API_KEY, else the key `stackwright demo seed` saved in the data dir."""
    import os

    from stackwright.core.errors import InvalidInput

    key = api_key or os.environ.get("STACKWRIGHT_API_KEY")
    if not key:
        from stackwright.apps.support.seed import read_demo_credentials

        key = read_demo_credentials(settings.home).get("STACKWRIGHT_API_KEY")
    if not key:
        raise InvalidInput("No API key for the server.", hint="Pass --api-key, set STACKWRIGHT_API_KEY, or run `stackwright demo seed` first.")
    return key


def _explain_remote(base_url: str, key: str, trace_id: str) -> dict[str, Any]:
    """``GET /api/v1/traces/{trace_id}/explain`` on a running server, with the key's project."""
    import httpx

    from stackwright.core.errors import NotFound, StackwrightError

    try:
        response = httpx.get(f"{base_url.rstrip('/')}/api/v1/traces/{trace_id}/explain",
                             headers={"Authorization": f"Bearer {key}"}, timeout=60)  # fmt: skip
    except httpx.HTTPError as exc:
        raise StackwrightError(f"Cannot reach {base_url}: {exc}.", hint="Start it with `stackwright serve`, or leave out --base-url.") from None
    if response.status_code == 200:
        return response.json()
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = response.text[:300]
    error = NotFound if response.status_code == 404 else StackwrightError
    raise error(f"{base_url} answered {response.status_code}: {message}")


BASE_URL_HELP = "A running server to ask and read from (default: this process, on the configured database)."
API_KEY_HELP = "API key for --base-url (default: STACKWRIGHT_API_KEY, else the key `stackwright demo seed` saved)."


@demo_app.command("ask")
def ask_command(
    ctx: typer.Context,
    question: str = typer.Argument(..., help="The customer's question, e.g. \"How do I reset my password?\""),
    user: str = typer.Option(None, "--user", help="The customer's user id or demo account (account lookup, sticky release arm)."),
    project: str = typer.Option(None, help=PROJECT_HELP),
    base_url: str = typer.Option(None, "--base-url", help=BASE_URL_HELP),
    api_key: str = typer.Option(None, "--api-key", help=API_KEY_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object with the eight answers."),
) -> None:
    """Ask the support assistant one question through the whole stack, then print the eight answers for that request."""
    settings = common.settings(ctx)
    if base_url:
        key = _api_key(settings, api_key)
        trace_id = _call_ask(question, user, settings, base_url, key)
        show(_explain_remote(base_url, key, trace_id), as_json)
        return
    with common.database(ctx).read() as session:
        project_id = _demo_project(session, project or settings.project)
    trace_id = _call_ask(question, user, settings, None, api_key)
    show(_explain(ctx, trace_id, project_id, None), as_json)


@demo_app.command("explain")
def explain_command(
    ctx: typer.Context,
    trace_id: str = typer.Argument(..., help="A trace id (32 hex characters)."),
    project: str = typer.Option(None, help="Project name or id (default: STACKWRIGHT_PROJECT, else the project holding the trace)."),
    base_url: str = typer.Option(None, "--base-url", help="A running server to read from (the API key's project)."),
    api_key: str = typer.Option(None, "--api-key", help=API_KEY_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object with the eight answers."),
) -> None:
    """Print the eight answers (prompt, model, context, failure, eval delta, cost, latency, rollback) for a stored trace."""
    if base_url:
        show(_explain_remote(base_url, _api_key(common.settings(ctx), api_key), trace_id), as_json)
        return
    show(_explain(ctx, trace_id, None, project or common.settings(ctx).project), as_json)


# -- readable output ---------------------------------------------------------------------------------


def show(answers: dict[str, Any], as_json: bool) -> None:
    if as_json:
        common.print_json(answers)
        return
    typer.echo(f"answer: {answers['answer']}")
    typer.echo(f"trace:  {answers['trace_id']}  (stackwright traces show {answers['trace_id']})")
    for number, (key, question) in enumerate(QUESTIONS, 1):
        typer.echo("")
        typer.echo(f"{number}. {question}")
        for line in LINES[key](answers[key]):
            typer.echo(f"   {line}")


def _money(value: Any) -> str:
    return "n/a" if value is None else f"${value:.6f}"


def _prompt_lines(p: dict[str, Any]) -> list[str]:
    lines = [f"this request used {p['prompt'] or 'no stored prompt'}"
             + (f" (route {p['route']}@{p['environment']}, arm {p['arm']}, release revision {p['release_revision']})" if p.get("route") else "")]  # fmt: skip
    live = p.get("live")
    if live:
        candidate = f", candidate {live['candidate']} ({live['candidate_mode']} {live['candidate_share']:g}%)" if live["candidate"] else ", no candidate"
        lines.append(f"live now on {live['route']}@{live['environment']} (revision {live['revision']}): stable {live['stable']}{candidate}")
    if p.get("explanation"):
        lines.append(p["explanation"])
    return lines


def _model_lines(m: dict[str, Any]) -> list[str]:
    if m.get("explanation"):
        return [m["explanation"]]
    params = ", ".join(f"{k}={v}" for k, v in (m.get("parameters") or {}).items()) or "none recorded"
    return [
        f"asked for {m['asked']}, served by {m['served']} (provider {m['provider']}, deployment {m['deployment']}, upstream model {m['upstream_model']})",
        f"parameters: {params}" + (f" (from {m['parameters_source']})" if m.get("parameters_source") else ""),
        f"attempts: {m['attempts']}, cache: {m['cache']}, tokens in/out: {m['input_tokens']}/{m['output_tokens']}",
    ]


def _context_lines(c: dict[str, Any]) -> list[str]:
    lines = []
    for message in c.get("rendered_messages") or []:
        content = str(message.get("content") or "").replace("\n", " ")
        lines.append(f"[{message.get('role')}] {content[:160]}{'…' if len(content) > 160 else ''}")
    for chunk in c.get("retrieved_chunks") or []:
        score = chunk["score"]
        where = {True: ", in the prompt", False: ", not in the prompt"}.get(chunk.get("in_prompt"), "")
        shown = f"score {score:.3f}" if isinstance(score, (int, float)) else "no score"
        lines.append(f"chunk {chunk['chunk_id']} from {chunk['source'] or chunk['title'] or '?'} ({shown}{where})")
    for tool in c.get("tool_results") or []:
        lines.append(f"tool {tool['name']} [{tool['status']}]: {str(tool['output'])[:160]}")
    if c.get("explanation"):
        lines.append(c["explanation"])
    return lines or ["no rendered prompt, retrieved chunk or tool result was recorded"]


def _failure_lines(f: dict[str, Any]) -> list[str]:
    lines = [f["summary"]]
    decisions = f.get("guardrail_decisions") or []
    for d in decisions:
        if d["triggered"]:
            lines.append(f"guardrail {d['direction']} {d['check']}: triggered, action {d['action']} (score {d['score']})")
    passed = [f"{d['direction']} {d['check']}" for d in decisions if not d["triggered"]]
    if passed:
        lines.append(f"guardrail checks passed: {', '.join(passed)}")
    for s in f.get("scores") or []:
        lines.append(f"score {s['name']} = {s['value'] if s['value'] is not None else s['string_value']} ({s['source']})")
    return lines


def _eval_lines(e: dict[str, Any]) -> list[str]:
    head = f"{e.get('route')}@{e.get('environment')}: stable {e.get('stable')} vs candidate {e.get('candidate')}" if e.get("route") else ""
    if not e.get("compared"):
        return [x for x in (head, e.get("explanation")) if x] + [
            f"run {r['name']} ({arm}): {r['means']}" for arm, r in (e.get("runs") or {}).items()
        ]
    lines = [head + (" (candidate already rolled back)" if e.get("candidate_is_rolled_back") else ""), f"verdict: {e['verdict']}"]
    if e.get("method"):
        lines.append(f"method: {e['method']}")
    for name, s in e["scorers"].items():
        delta = s["mean_delta"]
        if s.get("paired_cases"):
            detail = (f"{s['paired_cases']} paired cases, {s['improved_cases']} better / {s['regressed_cases']} worse, "
                      f"wilcoxon p={s['wilcoxon_p']}, mcnemar p={s['mcnemar_p']}")  # fmt: skip
        else:
            detail = f"{s.get('stable_cases')} vs {s.get('candidate_cases')} cases, mann-whitney p={s.get('mannwhitney_p')}"
        lines.append(f"{name}: {s['stable_mean']} -> {s['candidate_mean']} (delta {'n/a' if delta is None else f'{delta:+.4f}'}, "
                     f"{detail}, {'significant' if s['significant'] else 'not significant'})")  # fmt: skip
    return lines


def _cost_lines(c: dict[str, Any]) -> list[str]:
    lines = [f"total {_money(c['total'])} for {c['tokens']['total']} tokens"] + ([c["note"]] if c.get("note") else [])
    lines += [f"step {s['name']}: {_money(s['cost_usd'])}" for s in c["per_step"]]
    lines += [f"model {m}: {_money(v)}" for m, v in c["per_model"].items()]
    return lines


def _slowest_lines(s: dict[str, Any]) -> list[str]:
    if s.get("explanation"):
        return [s["explanation"]]
    share = s["share_of_trace"]
    return [f"{s['name']}: {s['self_time_ms']:.1f} ms of its own time"
            + (f" ({share:.0%} of the {s['trace_duration_ms']:.1f} ms request)" if share is not None else "")] + [
        f"then {t['name']}: {t['self_time_ms']:.1f} ms" for t in s["top"][1:]
    ]  # fmt: skip


def _rollback_lines(r: dict[str, Any]) -> list[str]:
    lines = [("yes: " if r.get("can_roll_back") else "no: ") + str(r.get("explanation"))]
    last = r.get("last_rollback")
    if last:
        took, effect = last.get("took_effect_s"), last.get("effect") or {}
        if took is None:
            when = "its effect is not measured yet (no request of the route since)" if effect else "its effect is unknown"
        elif not effect.get("old_config_requests_since"):
            when = f"took effect at once (none of the {effect.get('requests_since')} requests since used the old config)"
        else:
            when = f"took effect {took:.2f} s later (the last of {effect['old_config_requests_since']} requests on the old config)"
        lines.append(f"last rollback {last['at']} ({'automatic' if last['automatic'] else 'by ' + str(last['actor'])}): "
                     f"{last['from']} -> {last['to']}, {when}")  # fmt: skip
    elif r.get("last_rollback_explanation"):
        lines.append(r["last_rollback_explanation"])
    return lines


LINES = {
    "prompt_version": _prompt_lines,
    "model": _model_lines,
    "context": _context_lines,
    "failure": _failure_lines,
    "eval_delta": _eval_lines,
    "cost_usd": _cost_lines,
    "slowest_step": _slowest_lines,
    "rollback": _rollback_lines,
}

_register_support_commands()
