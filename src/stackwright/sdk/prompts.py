"""``client.prompts``: fetch prompts by label or version, cached in process, and render them locally.

    prompt = client.prompts.get("support-answer", label="production")
    result = prompt.render(product="Acme", context=ctx, question=q)   # {"messages": [...], "model": ..., "params": {...}}
    with prompt.use():                                                # spans started here carry the prompt
        answer = call_the_model(result)

Caching: a fetched prompt is served from memory for ``cache_ttl`` seconds (default 60; set it per call,
or per client with ``client.prompts.cache_ttl``). After that the cached copy is still returned at once
while one background request refreshes it (stale-while-revalidate), so a label move reaches every client
within about one TTL. When the server cannot be reached (or answers 5xx/429) the last good copy keeps
being served; with no copy at all, ``fallback_file=`` (a YAML file in the push format) is used, and the
server is tried again in the background. ``cache_ttl=0`` fetches on every call (falling back the same way).
A pinned ``version=`` never changes, so it is fetched once. 4xx answers (unknown prompt, bad key) raise.

Tracing: ``prompt.render()`` tags the current span with ``stackwright.prompt.name``/``.version``, and
every span started inside ``with prompt.use():`` (or ``async with``) carries them too.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from stackwright.sdk.base import Call, compact, parse_page
from stackwright.sdk.errors import APIConnectionError, InvalidRequestError, RateLimitError, ServerError
from stackwright.sdk.observe.span import PROMPT, current_span
from stackwright.sdk.observe.state import warn_limited
from stackwright.sdk.resources import Resource, _path

DEFAULT_TTL = 60.0
RETRY_INTERVAL = 1.0  # seconds between two background attempts for one prompt while the server is down
OUTAGES = (APIConnectionError, ServerError, RateLimitError)
_monotonic = time.monotonic


class Prompt:
    """One prompt version: its templates, model config and variables schema; ``render(**vars)`` fills it in.

    ``source`` is "server", or "file" when it came from a ``fallback_file`` (then ``version`` is None).
    """

    def __init__(self, data: dict[str, Any], source: str = "server"):
        self.data = data
        self.source = source
        self.name: str = data["name"]
        self.version: int | None = data.get("version")
        self.type: str = data.get("type", "chat")
        self.messages: list[dict[str, Any]] | None = data.get("messages")
        self.template: str | None = data.get("template")
        self.model: str | None = data.get("model")
        self.params: dict[str, Any] = data.get("params") or {}
        self.tools: list[dict[str, Any]] | None = data.get("tools")
        self.response_format: dict[str, Any] | None = data.get("response_format")
        self.variables: dict[str, Any] = data.get("variables") or {}
        self.labels: list[str] = data.get("labels") or []
        self._attributes = {"stackwright.prompt.name": self.name}
        if self.version is not None:
            self._attributes["stackwright.prompt.version"] = self.version

    def render(self, **variables: Any) -> dict[str, Any]:
        """``messages`` (chat) or ``text`` (text), with ``model``, ``params``, ``tools``, ``response_format``,
        ``prompt_name`` and ``prompt_version``. A missing variable raises InvalidRequestError naming it."""
        from stackwright.core.errors import StackwrightError
        from stackwright.prompts.templates import render_payload

        try:
            result = render_payload(self.data, variables)
        except StackwrightError as exc:
            raise InvalidRequestError(exc.message, code=exc.code, details=exc.details) from None
        current_span().set_attributes(self._attributes)
        return result

    def use(self) -> _Use:
        """A context manager (``with`` or ``async with``): spans started inside carry this prompt's name and version."""
        return _Use(self._attributes)

    def __repr__(self) -> str:
        return f"<Prompt {self.name}@{self.version if self.version is not None else self.source} ({self.type})>"


class _Use:
    __slots__ = ("attributes", "token")

    def __init__(self, attributes: dict[str, Any]):
        self.attributes = attributes
        self.token: Any = None

    def __enter__(self) -> _Use:
        self.token = PROMPT.set(self.attributes)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        PROMPT.reset(self.token)

    async def __aenter__(self) -> _Use:
        return self.__enter__()

    async def __aexit__(self, *exc_info: Any) -> None:
        self.__exit__()


