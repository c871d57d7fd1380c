"""``observe``: trace a function (sync, async, generator, async generator) or a block (``with``/``async with``).

The wrappers check one flag first, so with tracing off a call costs one extra call and flag check over the
bare function. With tracing on, every SDK step is guarded: a failure in the SDK is logged and the
user's function runs (and raises) exactly as it would without the decorator.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from stackwright.sdk.observe.arguments import Arguments
from stackwright.sdk.observe.config import ensure_configured
from stackwright.sdk.observe.payload import Items
from stackwright.sdk.observe.span import _CURRENT, NOOP_SPAN, PROMPT, STATUS_OK, STATUS_UNSET, Span, kind_value
from stackwright.sdk.observe.state import STATE, internal_error


class Observation:
    """What ``observe(...)`` returns: a decorator and a (sync and async) context manager yielding the span."""

    __slots__ = ("name", "kind", "capture_input", "capture_output", "attributes", "arguments")

    def __init__(
        self,
        name: str | None,
        kind: str,
        capture_input: bool,
        capture_output: bool,
        attributes: Mapping[str, Any] | None,
    ) -> None:
        self.name = name
        self.kind = kind_value(kind)
        self.capture_input = capture_input
        self.capture_output = capture_output
        self.attributes = dict(attributes) if attributes else None
        self.arguments: Arguments | None = None

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        observation = Observation(self.name, self.kind, self.capture_input, self.capture_output, self.attributes)
        observation.name = self.name or getattr(func, "__qualname__", None) or getattr(func, "__name__", "call")
        observation.arguments = Arguments(func)
        return _wrap(func, observation)

    # -- as a context manager ---------------------------------------------------------------------------------
    def __enter__(self) -> Span | Any:
        if not STATE.active:
            return NOOP_SPAN
        span = _start(self, None, None)
        if span is None:
            return NOOP_SPAN
        span._owner = self
        span._token = _CURRENT.set(span)
        return span

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        span = _CURRENT.get()
        if span is None or span._owner is not self:
            return  # this block's span was a no-op
        try:
            _CURRENT.reset(span._token)
        except Exception:
            internal_error("leaving an observe() block")
        if exc is not None:
            _end_error(span, exc)
        else:
            _end_ok(span, self, _NO_OUTPUT)

    async def __aenter__(self) -> Span | Any:
        return self.__enter__()

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self.__exit__(exc_type, exc, tb)


_NO_OUTPUT = object()


def _start(observation: Observation, args: tuple[Any, ...] | None, kwargs: dict[str, Any] | None) -> Span | None:
    try:
        config = STATE.config or ensure_configured()
        if not config.enabled:
            return None
        span = Span(observation.name or "observe", observation.kind, _CURRENT.get(), config)
        prompt = PROMPT.get()
        if prompt is not None:
            span.attributes.update(prompt)
        if observation.attributes:
            span.attributes.update(observation.attributes)
        arguments = observation.arguments  # set with args and kwargs: a decorated function's call
        if args is not None and kwargs is not None and arguments is not None and observation.capture_input:
            span._set_payload("input", arguments.bind(args, kwargs))
        return span
    except Exception:
        internal_error("starting a span")
        return None


def _end_ok(span: Span, observation: Observation, result: Any) -> None:
    try:
        if result is not _NO_OUTPUT and observation.capture_output and "output.value" not in span.attributes:
            span._set_payload("output", result)
        if span.status_code == STATUS_UNSET:
            span.status_code = STATUS_OK
        span.end()
    except Exception:
        internal_error("ending a span")


def _end_error(span: Span, exc: BaseException) -> None:
    try:
        span.record_error(exc)
        span.end()
    except Exception:
        internal_error("ending a failed span")


def _end_items(span: Span, observation: Observation, items: Items | None) -> None:
    try:
        if items is not None and items.dropped:
            span.attributes["stackwright.output.items_dropped"] = items.dropped
        _end_ok(span, observation, items.value() if items is not None else _NO_OUTPUT)
    except Exception:
        internal_error("ending a generator's span")


def _wrap(func: Callable[..., Any], observation: Observation) -> Callable[..., Any]:
    if inspect.isasyncgenfunction(func):
        wrapper = _async_generator_wrapper(func, observation)
    elif inspect.isgeneratorfunction(func):
        wrapper = _generator_wrapper(func, observation)
    elif inspect.iscoroutinefunction(func):
        wrapper = _coroutine_wrapper(func, observation)
    else:
        wrapper = _function_wrapper(func, observation)
    return functools.wraps(func)(wrapper)


def _function_wrapper(func: Callable[..., Any], observation: Observation) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not STATE.active:
            return func(*args, **kwargs)
        span = _start(observation, args, kwargs)
        if span is None:
            return func(*args, **kwargs)
        token = _CURRENT.set(span)
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            _CURRENT.reset(token)
            _end_error(span, exc)
            raise
        _CURRENT.reset(token)
        _end_ok(span, observation, result)
        return result

    return wrapper


def _coroutine_wrapper(func: Callable[..., Any], observation: Observation) -> Callable[..., Any]:
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not STATE.active:
            return await func(*args, **kwargs)
        span = _start(observation, args, kwargs)
        if span is None:
            return await func(*args, **kwargs)
        token = _CURRENT.set(span)
        try:
            result = await func(*args, **kwargs)
        except BaseException as exc:
            _CURRENT.reset(token)
            _end_error(span, exc)
            raise
        _CURRENT.reset(token)
        _end_ok(span, observation, result)
        return result

    return wrapper


def _generator_wrapper(func: Callable[..., Any], observation: Observation) -> Callable[..., Any]:
    """The span runs from the first ``next()`` to exhaustion, an exception, or ``close()``."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not STATE.active:
            return (yield from func(*args, **kwargs))
        span = _start(observation, args, kwargs)
        generator = func(*args, **kwargs)
        if span is None:
            return (yield from generator)
        items = Items(span._config.max_payload_chars) if observation.capture_output else None
        step, value = generator.send, None
        while True:
            token = _CURRENT.set(span)
            try:
                item = step(value)
            except StopIteration as stop:
                _end_items(span, observation, items)
                return stop.value
            except BaseException as exc:
                _end_error(span, exc)
                raise
            finally:
                _CURRENT.reset(token)
            if items is not None:
                items.add(item)
            try:
                value = yield item
                step = generator.send
            except GeneratorExit:
                token = _CURRENT.set(span)
                try:
                    generator.close()
                finally:
                    _CURRENT.reset(token)
                    _end_items(span, observation, items)
                raise
            except BaseException as exc:
                step, value = generator.throw, exc

    return wrapper


