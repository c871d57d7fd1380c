"""The app factory: builds one FastAPI app from settings out of the registered layers (``core.layers``):
each layer's services and background tasks, then every layer's routers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse

from stackwright import __version__
from stackwright.core.config import Settings
from stackwright.core.db import Database
from stackwright.core.layers import AppContext, layers, routers_in_mount_order
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
    """Build the app. Nothing connects here: the database is opened by the first request or by `prepare`.

    Services land on ``app.state`` (``gateway``, ``span_writer``, ``jobs``, ``retention``, ...); a background
    task's ``await app.state.<task>.run_once()`` runs one pass now."""
    settings = settings or Settings()
    db = db or Database(settings)
    app = FastAPI(title="Stackwright", version=__version__, description=DESCRIPTION, docs_url=None, redoc_url=None)
    app.state.settings = settings
    app.state.db = db
    ctx = AppContext(settings=settings, db=db, state=app.state)
    for layer in layers():
        if layer.setup is not None:
            layer.setup(ctx)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        for task in ctx.tasks:
            task.start()
        for hook in ctx.on_start:
            hook()
        yield
        for task in reversed(ctx.tasks):
            await task.stop()
        for close in reversed(ctx.closers):
            await close()
        db.dispose()

    app.router.lifespan_context = lifespan
    install_error_handlers(app)
    mount_docs(app)
    for router in routers_in_mount_order():
        app.include_router(router)

    @app.get("/", include_in_schema=False)
    def index(request: Request) -> Any:
        home = getattr(app.state, "browser_home", None)  # the web UI's start page, when a layer serves one
        if home and "text/html" in request.headers.get("accept", ""):
            return RedirectResponse(home, status_code=303)
        return {"name": "stackwright", "version": __version__, "docs": "/docs", "health": "/healthz"}

    app.add_middleware(StrictJSONMiddleware)  # inside RequestMiddleware: the size limit applies first
    app.add_middleware(RequestMiddleware, max_body_bytes=settings.max_body_bytes)
    return app


SETTINGS_ENV = "STACKWRIGHT_WORKER_SETTINGS"


def app_from_environment() -> FastAPI:
    """Factory for `serve` with several workers: each process rebuilds the app from the parent's settings."""
    import os

    from stackwright.core.logs import configure_logging

    settings = Settings.model_validate_json(os.environ[SETTINGS_ENV])
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings)
