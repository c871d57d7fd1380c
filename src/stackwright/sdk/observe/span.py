"""``Span``: one traced step, with OpenInference attributes; ``NoopSpan`` when tracing is off.

The current span lives in a ContextVar, so nesting is right across asyncio tasks and across threads
started with a copied context (``contextvars.copy_context().run``, ``asyncio.to_thread``).
"""

from __future__ import annotations

import random
import time
import traceback
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from typing import Any

from stackwright.sdk.observe import payload
from stackwright.sdk.observe.state import STATE, internal_error

KINDS = {
    "llm": "LLM",
    "retrieval": "RETRIEVER",
    "retriever": "RETRIEVER",
    "tool": "TOOL",
    "chain": "CHAIN",
    "agent": "AGENT",
    "embedding": "EMBEDDING",
    "reranker": "RERANKER",
    "guardrail": "GUARDRAIL",
    "evaluator": "EVALUATOR",
}
KIND_KEY = "openinference.span.kind"
STATUS_UNSET, STATUS_OK, STATUS_ERROR = 0, 1, 2  # the OTLP status codes
CONTEXT_KEYS = ("session.id", "user.id")  # inherited by child spans

_CURRENT: ContextVar[Span | None] = ContextVar("stackwright_current_span", default=None)
# Attributes of the prompt in use (``with prompt.use():`` in stackwright.sdk.prompts); spans started inside get them.
PROMPT: ContextVar[dict[str, Any] | None] = ContextVar("stackwright_prompt", default=None)
_getrandbits = random.getrandbits
_time_ns = time.time_ns


def kind_value(kind: str) -> str:
    try:
        return KINDS[kind.lower()]
    except (KeyError, AttributeError):
        raise ValueError(f"unknown span kind {kind!r}; use one of: {', '.join(sorted(KINDS))}") from None


