"""The eight answers as readable text (the CLI's output without ``--json``): the answer, then each
question of ARCHITECTURE.md with the lines that answer it."""

from __future__ import annotations

from typing import Any

import typer

from stackwright.core import command_helpers as common

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
