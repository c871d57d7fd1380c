"""Getting finished spans out of the user's threads: a bounded queue drained by one daemon thread.

``on_end`` (on the traced code's path) only appends to a deque; when the queue is full the span is
dropped and counted, never waited for. The worker sends batches to the exporter and never lets an
exception out (it is logged, rate-limited).
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Sequence
from typing import Any, Protocol

from stackwright.sdk.observe.state import STATE, internal_error, warn_limited


class SpanExporter(Protocol):
    """Where finished spans go. ``export`` runs in the export thread; it answers whether the batch was accepted."""

    def export(self, spans: Sequence[Any], resource: dict[str, Any], span_defaults: dict[str, Any]) -> bool: ...


class InMemoryExporter:
    """Keeps finished spans in ``spans`` (for tests and benchmarks); ``keep=False`` only counts them."""

    def __init__(self, keep: bool = True) -> None:
        self.spans: list[Any] = []
        self.exported = 0
        self.keep = keep
        self._lock = threading.Lock()

    def export(self, spans: Sequence[Any], resource: dict[str, Any], span_defaults: dict[str, Any]) -> bool:
        with self._lock:
            self.exported += len(spans)
            if self.keep:
                self.spans.extend(spans)
        return True

    def named(self, name: str) -> list[Any]:
        return [span for span in self.spans if span.name == name]

    def clear(self) -> None:
        with self._lock:
            self.spans.clear()
            self.exported = 0


class BatchProcessor:
    """The bounded queue of finished spans and the daemon thread that exports them in batches."""

    shutdown_timeout = 5.0

    def __init__(
        self,
        exporter: Any,
        *,
        resource: dict[str, Any],
        span_defaults: dict[str, Any],
        max_queue_size: int = 2048,
        max_batch_size: int = 512,
        schedule_delay: float = 1.0,
    ) -> None:
        self.exporter = exporter
        self.resource = resource
        self.span_defaults = span_defaults
        self.max_queue_size = max_queue_size
        self.max_batch_size = max_batch_size
        self.schedule_delay = schedule_delay
        self.dropped = 0
        self._queue: deque[Any] = deque()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._waiters: list[threading.Event] = []
        self._thread: threading.Thread | None = None
        self._closing = False
        self._close_exporter = True

    # -- the traced code's side: must stay cheap and never block ------------------------------------------
    def on_end(self, span: Any) -> None:
        queue = self._queue
        if len(queue) >= self.max_queue_size:
            self.dropped += 1
            warn_limited(
                "queue-full",
                "stackwright tracing: the export queue is full (%d spans); %d spans dropped so far. "
                "The server may be slow or unreachable; raise max_queue_size in configure_tracing() if this is a burst.",
                self.max_queue_size,
                self.dropped,
            )
            return
        queue.append(span)
        if self._thread is None:
            self._start()
        if len(queue) >= self.max_batch_size:
            self._wake.set()

    def _start(self) -> None:
        with self._lock:
            if self._thread is None and not self._closing:
                thread = threading.Thread(target=self._run, name="stackwright-tracing-export", daemon=True)
                thread.start()
                self._thread = thread

    def _after_fork(self) -> None:
        """In a forked child the export thread does not exist: start afresh, dropping the parent's spans."""
        self._queue = deque()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._waiters = []
        self._thread = None

    # -- the export thread ----------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            self._wake.wait(self.schedule_delay)
            self._wake.clear()
            with self._lock:
                waiters, self._waiters = self._waiters, []
                closing = self._closing
            self._drain()
            for waiter in waiters:
                waiter.set()
            if closing and not self._queue:
                if self._close_exporter:
                    self.exporter_shutdown()
                return

    def _drain(self) -> None:
        queue = self._queue
        while queue:
            batch: list[Any] = []
            try:
                while len(batch) < self.max_batch_size:
                    batch.append(queue.popleft())
            except IndexError:
                pass
            try:
                self.exporter.export(batch, self.resource, self.span_defaults)
            except Exception:
                internal_error(f"exporting {len(batch)} spans")

    # -- control --------------------------------------------------------------------------------------------
    def flush(self, timeout: float) -> bool:
        """Wait until every span finished before this call is exported (or ``timeout`` seconds pass)."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            if self._queue:  # no worker (never started, or gone at interpreter exit): export here
                self._drain()
            return True
        waiter = threading.Event()
        with self._lock:
            self._waiters.append(waiter)
        self._wake.set()
        return waiter.wait(timeout)

    def shutdown(self, close_exporter: bool = True) -> None:
        """Let the export thread drain the queue, close the exporter and stop; does not wait."""
        with self._lock:
            self._closing = True
            self._close_exporter = close_exporter
            started = self._thread is not None
        if started:
            self._wake.set()
        elif close_exporter:
            self.exporter_shutdown()

    def exporter_shutdown(self) -> None:
        close = getattr(self.exporter, "shutdown", None)
        if callable(close):
            try:
                close()
            except Exception:
                internal_error("closing the span exporter")


def _after_fork_in_child() -> None:
    processor = STATE.processor
    if processor is not None:
        processor._after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
