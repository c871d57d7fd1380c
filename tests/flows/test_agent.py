"""The agent loop: a final answer, tool errors fed back, and each hard limit (a looping agent too)."""

from __future__ import annotations

import asyncio

import pytest

from stackwright.flows import (
    AgentLimitExceeded,
    AgentState,
    Final,
    ToolCall,
    current_step,
    run_agent,
    step,
)
from tests.flows.conftest import finished


def lookup(order_id: str) -> dict:
    return {"order": order_id, "status": "shipped"}


async def looping(state: AgentState) -> ToolCall:
    return ToolCall("lookup", {"order_id": "o-1"})  # never decides to stop


def test_the_agent_calls_tools_then_answers(sink) -> None:
    def decide(state: AgentState):
        if not state.history:
            return {"tool": "lookup", "args": {"order_id": state.input}}
        return Final(f"Order {state.history[-1]['result']['order']} is {state.history[-1]['result']['status']}.")

    answer = asyncio.run(run_agent(decide, {"lookup": lookup}, input="o-7", max_steps=5))
    assert answer == "Order o-7 is shipped."
    spans = finished(sink)
    (agent,) = [s for s in spans if s.name == "agent"]
    (tool,) = [s for s in spans if s.name == "lookup"]
    assert tool.parent_span_id == agent.span_id and tool.attributes["openinference.span.kind"] == "TOOL"
    assert agent.attributes["stackwright.agent.steps"] == 2 and agent.attributes["stackwright.agent.tool_calls"] == 1


def test_tool_errors_and_unknown_tools_go_back_to_the_agent() -> None:
    def broken(**_: object) -> None:
        raise RuntimeError("database offline")

    def decide(state: AgentState):
        if state.steps == 1:
            return ToolCall("nope", {})
        if state.steps == 2:
            return ToolCall("broken", {})
        return Final([entry["error"] for entry in state.history])

    errors = asyncio.run(run_agent(decide, {"broken": broken, "lookup": lookup}, max_steps=5))
    assert "unknown tool 'nope'" in errors[0] and "broken, lookup" in errors[0]
    assert "database offline" in errors[1]


def test_a_looping_agent_is_stopped_by_max_steps() -> None:
    with pytest.raises(AgentLimitExceeded) as caught:
        asyncio.run(run_agent(looping, {"lookup": lookup}, max_steps=4, max_tool_calls=100))
    assert caught.value.limit == "max_steps" and "max_steps=4" in str(caught.value)
    assert caught.value.state.steps == 4 and len(caught.value.state.history) == 4


def test_a_looping_agent_is_stopped_by_max_tool_calls() -> None:
    with pytest.raises(AgentLimitExceeded) as caught:
        asyncio.run(run_agent(looping, {"lookup": lookup}, max_steps=100, max_tool_calls=3))
    assert caught.value.limit == "max_tool_calls" and caught.value.state.tool_calls == 3


def test_a_looping_agent_is_stopped_by_max_repeated_calls() -> None:
    with pytest.raises(AgentLimitExceeded) as caught:
        asyncio.run(run_agent(looping, {"lookup": lookup}, max_steps=100, max_repeated_calls=2))
    assert caught.value.limit == "max_repeated_calls" and "lookup called 3 times" in str(caught.value)
    assert caught.value.state.tool_calls == 2


def test_a_costly_agent_is_stopped_by_max_cost() -> None:
    @step(name="think")
    async def decide(state: AgentState) -> ToolCall:
        current_step().add_cost(0.01, tokens=500)
        return ToolCall("lookup", {"order_id": str(state.steps)})

    with pytest.raises(AgentLimitExceeded) as caught:
        asyncio.run(run_agent(decide, {"lookup": lookup}, max_steps=100, max_cost_usd=0.035))
    assert caught.value.limit == "max_cost_usd" and caught.value.state.steps == 4
    assert caught.value.state.cost_usd == pytest.approx(0.04)


def test_tool_cost_counts_too() -> None:
    def paid(**_: object) -> str:
        current_step().add_cost(1.0)
        return "ok"

    with pytest.raises(AgentLimitExceeded) as caught:
        asyncio.run(run_agent(lambda s: ToolCall("paid", {"n": s.steps}), {"paid": paid}, max_cost_usd=2.5))
    assert caught.value.limit == "max_cost_usd" and caught.value.state.tool_calls == 3


def test_a_hanging_tool_is_stopped_by_max_seconds() -> None:
    async def hangs(**_: object) -> None:
        await asyncio.sleep(3600)

    with pytest.raises(AgentLimitExceeded) as caught:
        asyncio.run(run_agent(lambda s: ToolCall("hangs", {}), {"hangs": hangs}, max_seconds=0.05))
    assert caught.value.limit == "max_seconds" and "max_seconds=0.05" in str(caught.value)


def test_a_bad_decision_and_bad_limits_are_refused() -> None:
    with pytest.raises(TypeError, match="must return ToolCall"):
        asyncio.run(run_agent(lambda s: "just text", {}, max_steps=2))
    with pytest.raises(ValueError, match="max_steps"):
        asyncio.run(run_agent(lambda s: Final(1), {}, max_steps=0))
    with pytest.raises(ValueError, match="max_seconds"):
        asyncio.run(run_agent(lambda s: Final(1), {}, max_seconds=0))
