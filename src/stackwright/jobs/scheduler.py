"""The server's jobs task: every ``jobs_poll_interval_s`` seconds (or at once when a job is enqueued
through the API) one ``JobWorker.tick()`` in a worker thread: re-queue stale jobs, fire due schedules,
heartbeat the jobs this process runs, start queued jobs up to ``jobs_concurrency``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from stackwright.core.config import Settings
from stackwright.core.db import Database
from stackwright.jobs.runner import JobWorker

log = logging.getLogger("stackwright.jobs")


class JobsTask:
    """Runs ``worker.tick()`` from ``start()`` until ``stop()``; ``wake()`` runs the next tick now."""

    def __init__(self, db: Database, settings: Settings):
        self.settings = settings
        self.enabled = settings.jobs_enabled
        self.interval_s = settings.jobs_poll_interval_s
        self.worker = JobWorker(
            db,
            executor=settings.jobs_executor,
            concurrency=settings.jobs_concurrency,
            stale_after_s=settings.jobs_stale_after_s,
        )
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False

    def start(self) -> None:
        if not self.enabled or (self._task is not None and not self._task.done()):
            return
        self.worker.check_executor()  # a missing executor (ray not installed) stops the server at start, with the fix
        self._stopping = False
        self._wakeup = wakeup = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._run(wakeup), name="stackwright-jobs")

    def wake(self) -> None:
        """Run the next pass now (callable from any thread)."""
        if self._wakeup is not None and self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wakeup.set)

    async def run_once(self) -> dict[str, Any]:
        return await asyncio.to_thread(self.worker.tick)

    async def _run(self, wakeup: asyncio.Event) -> None:
        while not self._stopping:
            try:
                await self.run_once()
            except Exception:
                log.exception("jobs pass failed")
            try:
                await asyncio.wait_for(wakeup.wait(), timeout=self.interval_s)
            except TimeoutError:
                pass
            wakeup.clear()

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Stop starting work. Jobs still running in threads finish on their own; a job cut short by the
        process ending is re-queued by the next server once its heartbeat is stale."""
        self._stopping = True
        if self._task is not None and self._wakeup is not None:
            self._wakeup.set()
            try:
                await asyncio.wait_for(self._task, timeout=timeout_s)
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                self._task.cancel()
            self._task = None
        self.worker.close(wait=False)
