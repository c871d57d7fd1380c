"""The app factory: builds one FastAPI app from settings and mounts every layer's router."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from stackwright import __version__
from stackwright.core.config import Settings
from stackwright.core.db import Database
from stackwright.server.docs import mount_docs
from stackwright.server.errors import install_error_handlers
from stackwright.server.json_bodies import StrictJSONMiddleware
from stackwright.server.middleware import RequestMiddleware

DESCRIPTION = (
    "The AI engineering stack for LLM applications. Authenticate with `Authorization: Bearer sw-...`; "
    "every /api/v1 call is scoped to the key's project. Errors have one shape: "
    '`{"error": {"code", "message", "details"}}`.'
)


def create_app(settings: Settings | None = None, db: Database | None = None) -> FastAPI:
    """Build the app. Nothing connects here: the database is opened by the first request or by `prepare`."""
    from stackwright.auth.api import router as auth_router
    from stackwright.datasets.api import router as datasets_router
    from stackwright.evals.api import router as evals_router
    from stackwright.evals.online import OnlineEvaluator
    from stackwright.evals.reaper import ReaperTask
    from stackwright.gateway.admin_api import router as gateway_admin_router
    from stackwright.gateway.api import router as gateway_router
    from stackwright.gateway.limits import Enforcer
    from stackwright.gateway.limits_api import router as limits_router
    from stackwright.gateway.proxy import Gateway
    from stackwright.guardrails.api import router as guardrails_router
    from stackwright.insights.api import router as insights_router
    from stackwright.jobs.api import router as jobs_router
    from stackwright.jobs.scheduler import JobsTask
    from stackwright.monitoring.alerts import router as alerts_router
    from stackwright.monitoring.metrics import Metrics
    from stackwright.monitoring.metrics import router as metrics_router
    from stackwright.prompts.api import router as prompts_router
    from stackwright.releases.api import router as releases_router
    from stackwright.releases.guard import RollbackTask
    from stackwright.retrieval.collections_api import router as collections_router
    from stackwright.retrieval.eval_api import router as retrieval_eval_router
    from stackwright.retrieval.search_api import router as search_router
    from stackwright.server.health import router as health_router
    from stackwright.tracing.admin_api import router as trace_admin_router
    from stackwright.tracing.api import router as trace_router
    from stackwright.tracing.ingest import router as ingest_router
    from stackwright.tracing.pricing import ProjectPricers
    from stackwright.tracing.retention import RetentionTask
    from stackwright.tracing.writer import SpanWriter

    settings = settings or Settings()
    db = db or Database(settings)
    metrics = Metrics()  # per app, never the global registry
    span_writer = SpanWriter(db, settings.ingest_queue_max_spans, metrics=metrics)
    retention = RetentionTask(db, settings.retention_check_interval_s)  # `await retention.run_once()` purges now
    jobs = JobsTask(db, settings)  # background jobs and cron schedules; `await jobs.run_once()` runs one pass now
    release_guard = RollbackTask(db)  # `await release_guard.run_once()` checks every candidate's rollback rules now
    pricers = ProjectPricers(db)
    limits = Enforcer(db)
    gateway = Gateway(settings, db, span_writer, pricers, metrics, limits=limits)
    online_evaluator = OnlineEvaluator(db, gateway, settings.online_eval_interval_s)  # `await ....run_once()` scores now
    eval_reaper = ReaperTask(db, settings.eval_stale_after_s)  # eval runs whose process died -> interrupted, at start and periodically

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        retention.start()
        release_guard.start()
        jobs.start()
        online_evaluator.start()
        eval_reaper.start()
        preload_local_models()
        yield
        await retention.stop()
        await release_guard.stop()
        await jobs.stop()
        await online_evaluator.stop()
        await eval_reaper.stop()
        await gateway.aclose()
        await limits.aclose()
        await span_writer.close()
        db.dispose()

    app = FastAPI(
        title="Stackwright",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.span_writer = span_writer
    app.state.pricers = pricers
    app.state.gateway = gateway
    app.state.limits = limits
    app.state.retention = retention
    app.state.release_guard = release_guard
    app.state.jobs = jobs
    app.state.online_evaluator = online_evaluator
    app.state.eval_reaper = eval_reaper
    app.state.metrics = metrics
    install_error_handlers(app)
    mount_docs(app)
    app.include_router(health_router)
    app.include_router(prompts_router)  # early: routes are matched in order, and SDKs fetch prompts often
    app.include_router(auth_router)
    app.include_router(ingest_router)
    app.include_router(trace_admin_router)  # before trace_router: /traces/stats is not a trace id
    app.include_router(trace_router)
    app.include_router(insights_router)
    app.include_router(metrics_router)
    app.include_router(limits_router)
    app.include_router(gateway_admin_router)
    app.include_router(gateway_router)
    app.include_router(releases_router)
    app.include_router(alerts_router)
    app.include_router(collections_router)
    app.include_router(search_router)
    app.include_router(retrieval_eval_router)
    app.include_router(datasets_router)
    app.include_router(evals_router)
    app.include_router(jobs_router)
    app.include_router(guardrails_router)

    @app.get("/", include_in_schema=False)
    def index() -> dict:
        return {"name": "stackwright", "version": __version__, "docs": "/docs", "health": "/healthz"}

    app.add_middleware(StrictJSONMiddleware)  # inside RequestMiddleware: the size limit applies first
    app.add_middleware(RequestMiddleware, max_body_bytes=settings.max_body_bytes)
    return app


def preload_local_models(delay_s: float = 2.0) -> None:
    """Load the embedded embedder in the background soon after start, so the first local request does
    not pay for it (and start-up itself does not wait)."""
    import threading

    def load() -> None:
        from stackwright.local.embedder import preload

        try:
            preload()
        except Exception:  # the first request will load it, or report why it cannot
            pass

    timer = threading.Timer(delay_s, load)
    timer.daemon = True
    timer.start()


SETTINGS_ENV = "STACKWRIGHT_WORKER_SETTINGS"


def app_from_environment() -> FastAPI:
    """Factory for `serve` with several workers: each process rebuilds the app from the parent's settings."""
    import os

    from stackwright.core.logs import configure_logging

    settings = Settings.model_validate_json(os.environ[SETTINGS_ENV])
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings)
