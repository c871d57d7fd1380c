"""Eval runs whose process died: found and marked ``interrupted`` (resumable), like jobs are re-queued.

A process running a run claims it (``owner`` = host:pid, with a compare-and-set, so two resumes never run
it twice) and renews ``heartbeat_at`` every quarter of ``eval_stale_after_s``. A ``running`` run is
stale when its heartbeat is older than that, or at once when its owner is a process of this host that
no longer exists (a ``kill -9``ed CLI or server). Every server reaps stale runs when it starts and then
every half of ``eval_stale_after_s``; resume (CLI or API) takes over a stale run directly, and refuses a
run whose process is still alive with 409.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from stackwright.core.clock import utcnow
from stackwright.core.db import Database, rowcount
from stackwright.core.errors import Conflict
from stackwright.core.periodic import PeriodicTask
from stackwright.evals.models import EvalRun

log = logging.getLogger("stackwright.evals")


def owner_id() -> str:
    """This process, as a run's owner: host:pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _process_gone(owner: str) -> bool:
    """True only when ``owner`` is a process of this host that does not exist any more."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # another user's process: alive
        return False
    return False


def stale_reason(run: EvalRun, stale_after_s: float, now: datetime) -> str | None:
    """Why a ``running`` run's process is gone, or None while it may still be running it."""
    heartbeat = run.heartbeat_at or run.created_at
    if heartbeat < now - timedelta(seconds=stale_after_s):
        return f"its process ({run.owner or 'none yet'}) sent no heartbeat since {heartbeat.isoformat()}"
    if run.owner and _process_gone(run.owner):
        return f"its process {run.owner} is gone"
    return None


def check_resumable(run: EvalRun, stale_after_s: float, *, now: datetime | None = None) -> None:
    """Raise Conflict (409) while another live process runs ``run``."""
    if run.status != "running" or run.owner is None or stale_reason(run, stale_after_s, now or utcnow()):
        return
    raise Conflict(
        f"Run {run.id} is running in process {run.owner} (last heartbeat {(run.heartbeat_at or run.created_at).isoformat()}).",
        hint=f"Wait for it to finish. If that process is gone, the run becomes resumable once its heartbeat is {stale_after_s:g} s old.",
    )


def claim(session: Session, run: EvalRun, stale_after_s: float) -> str:
    """Make this process the run's owner (status running, heartbeat now); Conflict if a live process
    runs it, or if another process claimed it meanwhile. Returns the owner id to heartbeat with."""
    check_resumable(run, stale_after_s)
    me, now = owner_id(), utcnow()
    claimed = rowcount(session.execute(
        update(EvalRun)
        .where(EvalRun.id == run.id, EvalRun.status == run.status, EvalRun.owner.is_not_distinct_from(run.owner),
               EvalRun.heartbeat_at.is_not_distinct_from(run.heartbeat_at))
        .values(status="running", owner=me, heartbeat_at=now, error=None)
    ))  # fmt: skip
    if claimed != 1:
        raise Conflict(f"Run {run.id} was just started or resumed by another process.", hint="Wait for it to finish.")
    return me


async def heartbeat(db: Database, run_id: str, owner: str, interval_s: float) -> None:
    """Renew the run's heartbeat every ``interval_s`` until cancelled."""

    def beat() -> None:
        with db.write() as session:
            renewed = rowcount(session.execute(
                update(EvalRun).where(EvalRun.id == run_id, EvalRun.owner == owner, EvalRun.status == "running").values(heartbeat_at=utcnow())
            ))  # fmt: skip
        if not renewed:
            log.warning("eval run %s is no longer owned by this process (reaped as stale, or resumed elsewhere)", run_id)

    while True:
        await asyncio.sleep(interval_s)
        try:
            await asyncio.to_thread(beat)
        except Exception:  # a missed beat is retried at the next one; the run goes on
            log.exception("heartbeat of eval run %s failed", run_id)


def reap_stale(db: Database, stale_after_s: float, *, now: datetime | None = None) -> list[str]:
    """Mark every ``running`` run whose process is gone ``interrupted``, saying how to resume it; returns their ids."""
    now = now or utcnow()
    reaped = []
    with db.write() as session:
        for run in session.scalars(select(EvalRun).where(EvalRun.status == "running")).all():
            reason = stale_reason(run, stale_after_s, now)
            if reason is None:
                continue
            error = (f"interrupted: {reason}. Finished cases are kept; resume with `stackwright evals resume {run.id}` "
                     f"or POST /api/v1/evals/runs/{run.id}/resume.")  # fmt: skip
            done = rowcount(session.execute(
                update(EvalRun)
                .where(EvalRun.id == run.id, EvalRun.status == "running", EvalRun.owner.is_not_distinct_from(run.owner),
                       EvalRun.heartbeat_at.is_not_distinct_from(run.heartbeat_at))
                .values(status="interrupted", owner=None, error=error)
            ))  # fmt: skip
            if done:
                reaped.append(run.id)
    if reaped:
        log.warning("marked %d eval run(s) interrupted, their process is gone: %s", len(reaped), ", ".join(reaped))
    return reaped


class ReaperTask(PeriodicTask):
    """Runs ``reap_stale`` in a thread when the server starts and every ``stale_after_s / 2`` seconds."""

    name = "stackwright-eval-reaper"
    stop_timeout_s = 10.0

    def __init__(self, db: Database, stale_after_s: float):
        super().__init__(stale_after_s / 2)
        self.db = db
        self.stale_after_s = stale_after_s

    def run_pass(self) -> list[str]:
        return reap_stale(self.db, self.stale_after_s)
