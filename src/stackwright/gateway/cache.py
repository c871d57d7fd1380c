"""Exact-match response cache, per project: the hash of the normalized request -> the response.

Kept in the database (shared by replicas) with a small in-memory LRU in front. Streams are cached as
their assembled completion and replayed as chunks. Writes happen in the background.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from typing import Any

import orjson

from stackwright.core.db import Database
from stackwright.gateway.config import CacheSpec

log = logging.getLogger("stackwright.gateway")
# Fields that never change what the model answers.
_IGNORED = frozenset({"stream", "stream_options", "user", "metadata", "store"})
_PURGE_EVERY = 500


def cache_key(model: str, body: dict[str, Any]) -> str:
    normalized = {k: v for k, v in body.items() if k not in _IGNORED}
    normalized["model"] = model
    return hashlib.sha256(orjson.dumps(normalized, option=orjson.OPT_SORT_KEYS)).hexdigest()


def wanted(spec: CacheSpec, body: dict[str, Any], headers: Any) -> bool:
    """Whether this request may be served from / stored in the cache."""
    if spec.mode == "off":
        return False
    opt_out = (headers.get("x-stackwright-cache") or "").lower() in ("off", "no", "false", "0")
    if opt_out or any(v in (headers.get("cache-control") or "").lower() for v in ("no-cache", "no-store")):
        return False
    if spec.mode == "always":
        return True
    return body.get("temperature") == 0 or body.get("seed") is not None


class ResponseCache:
    def __init__(self, db: Database, memory_entries: int):
        self.db = db
        self.memory_entries = memory_entries
        self._memory: OrderedDict[tuple[str, str], tuple[float, dict[str, Any]]] = OrderedDict()
        self._puts = 0
        self._tasks: set[asyncio.Task] = set()

    async def get(self, project_id: str, key: str) -> dict[str, Any] | None:
        now = time.time()
        hit = self._memory.get((project_id, key))
        if hit is not None:
            if hit[0] > now:
                self._memory.move_to_end((project_id, key))
                return hit[1]
            del self._memory[(project_id, key)]
        try:
            row = await asyncio.to_thread(self._read, project_id, key, now)
        except Exception:  # the cache never fails a request
            log.warning("cache read failed", exc_info=True)
            return None
        if row is not None:
            self._remember(project_id, key, row[0], row[1])
            return row[1]
        return None

    def _read(self, project_id: str, key: str, now: float) -> tuple[float, dict[str, Any]] | None:
        from stackwright.gateway.models import CacheEntry

        with self.db.read() as session:
            entry = session.get(CacheEntry, (project_id, key))
            if entry is None or entry.expires_at <= now:
                return None
            return float(entry.expires_at), entry.response

    def _remember(self, project_id: str, key: str, expires_at: float, response: dict[str, Any]) -> None:
        if self.memory_entries <= 0:
            return
        self._memory[(project_id, key)] = (expires_at, response)
        self._memory.move_to_end((project_id, key))
        while len(self._memory) > self.memory_entries:
            self._memory.popitem(last=False)

    def put(self, project_id: str, key: str, response: dict[str, Any], ttl_s: int) -> None:
        expires_at = time.time() + ttl_s
        self._remember(project_id, key, expires_at, response)
        self._puts += 1
        purge = self._puts % _PURGE_EVERY == 0
        task = asyncio.get_running_loop().create_task(asyncio.to_thread(self._write, project_id, key, response, expires_at, purge))
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("cache write failed: %s", task.exception())

    def _write(self, project_id: str, key: str, response: dict[str, Any], expires_at: float, purge: bool) -> None:
        from sqlalchemy import delete

        from stackwright.gateway.models import CacheEntry

        now = int(time.time())
        with self.db.write() as session:
            entry = session.get(CacheEntry, (project_id, key))
            if entry is None:
                session.add(CacheEntry(project_id=project_id, key=key, response=response, created_at=now, expires_at=int(expires_at)))
            else:
                entry.response, entry.created_at, entry.expires_at = response, now, int(expires_at)
            if purge:
                session.execute(delete(CacheEntry).where(CacheEntry.expires_at <= now))

    async def drain(self) -> None:
        """Wait for background writes (shutdown, tests)."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


def chunks_from_completion(completion: dict[str, Any], include_usage: bool) -> list[dict[str, Any]]:
    """Replay a cached completion as stream chunks."""
    base = {"id": completion.get("id"), "object": "chat.completion.chunk", "created": int(time.time()),
            "model": completion.get("model")}  # fmt: skip
    out = []
    for choice in completion.get("choices", []):
        message = choice.get("message") or {}
        delta: dict[str, Any] = {"role": "assistant", "content": message.get("content")}
        if message.get("tool_calls"):
            delta["tool_calls"] = [{**call, "index": i} for i, call in enumerate(message["tool_calls"])]
        out.append({**base, "choices": [{"index": choice.get("index", 0), "delta": delta, "finish_reason": None}]})
        out.append({**base, "choices": [{"index": choice.get("index", 0), "delta": {}, "finish_reason": choice.get("finish_reason")}]})
    if include_usage and completion.get("usage"):
        out.append({**base, "choices": [], "usage": completion["usage"]})
    return out


def completion_from_chunks(chunks: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Assemble the completion a stream delivered (to cache it and to trace its output)."""
    if not chunks:
        return None
    choices: dict[int, dict[str, Any]] = {}
    usage = None
    for chunk in chunks:
        usage = chunk.get("usage") or usage
        for c in chunk.get("choices") or []:
            slot = choices.setdefault(c.get("index", 0), {"content": [], "tool_calls": {}, "finish_reason": None})
            delta = c.get("delta") or {}
            if delta.get("content"):
                slot["content"].append(delta["content"])
            for call in delta.get("tool_calls") or []:
                merged = slot["tool_calls"].setdefault(call.get("index", 0), {"id": None, "type": "function",
                                                                              "function": {"name": "", "arguments": ""}})  # fmt: skip
                merged["id"] = call.get("id") or merged["id"]
                fn = call.get("function") or {}
                merged["function"]["name"] += fn.get("name") or ""
                merged["function"]["arguments"] += fn.get("arguments") or ""
            slot["finish_reason"] = c.get("finish_reason") or slot["finish_reason"]
    first = chunks[0]
    out_choices = []
    for index, slot in sorted(choices.items()):
        message: dict[str, Any] = {"role": "assistant", "content": "".join(slot["content"]) or None}
        if slot["tool_calls"]:
            message["tool_calls"] = [slot["tool_calls"][i] for i in sorted(slot["tool_calls"])]
        out_choices.append({"index": index, "message": message, "finish_reason": slot["finish_reason"]})
    return {"id": first.get("id"), "object": "chat.completion", "created": first.get("created"), "model": first.get("model"),
            "choices": out_choices, "usage": usage}  # fmt: skip
