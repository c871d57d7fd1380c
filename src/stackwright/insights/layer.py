"""The insights layer's registration: the eight answers for one request (`traces explain`, and
GET /api/v1/traces/{id}/explain)."""

from __future__ import annotations

from typing import Any

from stackwright.core.layers import Layer


def _routers() -> list[Any]:
    from stackwright.insights.api import router

    return [router]


def _extend_traces_commands(traces_app: Any) -> None:
    from stackwright.insights.cli import register

    register(traces_app)


layer = Layer(name="insights", rank=120, routers=_routers, extends={"tracing.traces_commands": _extend_traces_commands})
