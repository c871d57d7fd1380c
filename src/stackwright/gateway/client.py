"""The gateway in this process without the HTTP app, for layers that call a model in-process (evals, jobs,
retrieval embedders, `stackwright gateway test`).

It builds only what a model call needs: the span writer (calls are traced as through the server),
project pricers, the limits enforcer and the ``Gateway`` (catalog, router, providers, guardrails, routes
and stored prompts). No routers, background tasks or metrics registry. Close it (or use ``async with``)
so queued spans, cache entries and limit settlements are written before the process exits.
"""

from __future__ import annotations

from typing import Any

from stackwright.core.config import Settings
from stackwright.core.db import Database
from stackwright.gateway.limits.enforcer import Enforcer
from stackwright.gateway.proxy import Gateway
from stackwright.tracing.pricing import ProjectPricers
from stackwright.tracing.writer import SpanWriter


class GatewayClient:
    """``client.gateway`` takes calls as ``app.state.gateway`` does; ``await client.aclose()`` flushes."""

    def __init__(self, settings: Settings, db: Database):
        self.span_writer = SpanWriter(db, settings.ingest_queue_max_spans)
        self.limits = Enforcer(db)
        self.gateway = Gateway(settings, db, self.span_writer, ProjectPricers(db), metrics=None, limits=self.limits)

    async def aclose(self) -> None:
        await self.gateway.aclose()
        await self.limits.aclose()
        await self.span_writer.close()

    async def __aenter__(self) -> GatewayClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()
