"""LLM-as-judge: a model (through the gateway, traced in the case's trace) grades the output against a
rubric and answers JSON ``{"score": 0..1 or "pass": true|false, "rationale": "..."}``. An answer that does
not parse is re-asked up to ``retries`` times; garbage after that leaves the case unmeasured, with why.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson

from stackwright.evals.scorers import Case, Score, check_params, number, output_text

SYSTEM = (
    "You are a strict evaluator. Grade the assistant's output against the rubric. Reply with one JSON object and "
    'nothing else: {"score": <number from 0 to 1>, "pass": <true|false>, "rationale": "<one or two sentences>"}.'
)
REASK = 'That reply could not be used ({problem}). Reply again with only a JSON object: {{"score": 0..1, "pass": true|false, "rationale": "..."}}.'


class Verdict(NamedTuple):
    score: float
    passed: bool | None
    rationale: str | None


def parse_verdict(text: Any) -> Verdict | str:
    """The judge's verdict, or what makes its reply unusable."""
    if isinstance(text, dict):
        data = text
    else:
        raw = output_text(text).strip()
        if raw.startswith("```"):
            raw = raw.strip("`").removeprefix("json").strip()
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return "it is not JSON"
    if not isinstance(data, dict):
        return "it is not a JSON object"
    score, passed = data.get("score"), data.get("pass", data.get("passed"))
    if isinstance(passed, str) and passed.lower() in ("true", "false", "pass", "fail"):
        passed = passed.lower() in ("true", "pass")
    if passed is not None and not isinstance(passed, bool):
        return f"pass is {passed!r}, not true or false"
    if score is None and passed is None:
        return "it has neither score nor pass"
    if score is not None:
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not 0 <= score <= 1:
            return f"score is {score!r}, not a number from 0 to 1"
    rationale = data.get("rationale") or data.get("reason")
    return Verdict(float(score) if score is not None else (1.0 if passed else 0.0), passed, str(rationale) if rationale else None)


class LLMJudge:
    def __init__(self, params: dict[str, Any]):
        check_params(params, {"rubric", "model", "retries", "threshold", "temperature"}, "llm_judge")
        if not isinstance(params.get("rubric"), str) or not params["rubric"].strip():
            raise ValueError("give `rubric`: what a good answer does")
        if not isinstance(params.get("model"), str) or not params["model"].strip():
            raise ValueError("give `model`: the gateway model that judges")
        retries = params.get("retries", 2)
        if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 5:
            raise ValueError(f"retries must be a whole number from 0 to 5, not {retries!r}")
        self.rubric, self.model, self.retries = params["rubric"], params["model"], retries
        self.threshold = number(params, "threshold", 0.5, low=0, high=1)
        self.temperature = number(params, "temperature", 0.0, low=0, high=2)

    def messages(self, case: Case) -> list[dict[str, str]]:
        parts = [f"Rubric:\n{self.rubric}", f"Input:\n{output_text(case.input)}"]
        if case.expected is not None:
            parts.append(f"Reference answer:\n{output_text(case.expected)}")
        parts.append(f"Output to grade:\n{output_text(case.output)}")
        return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n\n".join(parts)}]

    async def ascore(self, case: Case, ctx: Any) -> Score:
        if case.output is None:
            return Score.unmeasured("there is no output to judge")
        messages = self.messages(case)
        problems: list[str] = []
        cost = 0.0
        for attempt in range(self.retries + 1):
            body = {"model": self.model, "messages": messages, "temperature": self.temperature,
                    "response_format": {"type": "json_object"}, "seed": ctx.seed}  # fmt: skip
            try:
                completion, meta = await ctx.chat(body, case)
            except Exception as exc:  # the judge's own failure: unmeasured, never a crash of the run
                return Score.unmeasured(f"the judge model failed: {getattr(exc, 'message', None) or exc}", {"attempts": attempt + 1})
            cost += meta.get("cost") or 0.0
            reply = ((completion.get("choices") or [{}])[0].get("message") or {}).get("content")
            verdict = parse_verdict(reply)
            if isinstance(verdict, Verdict):
                value, passed, rationale = verdict
                if passed is None:
                    passed = value >= self.threshold
                return Score(value, passed, rationale, {"rationale": rationale, "attempts": attempt + 1, "judge_cost": cost})
            problem = verdict
            problems.append(problem)
            messages = [*messages, {"role": "assistant", "content": output_text(reply)}, {"role": "user", "content": REASK.format(problem=problem)}]
        return Score.unmeasured(
            f"the judge's answer did not parse after {self.retries + 1} attempt(s): {problems[-1]}",
            {"attempts": self.retries + 1, "problems": problems, "judge_cost": cost},
        )
