"""Running checks and applying their actions.

Input: the checks run on the text of each ``user`` message; ``redact`` rewrites those messages, a
``canary`` check plants a token in the system prompt. Output: the checks run on the answer in order;
``redact`` rewrites it, ``reask`` asks the model again with the problem appended (at most
``max_reasks`` times, then the entry's ``then``), ``fallback`` answers with the configured message (or
the fallback model's answer). ``block`` stops: the caller refuses the request. Every check gives a
Decision, triggered or not; they become spans in the request's trace.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from stackwright.core.errors import InvalidInput
from stackwright.guardrails.checks import (
    Context,
    Result,
    canary_instruction,
    new_canary,
)
from stackwright.guardrails.policy import CheckSpec

Reask = Callable[[str, str], Awaitable[str]]  # (previous answer, feedback) -> new answer


class GuardrailBlocked(InvalidInput):
    code = "guardrail_blocked"


@dataclass
class Decision:
    check: str
    action: str
    triggered: bool
    score: float
    reasons: list[str]
    findings: list[dict[str, Any]]
    latency_ms: float
    direction: str = "input"
    reasks: int = 0
    start_ns: int = 0
    end_ns: int = 0

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("start_ns")
        out.pop("end_ns")
        if self.action != "reask":
            out.pop("reasks")
        return out


@dataclass
class Outcome:
    text: str | None  # output: the final answer; input: None (see messages)
    messages: list[dict[str, Any]] | None
    decisions: list[Decision] = field(default_factory=list)
    blocked: Decision | None = None
    fallback: bool = False

    def block_error(self) -> GuardrailBlocked:
        d = self.blocked
        assert d is not None
        why = "; ".join(d.reasons) or "the check triggered"
        return GuardrailBlocked(
            f"The {d.direction} was blocked by the {d.check} guardrail: {why}.",
            details={"check": d.check, "direction": d.direction, "score": d.score, "reasons": d.reasons},
        )


async def _run(spec: CheckSpec, text: str, ctx: Context) -> Result:
    try:
        return await spec.built.arun(text, ctx)
    except ValueError as exc:
        raise InvalidInput(f"The {spec.check} check cannot run: {exc}.", code="guardrail_unavailable") from None


def _decision(spec: CheckSpec, result: Result, start_ns: int, direction: str, action: str | None = None) -> Decision:
    end = time.time_ns()
    return Decision(spec.check, action or spec.action, result.triggered, round(float(result.score), 4), list(result.reasons),
                    list(result.findings), round((end - start_ns) / 1e6, 3), direction, 0, start_ns, end)  # fmt: skip


def _user_texts(messages: list[dict[str, Any]]) -> list[tuple[int, int | None, str]]:
    """(message index, content part index or None, text) of every user text."""
    out: list[tuple[int, int | None, str]] = []
    for i, message in enumerate(messages):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            out.append((i, None, content))
        elif isinstance(content, list):
            for j, part in enumerate(content):
                if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
                    out.append((i, j, part["text"]))
    return out


def _plant_canary(messages: list[dict[str, Any]], token: str) -> list[dict[str, Any]]:
    line = canary_instruction(token)
    for i, message in enumerate(messages):
        if message.get("role") in ("system", "developer") and isinstance(message.get("content"), str):
            return [*messages[:i], {**message, "content": message["content"] + "\n\n" + line}, *messages[i + 1 :]]
    return [{"role": "system", "content": line}, *messages]


async def run_input(specs: list[CheckSpec], messages: list[dict[str, Any]], ctx: Context) -> Outcome:
    current = [dict(m) for m in messages]  # always the outcome's messages; redaction edits it in place
    outcome = Outcome(None, current)
    ctx.direction = "input"
    for spec in specs:
        start = time.time_ns()
        if spec.check == "canary":
            ctx.canary = ctx.canary or spec.built.token or new_canary()
            outcome.messages = current = _plant_canary(current, ctx.canary)
            result = Result(False, 0.0, ["canary token inserted into the system prompt"])
            outcome.decisions.append(_decision(spec, result, start, "input"))
            continue
        merged = Result(False)
        for i, j, text in _user_texts(current):
            result = await _run(spec, text, ctx)
            merged.score = max(merged.score, result.score)
            if result.triggered:
                merged.triggered = True
                merged.reasons += [r for r in result.reasons if r not in merged.reasons]
                merged.findings += [{**f, "message": i} for f in result.findings]
                if spec.action == "redact" and result.redacted is not None:
                    _replace(current, i, j, result.redacted)
        decision = _decision(spec, merged, start, "input")
        outcome.decisions.append(decision)
        if merged.triggered and spec.action in ("block", "reask"):
            outcome.blocked = decision
            return outcome
        if merged.triggered and spec.action == "fallback":
            outcome.fallback = True
            outcome.text = await _fallback_text(spec, current, ctx)
            return outcome
    return outcome


def _replace(messages: list[dict[str, Any]], i: int, j: int | None, text: str) -> None:
    message = dict(messages[i])
    if j is None:
        message["content"] = text
    else:
        parts = list(message["content"])
        parts[j] = {**parts[j], "text": text}
        message["content"] = parts
    messages[i] = message


async def _fallback_text(spec: CheckSpec, messages: list[dict[str, Any]] | None, ctx: Context) -> str:
    if spec.fallback_model and ctx.llm is not None and messages:
        return await ctx.llm(spec.fallback_model, messages)
    if spec.fallback is not None:
        return spec.fallback
    raise InvalidInput(f"The {spec.check} check's fallback_model {spec.fallback_model!r} needs the gateway.", code="guardrail_unavailable")


def feedback(spec: CheckSpec, result: Result) -> str:
    problems = "; ".join(result.reasons) or "it failed a check"
    return (f"Your previous answer failed the {spec.check} check: {problems}. "
            "Answer again, fixing this. Reply with the corrected answer only.")  # fmt: skip


async def run_output(specs: list[CheckSpec], text: str, ctx: Context, reask: Reask | None = None,
                     messages: list[dict[str, Any]] | None = None) -> Outcome:  # fmt: skip
    outcome = Outcome(text, None)
    ctx.direction = "output"
    for spec in specs:
        start = time.time_ns()
        result = await _run(spec, outcome.text or "", ctx)
        action, reasks = spec.action, 0
        if result.triggered and spec.action == "reask":
            if reask is None:
                result.reasons.append("no model to re-ask outside the gateway")
            while result.triggered and reask is not None and reasks < spec.max_reasks:
                reasks += 1
                outcome.text = await reask(outcome.text or "", feedback(spec, result))
                result = await _run(spec, outcome.text, ctx)
            if result.triggered:
                result.reasons.append(f"still failing after {reasks} re-ask{'s' if reasks != 1 else ''}; then {spec.then}")
                action = spec.then
        decision = _decision(spec, result, start, "output", None)
        decision.reasks = reasks
        outcome.decisions.append(decision)
        if not result.triggered:
            continue
        if action == "block":
            outcome.blocked = decision
            return outcome
        if action == "redact" and result.redacted is not None:
            outcome.text = result.redacted
        elif action == "fallback":
            outcome.fallback = True
            outcome.text = await _fallback_text(spec, messages, ctx)
            return outcome
    return outcome