def _async_generator_wrapper(func: Callable[..., Any], observation: Observation) -> Callable[..., Any]:
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        span = _start(observation, args, kwargs) if STATE.active else None
        generator = func(*args, **kwargs)
        items = Items(span._config.max_payload_chars) if span is not None and observation.capture_output else None
        step, value = generator.asend, None
        while True:
            token = _CURRENT.set(span) if span is not None else None
            try:
                item = await step(value)
            except StopAsyncIteration:
                if span is not None:
                    _end_items(span, observation, items)
                return
            except BaseException as exc:
                if span is not None:
                    _end_error(span, exc)
                raise
            finally:
                if token is not None:
                    _CURRENT.reset(token)
            if items is not None:
                items.add(item)
            try:
                value = yield item
                step = generator.asend
            except GeneratorExit:
                token = _CURRENT.set(span) if span is not None else None
                try:
                    await generator.aclose()
                finally:
                    if token is not None:
                        _CURRENT.reset(token)
                    if span is not None:
                        _end_items(span, observation, items)
                raise
            except BaseException as exc:
                step, value = generator.athrow, exc

    return wrapper


def observe(
    name: str | Callable[..., Any] | None = None,
    *,
    kind: str = "chain",
    capture_input: bool = True,
    capture_output: bool = True,
    attributes: Mapping[str, Any] | None = None,
) -> Any:
    """Trace a function or a block as a span.

    ``@observe`` / ``@observe(name=..., kind="llm", capture_input=False)`` on a def, async def, generator or
    async generator; ``with observe("step") as span:`` / ``async with observe("step", kind="tool") as span:``.
    Kinds: llm, retrieval, tool, chain (default), agent, embedding (and reranker, guardrail, evaluator).
    Calls nest (same trace id, parent/child). Inputs are the bound arguments (without self/cls), outputs the
    return value (a generator's: its items); both JSON, redacted and size-capped as configured. An exception
    marks the span ERROR and is re-raised unchanged. ``attributes`` are set on every span it records.
    """
    if callable(name):
        return Observation(None, kind, capture_input, capture_output, attributes)(name)
    return Observation(name, kind, capture_input, capture_output, attributes)
