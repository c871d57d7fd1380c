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


class RayExecutor:
    """Runs batch work as Ray tasks (``pip install 'stackwright[ray]'``): on a local Ray started here, or on
    the cluster at ``address`` (e.g. ``ray://head:10001`` or ``auto``). ``submit`` returns a
    ``concurrent.futures.Future`` like the local executor's."""

    name = "ray"

    def __init__(self, max_workers: int | None = None, address: str | None = None):
        try:
            import ray
        except ImportError:
            from stackwright.core.errors import ConfigError

            raise ConfigError(
                "The 'ray' executor needs the ray package, which is not installed.",
                hint="Install it with `pip install 'stackwright[ray]'`, or use the 'local' executor.",
            ) from None
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        if not ray.is_initialized():
            options: dict[str, Any] = {"include_dashboard": False, "ignore_reinit_error": True}
            if address:
                options["address"] = address
            elif max_workers:
                options["num_cpus"] = max_workers
            ray.init(**options)
        self._ray = ray
        self.max_workers = max_workers
        self._remote = ray.remote(_call)

    def submit(self, fn: Callable[..., R], *args: Any, **kwargs: Any) -> Future[R]:
        return self._remote.remote(fn, args, kwargs).future()

    def map(self, fn: Callable[[Any], R], items: Iterable[Any]) -> Iterator[R]:
        refs = [self._remote.remote(fn, (item,), {}) for item in items]
        return iter(self._ray.get(refs))

    def shutdown(self, wait: bool = True) -> None:
        return None  # the Ray runtime outlives one executor; `ray.shutdown()` ends it

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


def _call(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return fn(*args, **kwargs)
