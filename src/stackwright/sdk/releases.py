"""``client.releases``: resolve a route to its config (cached in process), and manage releases.

``resolve`` answers from an in-process cache for ``cache_ttl_s`` seconds (default 5; set the attribute
to change it, 0 turns the cache off), so a hot path pays for the network once per route, environment and
subject per TTL; after a rollback or a promotion, clients serve the new config within that TTL. Answers
without a subject are random draws while a candidate takes part of the traffic, so those are not cached.
If the server cannot be reached (or answers 5xx) and an expired answer is at hand, that answer is
returned with ``"stale": True`` instead of raising. Treat returned dicts as read-only: they are shared.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from typing import Any

from stackwright.sdk.base import Call, compact
from stackwright.sdk.errors import APIConnectionError, ServerError
from stackwright.sdk.resources import Resource, _path

log = logging.getLogger("stackwright.sdk")
DEFAULT_CACHE_TTL_S = 5.0
MAX_CACHED = 10_000
_KEEP: Any = object()


class Releases(Resource):
    """Releases of the key's project. ``resolve`` needs read scope; changes need write."""

    def __init__(self, client: Any, cache_ttl_s: float = DEFAULT_CACHE_TTL_S):
        super().__init__(client)
        self.cache_ttl_s = cache_ttl_s
        self._cache: dict[tuple[str, str, str | None], tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._is_async = inspect.iscoroutinefunction(client._run)

    # -- resolution ------------------------------------------------------------------------------

    def resolve(self, route: str, env: str = "production", subject: str | None = None, *, fresh: bool = False) -> Any:
        """``{route, env, arm, config, mode, share, shadow, revision, release_id, span_attributes, ...}``.

        ``subject`` (a user or session id) always gets the same arm while the candidate is unchanged;
        ``fresh=True`` skips the cache. In shadow mode ``shadow`` holds the candidate config to run on the
        side (return stable's answer; tag the shadow run's span with ``shadow_span_attributes``).
        """
        key = (route, env, subject)
        hit = self._cache.get(key)
        if hit is not None and hit[0] > time.monotonic() and not fresh:
            return self._done(hit[1])
        params = compact({"env": env, "subject": subject})
        call = Call("GET", f"{_path('releases', route)}/resolve", params=params, parse=lambda body: self._store(key, body))
        stale = hit[1] if hit is not None else None
        if self._is_async:
            return self._aresolve(call, stale)
        try:
            return self._run(call)
        except (APIConnectionError, ServerError) as exc:
            return self._stale(stale, exc)

    async def _aresolve(self, call: Call, stale: dict[str, Any] | None) -> Any:
        try:
            return await self._run(call)
        except (APIConnectionError, ServerError) as exc:
            return self._stale(stale, exc)

    @staticmethod
    def _stale(stale: dict[str, Any] | None, exc: Exception) -> dict[str, Any]:
        if stale is None:
            raise exc
        log.warning("release resolution failed (%s); serving the last answer", exc)
        return {**stale, "stale": True}

    def _store(self, key: tuple[str, str, str | None], body: dict[str, Any]) -> dict[str, Any]:
        if self.cache_ttl_s > 0 and (key[2] is not None or not body.get("varies")):
            with self._lock:
                if len(self._cache) >= MAX_CACHED:
                    self._cache.clear()
                self._cache[key] = (time.monotonic() + self.cache_ttl_s, body)
        return body

    def _done(self, value: Any) -> Any:
        if not self._is_async:
            return value

        async def ready() -> Any:
            return value

        return ready()

    def clear_cache(self, route: str | None = None, env: str | None = None) -> None:
        """Forget cached resolutions (all, or one route and optionally one environment)."""
        with self._lock:
            for key in [k for k in self._cache if route in (None, k[0]) and env in (None, k[1])]:
                del self._cache[key]

    # -- reading ---------------------------------------------------------------------------------

    def list(self, env: str | None = None) -> Any:
        return self._run(Call("GET", _path("releases"), params=compact({"env": env}), parse=lambda body: body["data"]))

    def status(self, route: str, env: str = "production") -> Any:
        """The release: stable and candidate configs, rules, last rollback and how fast it took effect."""
        return self._run(Call("GET", _path("releases", route), params={"env": env}))

    def history(self, route: str, env: str = "production", limit: int = 50, cursor: str | None = None) -> Any:
        """``{"data": [changes, newest first], "next_cursor", "last_rollback"}``."""
        params = compact({"env": env, "limit": limit, "cursor": cursor})
        return self._run(Call("GET", f"{_path('releases', route)}/history", params=params))

    # -- changes (each drops this client's cached answers for the route) --------------------------

    def _change(self, route: str, action: str, body: dict[str, Any], method: str = "POST") -> Any:
        def parse(result: Any) -> Any:
            self.clear_cache(route, body.get("env"))
            return result

        return self._run(Call(method, f"{_path('releases', route)}/{action}", body=body, parse=parse))

    def set(
        self, route: str, env: str, prompt: str, model: str, *, params: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None, expected_revision: int | None = None,
    ) -> Any:  # fmt: skip
        """Point the route at a stable config (``prompt`` as name@version or name@label)."""
        body = compact({"env": env, "prompt": prompt, "model": model, "params": params, "settings": settings,
                        "expected_revision": expected_revision})  # fmt: skip
        return self._change(route, "set", body)

    def canary(
        self, route: str, env: str, prompt: str, share: float, *, mode: str = "canary", model: str | None = None,
        params: dict[str, Any] | None = None, settings: dict[str, Any] | None = None, require_eval: Any = _KEEP,
        rollback_rules: Any = _KEEP, expected_revision: int | None = None,
    ) -> Any:  # fmt: skip
        """Start or adjust a candidate (mode canary, ab or shadow) taking ``share`` percent of requests."""
        body = compact({"env": env, "prompt": prompt, "share": share, "mode": mode, "model": model, "params": params,
                        "settings": settings, "expected_revision": expected_revision})  # fmt: skip
        if require_eval is not _KEEP:
            body["require_eval"] = require_eval
        if rollback_rules is not _KEEP:
            body["rollback_rules"] = rollback_rules
        return self._change(route, "canary", body)

    def promote(self, route: str, env: str, *, expected_revision: int | None = None) -> Any:
        return self._change(route, "promote", compact({"env": env, "expected_revision": expected_revision}))

    def rollback(self, route: str, env: str, *, reason: str | None = None, expected_revision: int | None = None) -> Any:
        """Drop the candidate, or without one return to the previous stable config."""
        return self._change(route, "rollback", compact({"env": env, "reason": reason, "expected_revision": expected_revision}))

    def rules(
        self, route: str, env: str, *, rollback_rules: Any = _KEEP, require_eval: Any = _KEEP,
        expected_revision: int | None = None,
    ) -> Any:  # fmt: skip
        """Change the automatic-rollback rules and/or the promotion requirement; None clears one."""
        body: dict[str, Any] = compact({"env": env, "expected_revision": expected_revision})
        if rollback_rules is not _KEEP:
            body["rollback_rules"] = rollback_rules
        if require_eval is not _KEEP:
            body["require_eval"] = require_eval
        return self._change(route, "rules", body, method="PUT")

    def check(self, route: str, env: str, *, dry_run: bool = False) -> Any:
        """Compare candidate and stable now; the server rolls back if a rule is breached (unless dry_run)."""
        return self._change(route, "check", {"env": env, "dry_run": dry_run})
