"""Several server processes on one port (STACKWRIGHT_WORKERS > 1), and what every server process does
once its app is built.

uvicorn binds the shared socket with protocol 0, and asyncio only turns on TCP_NODELAY for sockets
whose protocol is TCP, so every kept-alive request would wait ~40 ms on delayed ACKs. The config
below hands the workers the same socket labelled as TCP, so they get TCP_NODELAY like one process does.

A worker ends when the master does, even when the master is killed with SIGKILL (otherwise the orphaned
workers keep serving and hold the port, and a restarted master cannot bind it): on Linux the kernel sends
the worker SIGTERM when its parent dies (``PR_SET_PDEATHSIG``), and everywhere a thread of the worker
checks every second that its parent is still the master, stopping it the same way if not.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

log = logging.getLogger("stackwright.server")
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
PARENT_CHECK_INTERVAL_S = 1.0
STOP_GRACE_S = 30.0  # after the master is gone, how long a worker may take to stop before it exits hard


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


def exit_with_parent(parent_pid: int) -> None:
    """In a worker: stop (SIGTERM, as uvicorn's supervisor does) when the process ``parent_pid`` ends."""
    _parent_death_signal(signal.SIGTERM)
    if os.getppid() != parent_pid:  # the master died before the signal was armed
        os.kill(os.getpid(), signal.SIGTERM)
        return
    threading.Thread(target=_watch_parent, args=(parent_pid,), name="stackwright-parent-check", daemon=True).start()


def _parent_death_signal(signum: int) -> None:
    """Ask Linux to send ``signum`` to this process when its parent dies; a no-op elsewhere."""
    import ctypes
    import ctypes.util

    if sys.platform != "linux":
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
            log.warning("prctl(PR_SET_PDEATHSIG) failed (errno %d); the parent check alone stops this worker", ctypes.get_errno())
    except (OSError, AttributeError):
        pass


def _watch_parent(parent_pid: int) -> None:
    """The portable check: once this process has another parent (the master is gone and the worker was
    re-parented), stop; exit outright if stopping takes longer than ``STOP_GRACE_S``."""
    while os.getppid() == parent_pid:
        time.sleep(PARENT_CHECK_INTERVAL_S)
    log.warning("the master process %d is gone: worker %d stops", parent_pid, os.getpid())
    os.kill(os.getpid(), signal.SIGTERM)  # the same graceful stop as the parent-death signal (twice is harmless)
    time.sleep(STOP_GRACE_S)
    os._exit(1)


class TcpConfig(uvicorn.Config):
    """uvicorn's Config, binding a socket whose protocol is TCP (module level: workers unpickle it)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.master_pid = os.getpid()
        super().__init__(*args, **kwargs)

    def configure_logging(self) -> None:
        super().configure_logging()
        if os.getpid() != self.master_pid:  # the first thing uvicorn runs in a new worker
            exit_with_parent(self.master_pid)

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
