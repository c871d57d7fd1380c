"""Group commit: concurrent ingest requests are written in one transaction by one writer task.

A request is answered only after the transaction holding its spans has committed, so an
acknowledged span survives a kill -9. The queue is bounded by span count: when it is full the
request gets 429 with Retry-After instead of being dropped or queued without limit.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from stackwright.core.db import Database
from stackwright.core.errors import StackwrightError
from stackwright.tracing.store import write_spans

log = logging.getLogger("stackwright.tracing")


class IngestBusy(StackwrightError):
    status = 429
    code = "ingest_busy"


@dataclass
class _Batch:
    rows: list[dict[str, Any]]
    future: asyncio.Future = field(repr=False)


class SpanWriter:
    """One per app. ``submit`` waits until the rows are committed and returns how many were new."""

    def __init__(self, db: Database, max_queued_spans: int, max_batch_spans: int = 20_000):
        self.db = db
        self.max_queued_spans = max_queued_spans
        self.max_batch_spans = max_batch_spans
        self.queued_spans = 0
        self.stats = {"accepted": 0, "written": 0, "duplicates": 0, "rejected_busy": 0, "batches": 0, "failed": 0}
        self._pending: list[_Batch] = []
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task | None = None

    async def submit(self, rows: list[dict[str, Any]]) -> int:
        if not rows:
            return 0
        if self.queued_spans + len(rows) > self.max_queued_spans and self.queued_spans > 0:
            self.stats["rejected_busy"] += len(rows)
            raise IngestBusy(
                f"The ingest queue is full ({self.queued_spans} spans waiting to be written).",
                hint="Retry after the Retry-After delay; exporters do this on their own.",
                details={"retry_after_s": 1},
            )
        self._ensure_started()
        batch = _Batch(rows, asyncio.get_running_loop().create_future())
        self._pending.append(batch)
        self.queued_spans += len(rows)
        self.stats["accepted"] += len(rows)
        self._wakeup.set()
        return await batch.future

    def _ensure_started(self) -> None:
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._wakeup = asyncio.Event()
            self._task = loop.create_task(self._run(), name="stackwright-span-writer")

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                group, size = [], 0
                while self._pending and (not group or size + len(self._pending[0].rows) <= self.max_batch_spans):
                    batch = self._pending.pop(0)
                    group.append(batch)
                    size += len(batch.rows)
                results = await asyncio.to_thread(self._write_group, [b.rows for b in group])
                self.queued_spans -= size
                for batch, result in zip(group, results, strict=True):
                    if batch.future.done():
                        continue
                    if isinstance(result, BaseException):
                        batch.future.set_exception(result)
                    else:
                        batch.future.set_result(result)

    def _write_group(self, groups: list[list[dict[str, Any]]]) -> list[int | BaseException]:
        """All requests in one transaction; if that fails, each on its own so one bad request fails alone."""
        self.stats["batches"] += 1
        try:
            with self.db.write() as session:
                conn = session.connection()
                results: list[int | BaseException] = [write_spans(conn, rows) for rows in groups]
        except Exception:
            if len(groups) == 1:
                log.exception("span batch failed")
                self.stats["failed"] += len(groups[0])
                return [_as_error()]
            return [self._write_group([rows])[0] for rows in groups]
        for rows, written in zip(groups, results, strict=True):
            self.stats["written"] += written
            self.stats["duplicates"] += len(rows) - written
        return results

    async def close(self, timeout_s: float = 10.0) -> None:
        """Write what is queued (up to ``timeout_s``), then stop the writer task."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while self.queued_spans > 0 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None


def _as_error() -> BaseException:
    from stackwright.core.errors import Unavailable

    return Unavailable("The spans could not be stored; nothing of this request was kept.", hint="Retry the export.")