class _Entry:
    __slots__ = ("prompt", "fetched_at", "refreshing", "last_attempt")

    def __init__(self, prompt: Prompt, fetched_at: float):
        self.prompt = prompt
        self.fetched_at = fetched_at  # -inf: stale at once (a fallback file's copy)
        self.refreshing = False
        self.last_attempt = 0.0


def _fetch_call(name: str, label: str | None, version: int | None) -> Call:
    return Call("GET", _path("prompts", name), params=compact({"label": label, "version": version}))


def _from_file(path: str | Path, name: str) -> Prompt:
    from stackwright.core.errors import StackwrightError
    from stackwright.prompts.spec import load_file, offline_payload

    try:
        payload = offline_payload(load_file(path), str(path))
    except StackwrightError as exc:
        raise InvalidRequestError(f"fallback_file: {exc.message}", code=exc.code, details=exc.details) from None
    if payload["name"] != name:
        raise InvalidRequestError(f"fallback_file {path} holds prompt {payload['name']!r}, not {name!r}.")
    return Prompt(payload, source="file")


class _PromptsBase(Resource):
    """The registry calls both clients share, and the cache they both keep."""

    def __init__(self, client: Any):
        super().__init__(client)
        self.cache_ttl = DEFAULT_TTL
        self._cache: dict[tuple[str, str | None, int | None], _Entry] = {}
        self._lock = threading.Lock()

    # -- cache ---------------------------------------------------------------------------------------------
    def _cached(self, key: tuple[str, str | None, int | None], ttl: float | None) -> tuple[Prompt | None, bool]:
        """(the cached prompt or None, whether a background refresh should start)."""
        entry = self._cache.get(key)
        if entry is None:
            return None, False
        ttl = self.cache_ttl if ttl is None else ttl
        age = _monotonic() - entry.fetched_at
        if age < ttl or (key[2] is not None and entry.prompt.source == "server"):
            return entry.prompt, False
        if ttl <= 0:
            return None, False
        return entry.prompt, self._claim(entry)

    def _claim(self, entry: _Entry) -> bool:
        """True for the one caller that should refresh ``entry`` now."""
        now = _monotonic()
        with self._lock:
            if entry.refreshing or now - entry.last_attempt < RETRY_INTERVAL:
                return False
            entry.refreshing, entry.last_attempt = True, now
            return True

    def _store(self, key: tuple[str, str | None, int | None], data: dict[str, Any]) -> Prompt:
        prompt = Prompt(data)
        self._cache[key] = _Entry(prompt, _monotonic())
        return prompt

    def _after_failure(self, key: tuple[str, str | None, int | None], exc: Exception, fallback_file: Any) -> Prompt:
        """The last good copy, else the fallback file's prompt (kept stale, so the server is retried); else raise."""
        entry = self._cache.get(key)
        if entry is not None:
            warn_limited(f"prompt:{key}", "stackwright: cannot fetch prompt %s (%s); serving the last good copy", key[0], exc)
            return entry.prompt
        if fallback_file is None:
            raise exc
        prompt = _from_file(fallback_file, key[0])
        self._cache[key] = _Entry(prompt, float("-inf"))
        warn_limited(f"prompt:{key}", "stackwright: cannot fetch prompt %s (%s); using %s", key[0], exc, fallback_file)
        return prompt

    def _refresh_failed(self, key: tuple[str, str | None, int | None], exc: Exception) -> None:
        warn_limited(f"prompt-refresh:{key}", "stackwright: refreshing prompt %s failed (%s); serving the cached copy", key[0], exc)

    def clear_cache(self) -> None:
        """Forget every cached prompt (the next ``get`` asks the server)."""
        self._cache.clear()

    # -- plain registry calls (no cache) -------------------------------------------------------------------
    def push(self, prompt: dict[str, Any]) -> Any:
        """Push a prompt (the push format as a dict); returns {name, version, created, labels, moved, ...}."""
        return self._run(Call("POST", _path("prompts"), body=prompt))

    def list(self, limit: int = 50, cursor: str | None = None) -> Any:
        """One ``Page`` of the project's prompts, newest first."""
        return self._run(Call("GET", _path("prompts"), params=compact({"limit": limit, "cursor": cursor}), parse=parse_page))

    def versions(self, name: str, limit: int = 50, cursor: str | None = None) -> Any:
        return self._run(Call("GET", _path("prompts", name) + "/versions", params=compact({"limit": limit, "cursor": cursor}),
                              parse=parse_page))  # fmt: skip

    def history(self, name: str, label: str | None = None, limit: int = 50, cursor: str | None = None) -> Any:
        params = compact({"label": label, "limit": limit, "cursor": cursor})
        return self._run(Call("GET", _path("prompts", name) + "/history", params=params, parse=parse_page))

    def diff(self, name: str, old: int | str, new: int | str) -> Any:
        """Unified diff of two versions (numbers or labels) and the fields that changed."""
        return self._run(Call("GET", _path("prompts", name) + "/diff", params={"from": old, "to": new}))

    def set_label(self, name: str, label: str, version: int) -> Any:
        """Point ``label`` at ``version`` (protected labels need an admin key)."""
        path = _path("prompts", name) + "/labels/" + quote(label, safe="")
        return self._run(Call("PUT", path, body={"version": version}))

    def render_remote(self, name: str, variables: dict[str, Any] | None = None, *, label: str | None = None,
                      version: int | None = None) -> Any:  # fmt: skip
        """Render on the server (``POST /api/v1/prompts/{name}/render``), without the cache."""
        body = compact({"label": label, "version": version}) | {"variables": variables or {}}
        return self._run(Call("POST", _path("prompts", name) + "/render", body=body))


