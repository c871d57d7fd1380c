"""The base of the server's background loops: one pass in a worker thread every ``interval_s`` seconds.

A subclass names itself and implements ``run_pass`` (blocking code, run with ``asyncio.to_thread``), or
overrides ``run_once`` when its pass is async; an ``interval_s`` of 0 or less turns the loop off;
``start`` schedules the loop on the running event loop, ``stop`` wakes it and waits for the pass in
progress (a pass can watch ``self.stopping`` to end early at a safe point), and ``run_once`` runs a pass now.
A failed pass is logged and the loop goes on.

Work that must run wherever it is first needed, with or without an event loop (the gateway's limits flush,
started by the first admission in a server or a CLI command), uses the same base in a daemon thread:
``start_thread`` and ``stop_thread``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

log = logging.getLogger("stackwright")


class PeriodicTask:
    name = "stackwright-periodic"
    run_at_start = True  # the first pass at start, or one interval after it
    stop_timeout_s = 30.0

    def __init__(self, interval_s: float):
        self.interval_s = interval_s
        self.stopping = threading.Event()
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()

    def run_pass(self) -> Any:
        """One pass of blocking work; each subclass defines it (or overrides ``run_once`` for async work)."""
        raise NotImplementedError(f"{type(self).__name__} must define run_pass or override run_once")

    def report(self, result: Any) -> None:
        """Log what a pass did (nothing by default)."""

    @property
    def running(self) -> bool:
        if self._thread is not None and self._thread.is_alive():
            return True
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self.interval_s > 0 and not self.running:
            self.stopping.clear()
            self._wakeup = asyncio.Event()
            self._loop = asyncio.get_running_loop()
            self._task = self._loop.create_task(self._run(), name=self.name)

    def wake(self) -> None:
        """Run the next pass now instead of at the end of the interval (callable from any thread)."""
        if self._wakeup is not None and self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wakeup.set)

    async def run_once(self) -> Any:
        """One pass now, in a worker thread."""
        return await asyncio.to_thread(self.run_pass)

    async def _run(self) -> None:
        assert self._wakeup is not None
        first = True
        while not self.stopping.is_set():
            if not (first and self.run_at_start):
                try:
                    await asyncio.wait_for(self._wakeup.wait(), timeout=self.interval_s)
                except TimeoutError:
                    pass
                self._wakeup.clear()
                if self.stopping.is_set():
                    break
            first = False
            try:
                self.report(await self.run_once())
            except Exception:
                log.exception("%s: a pass failed; the next one runs in %s s", self.name, self.interval_s)

    async def stop(self, timeout_s: float | None = None) -> None:
        if self._task is None:
            return
        self.stopping.set()
        if self._wakeup is not None:
            self._wakeup.set()
        try:
            await asyncio.wait_for(self._task, timeout=self.stop_timeout_s if timeout_s is None else timeout_s)
        except (asyncio.CancelledError, Exception):  # noqa: BLE001 - timed out, cancelled or failed: cancel it
            self._task.cancel()
        self._task = None

    # -- in a thread ---------------------------------------------------------------------------------

    def start_thread(self) -> None:
        """Run the loop in a daemon thread (idempotent; safe from any thread): a pass every ``interval_s``."""
        if self.interval_s <= 0 or self.running:
            return
        with self._thread_lock:
            if self.running:
                return
            self.stopping = threading.Event()  # a fresh event: a thread still winding down keeps its own
            self._thread = threading.Thread(target=self._run_in_thread, args=(self.stopping,), name=self.name, daemon=True)
            self._thread.start()

    def _run_in_thread(self, stopping: threading.Event) -> None:
        while not stopping.wait(self.interval_s):
            try:
                self.report(self.run_pass())
            except Exception:
                log.warning("%s: a pass failed; retrying in %s s", self.name, self.interval_s, exc_info=True)

    def stop_thread(self, timeout_s: float | None = None) -> None:
        """Stop the thread and wait for the pass in progress (not when called from the thread itself)."""
        self.stopping.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=self.stop_timeout_s if timeout_s is None else timeout_s)
        self._thread = None
