"""The jobs layer's registration: the job queue, its runner and cron schedules."""

from __future__ import annotations

from typing import Any

from stackwright.core.layers import AppContext, Layer


def _routers() -> list[Any]:
    from stackwright.jobs.api import router

    return [router]


def _commands(root: Any) -> None:
    from stackwright.jobs.cli import jobs_app

    root.add_typer(jobs_app, name="jobs")


def _setup(ctx: AppContext) -> None:
    from stackwright.jobs.scheduler import JobsTask

    ctx.tasks.append(ctx.publish("jobs", JobsTask(ctx.db, ctx.settings)))  # `await jobs.run_once()` runs one pass now


layer = Layer(name="jobs", rank=110, tables=("stackwright.jobs.models",), routers=_routers, commands=_commands, setup=_setup)