class Prompts(_PromptsBase):
    """Prompts of the key's project (sync client)."""

    def get(
        self,
        name: str,
        *,
        label: str | None = None,
        version: int | None = None,
        cache_ttl: float | None = None,
        fallback_file: str | Path | None = None,
    ) -> Prompt:
        """The version ``label`` (default ``latest``) or ``version`` points at, from the cache when fresh."""
        key = (name, label, version)
        prompt, refresh = self._cached(key, cache_ttl)
        if prompt is not None:
            if refresh:
                threading.Thread(target=self._refresh, args=(key,), daemon=True, name="stackwright-prompt-refresh").start()
            return prompt
        try:
            return self._store(key, self._client._run(_fetch_call(name, label, version)))
        except OUTAGES as exc:
            return self._after_failure(key, exc, fallback_file)

    def _refresh(self, key: tuple[str, str | None, int | None]) -> None:
        entry = self._cache.get(key)
        try:
            self._store(key, self._client._run(_fetch_call(*key)))
        except Exception as exc:  # the SDK never breaks the program: keep serving the cached copy
            self._refresh_failed(key, exc)
        finally:
            if entry is not None:
                entry.refreshing = False


class AsyncPrompts(_PromptsBase):
    """Prompts of the key's project (async client): ``await client.prompts.get(...)``."""

    def __init__(self, client: Any):
        super().__init__(client)
        self._tasks: set[Any] = set()

    async def get(
        self,
        name: str,
        *,
        label: str | None = None,
        version: int | None = None,
        cache_ttl: float | None = None,
        fallback_file: str | Path | None = None,
    ) -> Prompt:
        """Like ``Client.prompts.get``; the background refresh is an asyncio task."""
        key = (name, label, version)
        prompt, refresh = self._cached(key, cache_ttl)
        if prompt is not None:
            if refresh:
                import asyncio

                task = asyncio.get_running_loop().create_task(self._refresh(key))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            return prompt
        try:
            return self._store(key, await self._client._run(_fetch_call(name, label, version)))
        except OUTAGES as exc:
            return self._after_failure(key, exc, fallback_file)

    async def _refresh(self, key: tuple[str, str | None, int | None]) -> None:
        entry = self._cache.get(key)
        try:
            self._store(key, await self._client._run(_fetch_call(*key)))
        except Exception as exc:
            self._refresh_failed(key, exc)
        finally:
            if entry is not None:
                entry.refreshing = False
