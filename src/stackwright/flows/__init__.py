"""Workflows: steps with retries, timeouts, fallbacks, caching and typed results; sequence/parallel
composition; an agent loop with hard limits. Every step is a span under the current trace.

    from stackwright.flows import step, sequence, parallel, run_agent, current_step
"""

from stackwright.flows.agent import (
    AgentLimitExceeded,
    AgentState,
    Final,
    ToolCall,
    run_agent,
)
from stackwright.flows.compose import Flow, parallel, sequence
from stackwright.flows.steps import Step, StepError, StepRun, current_step, step

__all__ = [
    "AgentLimitExceeded",
    "AgentState",
    "Final",
    "Flow",
    "Step",
    "StepError",
    "StepRun",
    "ToolCall",
    "current_step",
    "parallel",
    "run_agent",
    "sequence",
    "step",
]
