"""Composing steps: ``sequence`` feeds each part's result to the next; ``parallel`` gives every part the
same input at once and returns their results (a list, or a dict for named parts).

    pipeline = sequence(retrieve, parallel(summary=summarize, tags=classify), render, name="answer")
    result = await pipeline(question)

A composed flow is itself a step-like callable (``await flow(x)``, ``flow.sync(x)``), one span (kind
``chain``) over its parts. In ``parallel``, the first failure cancels the other parts and is raised.
"""

from __future__ import annotations

import asyncio
from typing import Any

from stackwright.flows.steps import _CURRENT, StepRun, _record_cost, as_step


class Flow:
    """Parts run in sequence or in parallel; build with ``sequence(...)`` / ``parallel(...)``."""

    def __init__(self, mode: str, parts: list[Any], names: list[str] | None, name: str | None):
        if not parts:
            raise ValueError(f"{mode}() needs at least one step")
        self.mode = mode
        self.parts = [p if isinstance(p, Flow) else as_step(p) for p in parts]
        self.names = names
        self.name = name or f"{mode}({', '.join(getattr(p, 'name', '?') for p in self.parts)})"

    def __repr__(self) -> str:
        return f"<Flow {self.name!r}>"

    async def __call__(self, value: Any) -> Any:
        from stackwright.sdk.observe import observe

        with observe(self.name, kind="chain", capture_input=False, capture_output=False) as span:
            span.set_attributes({"stackwright.flow.mode": self.mode, "stackwright.flow.parts": len(self.parts)})
            parent = _CURRENT.get()
            run = StepRun(self.name, parent)
            token = _CURRENT.set(run)
            try:
                result = await (self._sequence(value) if self.mode == "sequence" else self._parallel(value))
            finally:
                _CURRENT.reset(token)
                _record_cost(span, run)
                if parent is not None:
                    parent.total_cost_usd += run.total_cost_usd
                    parent.total_tokens += run.total_tokens
            span.set_output(result)
            return result

    async def _sequence(self, value: Any) -> Any:
        for part in self.parts:
            value = await part(value)
        return value

    async def _parallel(self, value: Any) -> Any:
        tasks = [asyncio.ensure_future(part(value)) for part in self.parts]
        try:
            results = await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        return dict(zip(self.names, results, strict=True)) if self.names else list(results)

    def sync(self, value: Any) -> Any:
        """Run the flow from synchronous code (no event loop running in this thread)."""
        return asyncio.run(self(value))


def sequence(*steps: Any, name: str | None = None) -> Flow:
    """``await sequence(a, b, c)(x)`` is ``c(b(a(x)))``, each awaited in turn."""
    return Flow("sequence", list(steps), None, name)


def parallel(*steps: Any, name: str | None = None, **named: Any) -> Flow:
    """``await parallel(a, b)(x)`` is ``[a(x), b(x)]`` run concurrently; ``parallel(x=a, y=b)`` gives a dict."""
    if steps and named:
        raise ValueError("parallel() takes steps either by position (a list result) or by name (a dict result), not both")
    if named:
        return Flow("parallel", list(named.values()), list(named), name)
    return Flow("parallel", list(steps), None, name)
