"""Group commit: concurrent ingest requests are written in one transaction by one writer thread.

A request is answered only after the transaction holding its spans has committed, so an
acknowledged span survives a kill -9. The queue is bounded by span count: when it is full the
request gets 429 with Retry-After instead of being dropped or queued without limit. The writer is a
thread, not a task, so requests from any event loop (uvicorn's, or an in-process client's) share it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from stackwright.core.db import Database
from stackwright.core.errors import StackwrightError
from stackwright.tracing.store import SpanBatch, write_spans

log = logging.getLogger("stackwright.tracing")


class IngestBusy(StackwrightError):
    status = 429
    code = "ingest_busy"


@dataclass
class _Batch:
    rows: SpanBatch | list[dict[str, Any]]
    size: int
    future: asyncio.Future[int] = field(repr=False)
    loop: asyncio.AbstractEventLoop = field(repr=False)

    def resolve(self, result: int | BaseException) -> None:
        def settle() -> None:
            if self.future.done():
                return
            if isinstance(result, BaseException):
                self.future.set_exception(result)
            else:
                self.future.set_result(result)

        try:
            self.loop.call_soon_threadsafe(settle)
        except RuntimeError:  # the caller's loop is gone; nobody is waiting
            pass


class SpanWriter:
    """One per app. ``submit`` waits until the rows are committed and returns how many were new.

    Rows may come as a ``SpanBatch`` made with ``prepare`` on the caller's thread (ingest does), so the
    writer, which holds the database's write lock across processes while it writes, does little Python.
    """

    def __init__(self, db: Database, max_queued_spans: int, max_batch_spans: int = 20_000, metrics: Any = None):
        self.db = db
        self.metrics = metrics  # a stackwright.monitoring.metrics.Metrics, or None
        self.queued_spans = 0
        if metrics is not None:
            metrics.queue_depth.set_function(lambda: self.queued_spans)
        self.max_queued_spans = max_queued_spans
        self.max_batch_spans = max_batch_spans
        self._pending: list[_Batch] = []
        self._lock = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False

    def prepare(self, rows: list[dict[str, Any]]) -> SpanBatch:
        """The rows made ready to write (deduplicated, statement parameters built): CPU work that is
        better done on the request's thread than by the writer while it holds the write lock."""
        return SpanBatch(rows, sqlite=self.db.is_sqlite)

    async def submit(self, rows: SpanBatch | list[dict[str, Any]], size: int | None = None) -> int:
        """Queue rows (or a prepared batch) and wait for their commit; ``size`` is the number of spans
        received, duplicates included (a prepared batch has already dropped them)."""
        size = len(rows) if size is None else size
        if not size:
            return 0
        loop = asyncio.get_running_loop()
        batch = _Batch(rows, size, loop.create_future(), loop)
        with self._lock:
            if self.queued_spans + size > self.max_queued_spans and self.queued_spans > 0:
                if self.metrics is not None:
                    self.metrics.spans_rejected.labels("busy").inc(size)
                raise IngestBusy(
                    f"The ingest queue is full ({self.queued_spans} spans waiting to be written).",
                    hint="Retry after the Retry-After delay; exporters do this on their own.",
                    details={"retry_after_s": 1},
                )
            self._ensure_started()
            self._pending.append(batch)
            self.queued_spans += size
            self._lock.notify()
        if self.metrics is not None:
            self.metrics.spans_accepted.inc(size)
        return await batch.future

    def _ensure_started(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="stackwright-span-writer", daemon=True)
            self._thread.start()

    def _next_group(self) -> list[_Batch] | None:
        with self._lock:
            while not self._pending and not self._stopping:
                self._lock.wait()
            if not self._pending:
                return None
            group: list[_Batch] = []
            size = 0
            while self._pending and (not group or size + self._pending[0].size <= self.max_batch_spans):
                batch = self._pending.pop(0)
                group.append(batch)
                size += batch.size
            return group

    def _run(self) -> None:
        while (group := self._next_group()) is not None:
            try:
                results = self._write_group(group)
            except BaseException as exc:  # never let the writer die with requests waiting
                log.exception("span writer failed")
                results = [_as_error(exc)] * len(group)
            with self._lock:
                self.queued_spans -= sum(b.size for b in group)
            for batch, result in zip(group, results, strict=True):
                batch.resolve(result)

    def _write_group(self, group: list[_Batch]) -> list[int | BaseException]:
        """All requests in one transaction; if that fails, each on its own so one bad request fails alone."""
        written_rows: list[dict[str, Any]] = []
        try:
            prepared = [self._prepared(batch) for batch in group]  # before taking the write lock
            with self.db.write(dedicated=True) as session:  # the writer thread's own connection
                conn = session.connection()
                results: list[int | BaseException] = list(write_spans(conn, prepared, written_rows))
        except Exception as exc:
            if len(group) == 1:
                log.exception("span batch failed")
                if self.metrics is not None:
                    self.metrics.spans_rejected.labels("failed").inc(group[0].size)
                return [_as_error(exc)]
            return [self._write_group([batch])[0] for batch in group]
        if self.metrics is not None:
            self.metrics.batches.inc()
            self.metrics.spans_written.inc(len(written_rows))
            self.metrics.spans_duplicate.inc(sum(b.size for b in group) - len(written_rows))
            self.metrics.observe_written(written_rows)
        return results

    def _prepared(self, batch: _Batch) -> SpanBatch:
        if not isinstance(batch.rows, SpanBatch):
            batch.rows = self.prepare(batch.rows)  # kept, so a retry on its own does not prepare again
        return batch.rows

    async def close(self, timeout_s: float = 10.0) -> None:
        """Write what is queued (waiting up to ``timeout_s``), then stop the writer thread."""
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        thread = self._thread
        if thread is not None:
            await asyncio.to_thread(thread.join, timeout_s)
        self._thread = None


def _as_error(exc: BaseException) -> BaseException:
    """A value the database refuses is the sender's to fix (400: exporters do not retry it forever);
    anything else may pass (503: retry)."""
    from sqlalchemy.exc import DataError, StatementError

    from stackwright.core.errors import InvalidInput, Unavailable

    if isinstance(exc, DataError) or (isinstance(exc, StatementError) and isinstance(exc.orig, ValueError | OverflowError)):
        return InvalidInput(
            "A value in the spans cannot be stored (for example a NUL character or a number out of range); "
            "nothing of this request was kept.",
            hint="Fix the span attributes and send again.",
        )
    if isinstance(exc, ValueError | OverflowError | TypeError):
        return InvalidInput(
            f"A value in the spans cannot be stored ({exc}); nothing of this request was kept.",
            hint="Fix the span attributes and send again.",
        )
    return Unavailable("The spans could not be stored; nothing of this request was kept.", hint="Retry the export.")
