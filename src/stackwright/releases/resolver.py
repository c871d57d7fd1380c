"""Resolution on the hot path: release snapshots cached in process for a short TTL.

One ``ReleaseResolver`` per database (``resolver_for(db)``), shared by the REST API, the gateway and the
automatic-rollback task of that process. Changes made in this process drop the cached snapshot at once
(``forget``); changes made elsewhere (another replica, the CLI) are picked up within ``ttl_s``. A cache hit
costs one dict lookup and one hash; a miss reads the database once per (project, route, env) per TTL,
including "no such release" answers.

The gateway calls ``resolver_for(app.state.db).resolve(project_id, route, env, subject)`` (or ``await
...aresolve(...)`` from async code: a miss then reads the database in a worker thread).
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from typing import Any

from stackwright.core.errors import NotFound
from stackwright.releases.assign import Snapshot, pick

RESOLVE_CACHE_TTL_S = 2.0
MAX_ENTRIES = 10_000
_Key = tuple[str, str, str]


class ReleaseResolver:
    def __init__(self, db: Any, ttl_s: float = RESOLVE_CACHE_TTL_S, max_entries: int = MAX_ENTRIES):
        self.db = db
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[_Key, tuple[float, Snapshot | NotFound]] = {}
        self._lock = threading.Lock()

    def _fresh(self, key: _Key) -> Snapshot | NotFound | None:
        hit = self._entries.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        return None

    def _load(self, key: _Key) -> Snapshot | NotFound:
        from stackwright.releases.service import load_snapshot

        try:
            with self.db.read() as session:
                value: Snapshot | NotFound = load_snapshot(session, *key)
        except NotFound as exc:
            value = exc
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[key] = (time.monotonic() + self.ttl_s, value)
        return value

    @staticmethod
    def _answer(value: Snapshot | NotFound, subject: str | None) -> dict[str, Any]:
        if isinstance(value, NotFound):
            raise NotFound(value.message, details=value.details)
        return pick(value, subject)

    def snapshot(self, project_id: str, route: str, env: str) -> Snapshot:
        key = (project_id, route, env)
        value = self._fresh(key) or self._load(key)
        if isinstance(value, NotFound):
            raise NotFound(value.message, details=value.details)
        return value

    def resolve(self, project_id: str, route: str, env: str, subject: str | None = None) -> dict[str, Any]:
        """Like ``service.resolve``, from the cache when fresh."""
        key = (project_id, route, env)
        return self._answer(self._fresh(key) or self._load(key), subject)

    async def aresolve(self, project_id: str, route: str, env: str, subject: str | None = None) -> dict[str, Any]:
        """``resolve`` for async code: a cache hit answers at once, a miss reads the database in a thread."""
        key = (project_id, route, env)
        value = self._fresh(key)
        if value is None:
            value = await asyncio.to_thread(self._load, key)
        return self._answer(value, subject)

    def forget(self, project_id: str | None = None, route: str | None = None, env: str | None = None) -> None:
        """Drop cached snapshots: one release, a project's, or all."""
        with self._lock:
            if project_id is None:
                self._entries.clear()
                return
            for key in [k for k in self._entries if k[0] == project_id and route in (None, k[1]) and env in (None, k[2])]:
                del self._entries[key]


_resolvers: weakref.WeakKeyDictionary[Any, ReleaseResolver] = weakref.WeakKeyDictionary()
_resolvers_lock = threading.Lock()


def resolver_for(db: Any) -> ReleaseResolver:
    """The process's resolver for this database (made on first use)."""
    with _resolvers_lock:
        resolver = _resolvers.get(db)
        if resolver is None:
            resolver = _resolvers[db] = ReleaseResolver(db)
        return resolver


async def resolve_for_gateway(db: Any, project_id: str, route: str, env: str, subject: str | None) -> dict[str, Any]:
    """The gateway's route resolver (installed as a gateway hook): ``"model": "route:ROUTE@ENV"`` requests."""
    return await resolver_for(db).aresolve(project_id, route, env, subject)