class Span:
    """A span being recorded. Its setters never raise: a bad value is logged and skipped.

    ``trace_id`` (128 bits) and ``span_id`` (64 bits) are ints; ``trace_id_hex``/``span_id_hex`` give the
    32/16 hex digits the server and the UI show.
    """

    __slots__ = (
        "name", "trace_id", "span_id", "parent_span_id", "start_time", "end_time", "attributes", "events",
        "status_code", "status_message", "_context", "_config", "_token", "_owner", "_error",
    )
    span_id: int

    def __init__(self, name: str, kind: str, parent: Span | None, config: Any) -> None:
        self.name = name
        if parent is None:
            self.trace_id = _getrandbits(128) or 1
            self.parent_span_id = 0
            self._context: dict[str, Any] | None = None
            self.attributes: dict[str, Any] = {KIND_KEY: kind}
        else:
            self.trace_id = parent.trace_id
            self.parent_span_id = parent.span_id
            self._context = parent._context
            self.attributes = {KIND_KEY: kind, **parent._context} if parent._context else {KIND_KEY: kind}
        self.span_id = _getrandbits(64) or 1
        self.start_time = _time_ns()
        self.end_time = 0
        self.events: list[tuple[str, int, dict[str, Any]]] = []
        self.status_code = STATUS_UNSET
        self.status_message = ""
        self._config = config
        self._token: Any = None
        self._owner: Any = None
        self._error: BaseException | None = None

    # -- generic attributes -------------------------------------------------------------------------------
    def set_attribute(self, key: str, value: Any) -> None:
        """Set one attribute (str, bool, int, float or a list of them; anything else is stored as JSON)."""
        try:
            if value is None:
                self.attributes.pop(key, None)
            else:
                self.attributes[str(key)] = value
        except Exception:
            internal_error("setting a span attribute")

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        try:
            for key, value in attributes.items():
                self.set_attribute(key, value)
        except Exception:
            internal_error("setting span attributes")

    # -- inputs and outputs -------------------------------------------------------------------------------
    def _set_payload(self, which: str, value: Any) -> None:
        config = self._config
        text, mime = payload.encode(value, config.max_payload_chars, config.redact)
        self.attributes[which + ".value"] = text
        self.attributes[which + ".mime_type"] = mime

    def set_input(self, value: Any) -> None:
        """Record the step's input (redacted, JSON unless a str, size-capped); replaces the captured arguments."""
        try:
            self._set_payload("input", value)
        except Exception:
            internal_error("recording a span input")

    def set_output(self, value: Any) -> None:
        """Record the step's output; the decorator's captured return value does not overwrite it."""
        try:
            self._set_payload("output", value)
        except Exception:
            internal_error("recording a span output")

    # -- LLM, retrieval and stackwright context -------------------------------------------------------------
    def set_usage(
        self,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        model: str | None = None,
        cost: float | None = None,
        *,
        provider: str | None = None,
        total_tokens: int | None = None,
    ) -> None:
        """Token counts, model, provider and cost (USD) of an LLM call."""
        try:
            attributes = self.attributes
            if model is not None:
                attributes["llm.model_name"] = str(model)
            if provider is not None:
                attributes["llm.provider"] = str(provider)
            if input_tokens is not None:
                attributes["llm.token_count.prompt"] = int(input_tokens)
            if output_tokens is not None:
                attributes["llm.token_count.completion"] = int(output_tokens)
            if total_tokens is None and (input_tokens is not None or output_tokens is not None):
                total_tokens = int(input_tokens or 0) + int(output_tokens or 0)
            if total_tokens is not None:
                attributes["llm.token_count.total"] = int(total_tokens)
            if cost is not None:
                attributes["stackwright.cost"] = float(cost)
        except Exception:
            internal_error("recording LLM usage")

    def set_documents(self, documents: Iterable[Any]) -> None:
        """Retrieved documents: dicts (or objects) with ``id``, ``content``, ``score`` and optional ``metadata``."""
        try:
            config = self._config
            for index, doc in enumerate(documents):
                prefix = f"retrieval.documents.{index}.document."
                if isinstance(doc, str):
                    doc = {"content": doc}
                get = doc.get if isinstance(doc, Mapping) else (lambda key, d=doc: getattr(d, key, None))
                doc_id, content, score, metadata = get("id"), get("content"), get("score"), get("metadata")
                if doc_id is not None:
                    self.attributes[prefix + "id"] = str(doc_id)
                if content is not None:
                    content, _ = payload.redacted(content, config.redact)
                    text = content if isinstance(content, str) else payload.to_json(content)
                    self.attributes[prefix + "content"] = payload.cap(text, config.max_payload_chars)[0]
                if score is not None:
                    self.attributes[prefix + "score"] = float(score)
                if metadata is not None:
                    self.attributes[prefix + "metadata"] = payload.to_json(metadata)
        except Exception:
            internal_error("recording retrieved documents")

    def _set_context(self, key: str, value: Any) -> None:
        value = str(value)
        self.attributes[key] = value
        self._context = {**(self._context or {}), key: value}

    def set_session(self, session_id: Any) -> None:
        """``session.id``, also given to every span started under this one."""
        try:
            self._set_context("session.id", session_id)
        except Exception:
            internal_error("setting the session id")

    def set_user(self, user_id: Any) -> None:
        """``user.id``, also given to every span started under this one."""
        try:
            self._set_context("user.id", user_id)
        except Exception:
            internal_error("setting the user id")

    def set_prompt(self, name: str, version: Any = None) -> None:
        self.set_attributes({"stackwright.prompt.name": name, "stackwright.prompt.version": version})

    def set_route(self, route: str, environment: str | None = None) -> None:
        self.set_attributes({"stackwright.route": route, "stackwright.environment": environment})

    # -- status and end -----------------------------------------------------------------------------------
    def record_error(self, exc: BaseException) -> None:
        """Status ERROR with the exception's message, and an ``exception`` event with its type and stack."""
        try:
            if exc is self._error:
                return
            self._error = exc
            cls = type(exc)
            qualname = cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
            message = str(exc)
            self.status_code = STATUS_ERROR
            self.status_message = message or cls.__name__
            stacktrace = "".join(traceback.format_exception(cls, exc, exc.__traceback__))
            self.events.append(
                ("exception", _time_ns(), {
                    "exception.type": qualname,
                    "exception.message": message,
                    "exception.stacktrace": stacktrace,
                })
            )
        except Exception:
            internal_error("recording an exception")

    def set_status(self, ok: bool, message: str = "") -> None:
        self.status_code = STATUS_OK if ok else STATUS_ERROR
        self.status_message = "" if ok else str(message)

    def end(self) -> None:
        """Finish the span and queue it for export (once; later calls do nothing)."""
        if self.end_time:
            return
        self.end_time = _time_ns()
        processor = STATE.processor
        if processor is not None:
            processor.on_end(self)

    @property
    def trace_id_hex(self) -> str:
        return f"{self.trace_id:032x}"

    @property
    def span_id_hex(self) -> str:
        return f"{self.span_id:016x}"

    @property
    def parent_span_id_hex(self) -> str | None:
        return f"{self.parent_span_id:016x}" if self.parent_span_id else None

    @property
    def is_recording(self) -> bool:
        return not self.end_time

    def __repr__(self) -> str:
        return f"<Span {self.name!r} trace={self.trace_id_hex} span={self.span_id_hex}>"


class NoopSpan:
    """What you get when tracing is off: every method accepts its arguments and does nothing."""

    __slots__ = ()
    name = ""
    trace_id = span_id = parent_span_id = 0
    trace_id_hex, span_id_hex, parent_span_id_hex = "0" * 32, "0" * 16, None
    is_recording = False

    def _nothing(self, *args: Any, **kwargs: Any) -> None:
        return None

    set_attribute = set_attributes = set_input = set_output = set_usage = set_documents = _nothing
    set_session = set_user = set_prompt = set_route = record_error = set_status = end = _nothing

    def __repr__(self) -> str:
        return "<NoopSpan>"


NOOP_SPAN = NoopSpan()


def current_span() -> Span | NoopSpan:
    """The span of the innermost ``@observe`` call or ``with observe(...)`` block; a ``NoopSpan`` outside any."""
    span = _CURRENT.get()
    return NOOP_SPAN if span is None else span
