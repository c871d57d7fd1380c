"""Every gateway call becomes a trace: one span for the call (model asked for and served, deployment,
cache hit, tokens, cost, latency, time to first token) and one child span per attempt. Written through
the tracing layer's span writer in the background, so the client never waits for it.

A client that sends a W3C ``traceparent`` header gets the call's span inside its own trace.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from stackwright.gateway.router import Attempt

log = logging.getLogger("stackwright.gateway")
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")


def new_span_id() -> str:
    return os.urandom(8).hex()


def trace_context(traceparent: str | None) -> tuple[str, str | None]:
    """(trace id, parent span id) from a traceparent header, or a new trace."""
    if traceparent:
        match = _TRACEPARENT.match(traceparent.strip().lower())
        if match and match.group(1).strip("0") and match.group(2).strip("0"):
            return match.group(1), match.group(2)
    return os.urandom(16).hex(), None


@dataclass
class CallRecord:
    """What the gateway learned about one call; turned into spans at the end."""

    project_id: str
    operation: str  # chat or embeddings
    asked_model: str
    trace_id: str
    parent_span_id: str | None
    start_ns: int
    span_id: str = field(default_factory=new_span_id)
    end_ns: int = 0
    served_model: str | None = None
    provider: str | None = None
    deployment: str | None = None
    upstream_model: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    cache: str = "skip"  # hit, miss or skip
    stream: bool = False
    ttft_ms: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost: float | None = None
    error: str | None = None
    error_code: str | None = None
    input: Any = None
    output: Any = None
    params: dict[str, Any] | None = None  # the call's parameters (temperature, tools...): replay sends them again
    user_id: str | None = None
    session_id: str | None = None
    key_id: str | None = None
    tags: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. the stored prompt's name and version
    children: list[dict[str, Any]] = field(default_factory=list)  # finished child spans (guardrail decisions)

    def spans(self) -> list[dict[str, Any]]:
        attrs: dict[str, Any] = {
            "stackwright.span.kind": "llm" if self.operation == "chat" else "embedding",
            "gen_ai.operation.name": self.operation,
            "gen_ai.request.model": self.asked_model,
            "stackwright.gateway.cache": self.cache,
            "stackwright.gateway.stream": self.stream,
            "stackwright.gateway.attempts": len(self.attempts),
        }
        optional = {
            "gen_ai.response.model": self.upstream_model,
            "stackwright.gateway.served_model": self.served_model,
            "stackwright.gateway.deployment": self.deployment,
            "llm.provider": self.provider,
            "gen_ai.usage.input_tokens": self.input_tokens,
            "gen_ai.usage.output_tokens": self.output_tokens,
            "stackwright.cost": self.cost,
            "stackwright.gateway.ttft_ms": self.ttft_ms,
            "input.value": _text(self.input),
            "llm.invocation_parameters": _text(self.params) if self.params else None,
            "output.value": _text(self.output),
            "user.id": self.user_id,
            "session.id": self.session_id,
            "stackwright.api_key_id": self.key_id,
            **self.extra,
        }
        attrs.update({k: v for k, v in optional.items() if v is not None})
        fallbacks = [a.model for a in self.attempts if a.model != self.asked_model]
        if fallbacks:
            attrs["stackwright.gateway.fallbacks"] = orjson.dumps(sorted(set(fallbacks), key=fallbacks.index)).decode()
        if self.tags:
            attrs["stackwright.gateway.tags"] = ",".join(self.tags)
        root = span_record(self.trace_id, self.span_id, self.parent_span_id, f"gateway {self.operation} {self.asked_model}",
                     self.start_ns, self.end_ns, attrs, self.error)  # fmt: skip
        children = []
        for number, attempt in enumerate(self.attempts, 1):
            child_attrs = {
                "stackwright.span.kind": "llm",
                "stackwright.gateway.attempt": number,
                "stackwright.gateway.deployment": attempt.deployment,
                "stackwright.gateway.served_model": attempt.model,
                "llm.provider": attempt.provider,
                "gen_ai.request.model": attempt.upstream_model,
            }
            if attempt.error_kind:
                child_attrs["stackwright.gateway.error_kind"] = attempt.error_kind
            if attempt.status:
                child_attrs["http.response.status_code"] = attempt.status
            error = f"{attempt.error_kind}: {attempt.error}" if attempt.error_kind else None
            children.append(span_record(self.trace_id, new_span_id(), self.span_id, f"attempt {number} {attempt.deployment}",
                                  attempt.start_ns, attempt.end_ns or self.end_ns, child_attrs, error))  # fmt: skip
        return [root, *children, *self.children]


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def span_record(trace_id: str, span_id: str, parent: str | None, name: str, start_ns: int, end_ns: int,
          attrs: dict[str, Any], error: str | None) -> dict[str, Any]:  # fmt: skip
    return {
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_span_id": parent,
        "name": name,
        "start_ns": start_ns,
        "end_ns": max(start_ns, end_ns),
        "status_code": 2 if error else 1,
        "status_message": error,
        "attributes": attrs,
        "events": [],
        "resource": {"service.name": "stackwright-gateway"},
    }


class GatewayTracer:
    """Hands finished calls to the span writer without making the client wait.

    Calls are queued per event loop and turned into rows by one flush task, ``linger_s`` after the first
    call of a batch finished (its response is out by then): the calls of that window go to the writer as
    one batch, one transaction and one multi-row insert, rather than one each. The writer's work then
    rarely competes for the GIL with the next request, and costs less per call. A full ingest queue
    (backpressure) is retried, not dropped, up to ``max_pending`` spans waiting here.
    """

    def __init__(self, span_writer: Any, pricers: Any, max_chars: int, max_pending: int = 200_000, linger_s: float = 0.02):
        self.span_writer = span_writer
        self.pricers = pricers
        self.max_chars = max_chars
        self.max_pending = max_pending
        self.linger_s = linger_s
        self._queues: dict[asyncio.AbstractEventLoop, list[CallRecord]] = {}
        self._tasks: set[asyncio.Task] = set()

    def record(self, call: CallRecord) -> None:
        loop = asyncio.get_running_loop()
        queue = self._queues.get(loop)
        if queue is None:
            queue = self._queues[loop] = []
            task = loop.create_task(self._flush(loop, queue))
            self._tasks.add(task)
            task.add_done_callback(self._done)
        queue.append(call)

    def _rows(self, calls: list[CallRecord]) -> list[dict[str, Any]]:
        from stackwright.tracing.mapping import to_row

        rows: list[dict[str, Any]] = []
        for call in calls:
            try:
                pricer = self.pricers.get(call.project_id)
                rows.extend(to_row(span, i, call.project_id, self.max_chars, pricer) for i, span in enumerate(call.spans()))
            except Exception:  # tracing never fails a model call
                log.warning("could not trace a gateway call", exc_info=True)
        return rows

    async def _flush(self, loop: asyncio.AbstractEventLoop, queue: list[CallRecord]) -> None:
        from stackwright.tracing.writer import IngestBusy

        rows: list[dict[str, Any]] = []
        try:
            while queue or rows:
                await asyncio.sleep(self.linger_s)
                calls = queue[:]
                queue.clear()
                rows += self._rows(calls)
                try:
                    await self.span_writer.submit(rows)
                except IngestBusy:
                    if len(rows) > self.max_pending:
                        log.warning("could not store %d gateway spans: the ingest queue stays full", len(rows))
                        rows = []
                    await asyncio.sleep(0.05)
                    continue
                except Exception as exc:
                    log.warning("could not store %d gateway spans: %s", len(rows), exc)
                rows = []
        finally:
            if self._queues.get(loop) is queue:
                del self._queues[loop]

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("could not store a gateway trace: %s", task.exception())

    async def drain(self) -> None:
        """Wait until the calls recorded on this event loop are stored (shutdown, tests)."""
        loop = asyncio.get_running_loop()
        while pending := [t for t in self._tasks if t.get_loop() is loop and not t.done()]:
            await asyncio.gather(*pending, return_exceptions=True)
