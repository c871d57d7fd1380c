"""The monitoring layer's registration: Prometheus metrics (one registry per app) and alerts."""

from __future__ import annotations

from typing import Any

from stackwright.core.layers import AppContext, Layer


def _routers() -> list[Any]:
    from stackwright.monitoring.alerts import router as alerts_router
    from stackwright.monitoring.metrics import router as metrics_router

    return [metrics_router, alerts_router]


def _setup(ctx: AppContext) -> None:
    from stackwright.monitoring.metrics import Metrics

    ctx.publish("metrics", Metrics())  # per app, never the global registry


layer = Layer(name="monitoring", rank=20, tables=("stackwright.monitoring.alerts",), routers=_routers, setup=_setup)
