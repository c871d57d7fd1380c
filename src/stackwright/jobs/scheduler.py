"""The server's jobs task: every ``jobs_poll_interval_s`` seconds (or at once when a job is enqueued
through the API) one ``JobWorker.tick()`` in a worker thread: re-queue stale jobs, fire due schedules,
heartbeat the jobs this process runs, start queued jobs up to ``jobs_concurrency``.
"""

from __future__ import annotations

import logging
from typing import Any

from stackwright.core.config import Settings
from stackwright.core.db import Database
from stackwright.core.periodic import PeriodicTask
from stackwright.jobs.runner import JobWorker

log = logging.getLogger("stackwright.jobs")


class JobsTask(PeriodicTask):
    """Runs ``worker.tick()`` from ``start()`` until ``stop()``; ``wake()`` runs the next tick now."""

    name = "stackwright-jobs"
    stop_timeout_s = 10.0

    def __init__(self, db: Database, settings: Settings):
        super().__init__(settings.jobs_poll_interval_s)
        self.settings = settings
        self.enabled = settings.jobs_enabled
        self.worker = JobWorker(
            db,
            executor=settings.jobs_executor,
            concurrency=settings.jobs_concurrency,
            stale_after_s=settings.jobs_stale_after_s,
        )

    def start(self) -> None:
        if not self.enabled or self.running:
            return
        self.worker.check_executor()  # a missing executor (ray not installed) stops the server at start, with the fix
        super().start()

    def run_pass(self) -> dict[str, Any]:
        return self.worker.tick()

    async def stop(self, timeout_s: float | None = None) -> None:
        """Stop starting work. Jobs still running in threads finish on their own; a job cut short by the
        process ending is re-queued by the next server once its heartbeat is stale."""
        await super().stop(timeout_s)
        self.worker.close(wait=False)
