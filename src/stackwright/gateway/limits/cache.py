"""The limits a process admits by: each project's caps, cached and trusted only as long as the project's
stamp is (see stamps).

``await LimitsCache.get(project_id)`` answers from the cached copy while its stamp is trusted (and reads
the stamp again ahead of time in the second half of that), else after reading the stamp, and the limits
too when the stamp moved.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass

from stackwright.core.db import Database
from stackwright.gateway.limits import store
from stackwright.gateway.limits.stamps import StampReader


@dataclass
class ProjectLimits:
    stamp: int  # the project's limits stamp when these were read
    trusted_until: float  # monotonic: admit on these until then (stamp_trust_s after a read of the stamp began)
    caps: dict[tuple[str, str], dict[tuple[str, str], int]]  # (scope, subject) -> {(metric, period): cap}
    names: dict[tuple[str, str], str]


class LimitsCache:
    """Every project's limits as this process must apply them now. ``stamp_trust_s`` is at most
    STAMP_TRUST_S: that is how long a change to limits waits for every process."""

    def __init__(self, db: Database, stamp_trust_s: float):
        self.db = db
        self.stamp_trust_s = stamp_trust_s
        self._lock = threading.Lock()  # guards _limits; never held across I/O
        self._limits: dict[str, ProjectLimits] = {}
        self._stamps = StampReader(self._read_stamps)
        self._checking: set[str] = set()  # projects whose stamp is being read ahead of its trust running out

    async def get(self, project_id: str) -> ProjectLimits:
        """The project's limits as every process must apply them now: the cached copy while its stamp is
        trusted (read again ahead of time in the second half of that), else after reading the stamp (and
        the limits, if it moved)."""
        asked = time.monotonic()
        entry = self._limits.get(project_id)
        if entry is not None and asked < entry.trusted_until:
            if asked > entry.trusted_until - self.stamp_trust_s / 2 and project_id not in self._checking:
                self._check_ahead(project_id, asked)
            return entry
        stamp = await asyncio.wrap_future(self._stamps.get(project_id))
        entry = self._limits.get(project_id)
        if entry is None or entry.stamp != stamp:
            return await asyncio.to_thread(self._load_limits, project_id, asked)
        self._trust(project_id, stamp, asked)
        return entry

    def close(self) -> None:
        """Stop the stamp reader's thread (a later ``get`` starts it again)."""
        self._stamps.close()

    def _trust(self, project_id: str, stamp: int, asked: float) -> None:
        """The stamp read that began after ``asked`` found ``stamp``: a cached entry of it is good for longer."""
        with self._lock:
            entry = self._limits.get(project_id)
            if entry is not None and entry.stamp == stamp:
                entry.trusted_until = max(entry.trusted_until, asked + self.stamp_trust_s)

    def _check_ahead(self, project_id: str, asked: float) -> None:
        self._checking.add(project_id)

        def read(future: Future) -> None:
            self._checking.discard(project_id)
            if future.exception() is None:  # else the next admission after the trust ran out reads it itself
                self._trust(project_id, future.result(), asked)

        self._stamps.get(project_id).add_done_callback(read)

    def _read_stamps(self, project_ids: list[str]) -> dict[str, int]:
        with self.db.read() as session:
            return store.read_stamps(session, project_ids)

    def _load_limits(self, project_id: str, asked: float) -> ProjectLimits:
        """The stamp first, then the limits, in one transaction: a change committed in between shows as a
        newer stamp at the next read (which reads them again), never as an old one."""
        with self.db.read() as session:
            stamp = store.read_stamps(session, [project_id]).get(project_id, 0)
            raw = store.load_limits(session, project_id)
        entry = ProjectLimits(
            stamp=stamp,
            trusted_until=asked + self.stamp_trust_s,
            caps={subject: spec.caps() for subject, (spec, _name) in raw.items()},
            names={subject: name for subject, (_spec, name) in raw.items()},
        )
        with self._lock:
            current = self._limits.get(project_id)
            if current is None or current.stamp <= stamp:
                self._limits[project_id] = entry
        return entry
