"""``run_agent``: the tool-calling loop with hard limits.

    async def decide(state: AgentState) -> ToolCall | Final: ...   # e.g. one LLM call
    answer = await run_agent(decide, {"search": search, "get_order": get_order},
                             max_steps=8, max_tool_calls=10, max_seconds=60, max_cost_usd=0.05)

Each step calls ``decide(state)``; it returns ``ToolCall(name, args)`` (a dict ``{"tool": ..., "args": ...}``
works too) or ``Final(answer)`` (or ``{"final": ...}``). A tool's result, or its error, goes into
``state.history`` for the next decision. The limits are hard: the loop stops with ``AgentLimitExceeded``
naming the limit the moment one is reached (a hanging decision or tool is cut at ``max_seconds``).
Cost is what ``decide`` and the tools report with ``current_step().add_cost(usd, tokens)`` (or steps
they call). ``max_repeated_calls`` stops an agent that makes the same call again and again sooner.
Every run is an ``agent`` span, each tool call a ``tool`` span.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stackwright.core.errors import StackwrightError
from stackwright.flows.steps import _CURRENT, Step, StepRun, _in_thread, _record_cost


@dataclass
class ToolCall:
    name: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class Final:
    answer: Any


@dataclass
class AgentState:
    """What ``decide`` sees: the task input, every tool call so far with its result or error, and usage."""

    input: Any
    history: list[dict[str, Any]] = field(default_factory=list)
    steps: int = 0
    tool_calls: int = 0
    cost_usd: float = 0.0
    elapsed_s: float = 0.0


class AgentLimitExceeded(StackwrightError):
    """The agent hit a hard limit; ``limit`` names it (max_steps, max_tool_calls, max_seconds,
    max_cost_usd, max_repeated_calls), ``state`` is where it stopped."""

    status = 422
    code = "agent_limit_exceeded"

    def __init__(self, limit: str, value: Any, used: Any, state: AgentState):
        self.limit, self.value, self.used, self.state = limit, value, used, state
        super().__init__(f"Agent stopped: {limit}={value} reached ({used}) after {state.steps} steps and {state.tool_calls} tool calls.",
                         hint=f"Raise {limit} if the task needs more, or check the agent for a loop in its history.",
                         details={"limit": limit, "value": value, "used": used, "steps": state.steps, "tool_calls": state.tool_calls})  # fmt: skip


def _decision(value: Any) -> ToolCall | Final:
    if isinstance(value, (ToolCall, Final)):
        return value
    if isinstance(value, Mapping):
        if "final" in value:
            return Final(value["final"])
        if "tool" in value:
            args = value.get("args") or {}
            if not isinstance(args, Mapping):
                raise TypeError(f"a tool call's args must be a dict, not {type(args).__name__}")
            return ToolCall(str(value["tool"]), dict(args))
    raise TypeError(f"decide() must return ToolCall(name, args) or Final(answer) (or {{'tool':..., 'args':...}} / {{'final':...}}), not {value!r}")


async def _call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    if isinstance(fn, Step) or inspect.iscoroutinefunction(fn):
        return await fn(*args, **kwargs)
    result = await _in_thread(fn, args, kwargs)
    return await result if inspect.isawaitable(result) else result


async def run_agent(
    decide: Callable[[AgentState], Any],
    tools: Mapping[str, Callable[..., Any]],
    *,
    input: Any = None,
    max_steps: int = 20,
    max_tool_calls: int = 50,
    max_seconds: float = 300.0,
    max_cost_usd: float | None = None,
    max_repeated_calls: int | None = None,
    name: str = "agent",
) -> Any:
    """Run ``decide`` and the tools it picks until it returns a final answer (returned) or a limit is hit."""
    from stackwright.sdk.observe import observe

    for label, limit in (("max_steps", max_steps), ("max_tool_calls", max_tool_calls)):
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"{label} must be a whole number >= 1, not {limit!r}")
    if not max_seconds > 0:
        raise ValueError(f"max_seconds must be > 0, not {max_seconds!r}")
    state = AgentState(input=input)
    with observe(name, kind="agent", capture_input=False, capture_output=False) as span:
        span.set_input(input)
        parent = _CURRENT.get()
        run = StepRun(name, parent)
        token = _CURRENT.set(run)
        started = time.monotonic()
        try:
            answer = await asyncio.wait_for(
                _loop(decide, tools, state, run, started, max_steps, max_tool_calls, max_cost_usd, max_repeated_calls), max_seconds
            )
        except TimeoutError:
            state.elapsed_s = time.monotonic() - started
            raise AgentLimitExceeded("max_seconds", max_seconds, f"{state.elapsed_s:.1f} s", state) from None
        finally:
            _CURRENT.reset(token)
            span.set_attributes({"stackwright.agent.steps": state.steps, "stackwright.agent.tool_calls": state.tool_calls})
            _record_cost(span, run)
            if parent is not None:
                parent.total_cost_usd += run.total_cost_usd
                parent.total_tokens += run.total_tokens
        span.set_output(answer)
        return answer


async def _loop(decide: Any, tools: Mapping[str, Any], state: AgentState, run: StepRun, started: float, max_steps: int,
                max_tool_calls: int, max_cost_usd: float | None, max_repeated_calls: int | None) -> Any:  # fmt: skip
    from stackwright.sdk.observe import observe

    def check_cost() -> None:
        state.cost_usd = run.total_cost_usd
        state.elapsed_s = time.monotonic() - started
        if max_cost_usd is not None and state.cost_usd >= max_cost_usd:
            raise AgentLimitExceeded("max_cost_usd", max_cost_usd, f"${state.cost_usd:.6f}", state)

    repeats, last_call = 0, None
    while True:
        if state.steps >= max_steps:
            raise AgentLimitExceeded("max_steps", max_steps, f"{state.steps} steps", state)
        state.steps += 1
        decision = _decision(await _call(decide, state))
        check_cost()
        if isinstance(decision, Final):
            return decision.answer
        if state.tool_calls >= max_tool_calls:
            raise AgentLimitExceeded("max_tool_calls", max_tool_calls, f"{state.tool_calls} tool calls", state)
        signature = (decision.name, repr(sorted(decision.args.items())))
        repeats = repeats + 1 if signature == last_call else 1
        last_call = signature
        if max_repeated_calls is not None and repeats > max_repeated_calls:
            raise AgentLimitExceeded("max_repeated_calls", max_repeated_calls, f"{decision.name} called {repeats} times in a row with the same args", state)
        state.tool_calls += 1
        entry: dict[str, Any] = {"step": state.steps, "tool": decision.name, "args": decision.args}
        tool = tools.get(decision.name)
        with observe(decision.name, kind="tool", capture_input=False, capture_output=False) as tool_span:
            tool_span.set_input(decision.args)
            if tool is None:
                entry["error"] = f"unknown tool {decision.name!r}; the tools are: {', '.join(sorted(tools)) or 'none'}"
                tool_span.set_status(False, entry["error"])
            else:
                try:
                    entry["result"] = await _call(tool, **decision.args)
                    tool_span.set_output(entry["result"])
                except (asyncio.CancelledError, AgentLimitExceeded):
                    raise
                except Exception as exc:  # noqa: BLE001 - the agent sees the error and may recover
                    entry["error"] = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
                    tool_span.set_status(False, entry["error"])
        state.history.append(entry)
        check_cost()
