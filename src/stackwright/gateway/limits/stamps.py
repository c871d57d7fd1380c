"""Limits stamps (see store.bump_stamp): how a change to limits reaches every process before
it is acknowledged.

A process trusts a project's stamp for ``STAMP_TRUST_S`` after it started reading it, and reads it
again before admitting once that ran out (ahead of time while requests keep coming). Whoever commits a
change to limits waits ``wait_for_every_process`` before acknowledging it: by then no process admits on
a stamp read before the commit. One thread per process reads stamps, one query at a time, and one read
answers every admission waiting when it starts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

STAMP_TRUST_S = 0.25  # how long a process admits on a stamp it read (what a change to limits waits)
BUMPED = "stackwright.limits_stamp_bumped"  # in Session.info: this session changed limits


def wait_for_every_process(session: Any) -> None:
    """Call after committing ``session``: if it changed limits, wait until every process admits by them."""
    if session.info.pop(BUMPED, False):
        time.sleep(STAMP_TRUST_S * 1.2)


class StampReader:
    """``get(project_id)`` returns a future of the project's stamp, read after the call."""

    def __init__(self, read: Callable[[list[str]], dict[str, int]]):
        self._read = read  # {project id: stamp} of the given projects; absent means 0
        self._wake = threading.Condition()
        self._waiting: dict[str, list[Future]] = {}
        self._thread: threading.Thread | None = None
        self._closing = False

    def get(self, project_id: str) -> Future:
        future: Future = Future()
        with self._wake:
            self._waiting.setdefault(project_id, []).append(future)
            if self._thread is None:
                self._closing = False
                self._thread = threading.Thread(target=self._run, name="stackwright-limits-stamps", daemon=True)
                self._thread.start()
            self._wake.notify()
        return future

    def close(self) -> None:
        """Answer what is waiting, then stop the thread (a later ``get`` starts it again)."""
        with self._wake:
            thread, self._closing = self._thread, True
            self._wake.notify()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._waiting and not self._closing:
                    self._wake.wait()
                if not self._waiting:
                    self._thread = None
                    return
                batch, self._waiting = self._waiting, {}
            waiting = {project: [f for f in futures if f.set_running_or_notify_cancel()] for project, futures in batch.items()}
            try:
                stamps = self._read(sorted(waiting))
            except BaseException as exc:  # every waiting admission fails with the database's error
                for futures in waiting.values():
                    for future in futures:
                        future.set_exception(exc)
                continue
            for project, futures in waiting.items():
                for future in futures:
                    future.set_result(stamps.get(project, 0))
