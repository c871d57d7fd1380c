"""Several server processes on one port (STACKWRIGHT_WORKERS > 1), and what every server process does
once its app is built.

uvicorn binds the shared socket with protocol 0, and asyncio only turns on TCP_NODELAY for sockets
whose protocol is TCP, so every kept-alive request would wait ~40 ms on delayed ACKs. The config
below hands the workers the same socket labelled as TCP, so they get TCP_NODELAY like one process does.
"""

from __future__ import annotations

import gc
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


def tune_gc() -> None:
    """The garbage collector, for a server process whose app is built.

    What starting allocated (modules, classes, routes, schemas: ~200k objects that live as long as the
    process) is taken out of the collector's reach, so a full collection no longer walks it all (under
    load that was an 80-110 ms pause every second or so). A request leaves only a few objects for the
    collector (the rest is freed as soon as it is unused), so young collections run after 20,000 of
    them instead of 700: measured under load, the collector's share of the CPU fell from ~6 % to <1 %.
    """
    gc.freeze()  # (no collection first: at this point it finds nothing and takes ~60 ms of start-up)
    gc.set_threshold(20_000, 20, 20)
    _limit_malloc_arenas()


def _limit_malloc_arenas(arenas: int = 2) -> None:
    """glibc gives each new thread that contends for the heap an arena of its own (up to 8 per core), and
    an arena keeps what its thread freed; with a pool of worker threads the process' resident memory then
    creeps up for a long time under load. A couple of arenas serve a server whose threads mostly wait on
    I/O. Must run before the worker threads start; a no-op off glibc."""
    import ctypes
    import ctypes.util

    if sys.platform != "linux" or os.environ.get("MALLOC_ARENA_MAX"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-8, arenas)  # M_ARENA_MAX
    except (OSError, AttributeError):
        pass


class TcpConfig(uvicorn.Config):
    """uvicorn's Config, binding a socket whose protocol is TCP (module level: workers unpickle it)."""

    def load(self) -> None:
        super().load()  # in the worker process: imports and builds the app
        tune_gc()

    def bind_socket(self) -> socket.socket:
        bound = super().bind_socket()
        tcp = socket.socket(bound.family, socket.SOCK_STREAM, socket.IPPROTO_TCP, fileno=bound.detach())
        tcp.set_inheritable(True)
        return tcp


def run_workers(app_path: str, workers: int, *, preload: Any = None, **options: Any) -> None:
    """Serve ``app_path`` (a factory) from ``workers`` processes. ``preload()`` runs here first: with
    it, the workers are forked from this process (when that is safe: no other thread runs here) and
    start with every module already imported, instead of each importing them all again (spawn)."""
    from uvicorn.supervisors import Multiprocess

    config = TcpConfig(app_path, factory=True, workers=workers, **options)
    with _fork_workers(preload):
        try:
            Multiprocess(config, sockets=[config.bind_socket()]).run()
        except KeyboardInterrupt:
            pass


@contextmanager
def _fork_workers(preload: Any) -> Iterator[None]:
    """uvicorn starts its workers with the ``spawn`` context of ``uvicorn._subprocess``; hand it ``fork``
    for the time the supervisor runs, if ``preload`` succeeded and this process has no other thread."""
    import multiprocessing
    import threading

    from uvicorn import _subprocess

    forked = False
    if preload is not None and sys.platform != "win32" and "fork" in multiprocessing.get_all_start_methods():
        try:
            preload()
            forked = threading.active_count() == 1
        except Exception:  # the workers import and build for themselves
            forked = False
    spawn = _subprocess.spawn
    if forked:
        _subprocess.spawn = multiprocessing.get_context("fork")  # type: ignore[assignment]
    try:
        yield
    finally:
        _subprocess.spawn = spawn
