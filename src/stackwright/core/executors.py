"""The built-in `local` executor: runs batch work on a thread pool in this process.

Registered through the ``stackwright.executors`` entry point, the same way an outside package
(for example a Ray executor) registers its own.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

R = TypeVar("R")


class LocalExecutor:
    """A bounded thread pool; ``map`` keeps input order."""

    name = "local"

    def __init__(self, max_workers: int | None = None):
        self.max_workers = max_workers or min(32, (os.cpu_count() or 1) + 4)
        self._pool = ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="stackwright-local")

    def submit(self, fn: Callable[..., R], *args: Any, **kwargs: Any) -> Future[R]:
        return self._pool.submit(fn, *args, **kwargs)

    def map(self, fn: Callable[[Any], R], items: Iterable[Any]) -> Iterator[R]:
        return self._pool.map(fn, items)

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait)

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
