"""The tracing layer's registration: OTLP ingest, the span store, trace queries, scores and retention."""

from __future__ import annotations

from typing import Any

from stackwright.core.layers import AppContext, Layer


def _routers() -> list[Any]:
    from stackwright.tracing.admin.api import router as admin_router
    from stackwright.tracing.api import router as trace_router
    from stackwright.tracing.ingest import router as ingest_router

    return [ingest_router, admin_router, trace_router]  # admin first: /traces/stats is not a trace id


def _commands(root: Any) -> None:
    from stackwright.core.layers import extend
    from stackwright.tracing.cli import traces_app

    extend("tracing.traces_commands", traces_app)  # e.g. the insights layer's `traces explain`
    root.add_typer(traces_app, name="traces")


def _setup(ctx: AppContext) -> None:
    from stackwright.tracing.admin.retention import RetentionTask
    from stackwright.tracing.pricing import ProjectPricers
    from stackwright.tracing.writer import SpanWriter

    writer = ctx.publish("span_writer", SpanWriter(ctx.db, ctx.settings.ingest_queue_max_spans, metrics=ctx.state.metrics))
    ctx.closers.append(writer.close)
    ctx.publish("pricers", ProjectPricers(ctx.db))
    # `await app.state.retention.run_once()` purges now
    ctx.tasks.append(ctx.publish("retention", RetentionTask(ctx.db, ctx.settings.retention_check_interval_s)))


layer = Layer(
    name="tracing", rank=30, tables=("stackwright.tracing.models",), routers=_routers, commands=_commands, setup=_setup
)
