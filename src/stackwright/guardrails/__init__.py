"""Guardrails: input and output checks (PII, secrets, prompt injection, banned topics, length, canary,
JSON schema, groundedness), policies per route, and the actions they take (block, redact, flag, reask,
fallback). ``check(text, checks=[...])`` runs checks in process, without a server."""

from __future__ import annotations

from typing import Any


async def acheck_text(specs: list[Any], text: str, direction: str = "input", context: str | None = None,
                      llm: Any = None, canary: str | None = None) -> dict[str, Any]:  # fmt: skip
    """Run checks on one text: {text (redacted or fallback), blocked, decisions}."""
    from stackwright.guardrails.checks import Context
    from stackwright.guardrails.engine import run_input, run_output

    ctx = Context(direction=direction, context=context, llm=llm, canary=canary)
    if direction == "input":
        outcome = await run_input(specs, [{"role": "user", "content": text}], ctx)
        assert outcome.messages is not None  # an input outcome always holds the messages
        final = outcome.text if outcome.fallback else outcome.messages[-1]["content"]
    else:
        outcome = await run_output(specs, text, ctx)
        final = outcome.text
    return {
        "text": final,
        "blocked": outcome.blocked is not None,
        "fallback": outcome.fallback,
        "decisions": [d.as_dict() for d in outcome.decisions],
    }


def check(text: str, checks: list[Any], direction: str = "input", context: str | None = None) -> dict[str, Any]:
    """In process: ``check("mail me at a@b.io", checks=[{"check": "pii", "action": "redact"}])``.

    ``checks`` holds names (``"pii"``, flag only) or ``{check, action, ...params}`` mappings. Returns
    {text, blocked, fallback, decisions}; raises InvalidInput for a bad check list."""
    import asyncio

    from stackwright.guardrails.policy import checks_from_list

    if direction not in ("input", "output"):
        raise ValueError("direction must be 'input' or 'output'")
    specs = checks_from_list(checks, direction)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(acheck_text(specs, text, direction, context))
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # called from async code: its own loop, in a thread
        return pool.submit(asyncio.run, acheck_text(specs, text, direction, context)).result()


__all__ = ["acheck_text", "check"]
