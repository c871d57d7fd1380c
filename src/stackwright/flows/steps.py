"""``@step``: one unit of a workflow, with retries (exponential back-off), a timeout per attempt, a
fallback once the attempts are spent, an in-process cache by input hash, and a typed result.

    @step(retries=2, timeout_s=10, fallback="(no answer)", cache=300)
    async def answer(question: str) -> str: ...

    text = await answer("How do I reset my password?")

Sync functions work too (they run in a worker thread; a timed-out sync attempt is abandoned, not
killed). Arguments are validated against the annotations (a bad argument fails at once, without
retries); the return value is validated against the return annotation with pydantic (a wrong type
counts as a failed attempt). Every call is a span (kind ``chain``) under the current trace, with the
attempts, the cache hit, the fallback and the step's cost (``current_step().add_cost(usd, tokens)``).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import inspect
import time
import typing
from collections import OrderedDict
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from stackwright.core.errors import StackwrightError

NO_FALLBACK: Any = object()
_CACHE_MAX = 1024


class StepError(StackwrightError):
    """A step failed: ``step`` (its name), ``attempt`` (1-based; 0 when the arguments were bad) and ``reason``."""

    status = 500
    code = "step_failed"

    def __init__(self, step: str, attempt: int, reason: str, *, attempts: int | None = None):
        self.step, self.attempt, self.reason = step, attempt, reason
        where = f"attempt {attempt}" + (f" of {attempts}" if attempts else "") if attempt else "its arguments"
        super().__init__(f"Step {step!r} failed on {where}: {reason}", details={"step": step, "attempt": attempt, "reason": reason})


class StepRun:
    """The running call of a step (``current_step()``): report cost and tokens, read attempts."""

    __slots__ = ("attempt", "cost_usd", "name", "parent", "tokens", "total_cost_usd", "total_tokens")

    def __init__(self, name: str, parent: StepRun | None):
        self.name = name
        self.parent = parent
        self.attempt = 0
        self.cost_usd = 0.0  # reported by this step itself
        self.tokens = 0
        self.total_cost_usd = 0.0  # this step and every step it called
        self.total_tokens = 0

    def add_cost(self, usd: float = 0.0, tokens: int = 0) -> None:
        """Add the cost (USD) and tokens of work done in this step (an LLM call, a paid API)."""
        usd, tokens = float(usd), int(tokens)
        if usd < 0 or tokens < 0:
            raise ValueError("add_cost takes a cost and a token count that are not negative")
        self.cost_usd += usd
        self.tokens += tokens
        self.total_cost_usd += usd
        self.total_tokens += tokens


    def trace_headers(self) -> dict[str, str]:
        """``{"traceparent": ...}`` for the current span: pass it with a gateway call (``extra_headers=`` in
        the OpenAI SDK) and the gateway's span joins this step's trace, under it. Empty when tracing is off."""
        from stackwright.sdk.observe.span import current_span

        span = current_span()
        if not span.is_recording:
            return {}
        return {"traceparent": f"00-{span.trace_id_hex}-{span.span_id_hex}-01"}

    def add_usage(self, response: Any) -> None:
        """Add the cost and tokens of a gateway answer: an httpx response (its ``x-stackwright-cost-usd``
        header and ``usage``), an OpenAI SDK raw response (``with_raw_response``), a parsed completion, or
        the JSON body. What is missing counts as 0; this never raises on an odd response."""
        try:
            headers = getattr(response, "headers", None) or {}
            cost = float(headers.get("x-stackwright-cost-usd") or 0.0)
            body: Any = response
            if not isinstance(response, dict) and callable(getattr(response, "json", None)):
                body = response.json()
            usage = body.get("usage") if isinstance(body, dict) else getattr(response, "usage", None)
            total = usage.get("total_tokens") if isinstance(usage, dict) else getattr(usage, "total_tokens", None)
            usd, tokens = max(0.0, cost), max(0, int(total or 0))
            if _traced_here(headers.get("x-stackwright-trace-id")):
                # The gateway's own span in this trace already carries this cost: count it in the step's
                # totals (and an agent's spend) but not again in what the trace adds up.
                self.total_cost_usd += usd
                self.total_tokens += tokens
            else:
                self.add_cost(usd, tokens)
        except Exception:  # noqa: BLE001 - usage bookkeeping must not fail the step
            return


def _traced_here(trace_id: str | None) -> bool:
    """Whether a gateway answer's span went into the trace being recorded now (trace_headers() passed)."""
    if not trace_id:
        return False
    from stackwright.sdk.observe.span import current_span

    span = current_span()
    return bool(span.is_recording and span.trace_id_hex == trace_id)


_CURRENT: ContextVar[StepRun | None] = ContextVar("stackwright_current_step", default=None)
_DETACHED = StepRun("(outside any step)", None)


def current_step() -> StepRun:
    """The innermost running step; outside any step, an object that accepts and ignores costs."""
    return _CURRENT.get() or _DETACHED


def _describe(exc: BaseException) -> str:
    if isinstance(exc, StepError):
        return exc.message
    if isinstance(exc, (_WrongType, _TimedOut)):
        return str(exc)
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _annotations(fn: Callable[..., Any]) -> tuple[inspect.Signature, dict[str, Any]]:
    signature = inspect.signature(fn)
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception:  # noqa: BLE001 - an annotation that does not resolve: no validation for it
        hints = {}
    return signature, hints


class Step:
    """A function wrapped by ``@step``. Call it and await the result: ``await my_step(x)``."""

    def __init__(self, fn: Callable[..., Any], *, name: str | None, retries: int, timeout_s: float | None,
                 fallback: Any, cache: bool | float, backoff_s: float, max_backoff_s: float):  # fmt: skip
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ValueError(f"retries must be a whole number >= 0, not {retries!r}")
        if timeout_s is not None and not timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0 seconds (or None for no timeout), not {timeout_s!r}")
        if cache is not True and cache is not False and not (isinstance(cache, (int, float)) and cache > 0):
            raise ValueError(f"cache must be True, False or a TTL in seconds > 0, not {cache!r}")
        self.fn = fn
        qualname: str | None = getattr(fn, "__qualname__", None)
        plain_name: str = getattr(fn, "__name__", "step")
        self.name = name or qualname or plain_name
        self.retries = retries
        self.timeout_s = timeout_s
        self.fallback = fallback
        self.ttl_s: float | None = None if cache is True or cache is False else float(cache)
        self.cached = cache is not False
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.is_async = inspect.iscoroutinefunction(fn)
        self._signature, hints = _annotations(fn)
        self._params = {k: v for k, v in hints.items() if k != "return"}
        self._returns = hints.get("return", inspect.Signature.empty)
        self._adapters: dict[str, Any] = {}
        self._cache: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        functools.update_wrapper(self, fn)

    def __repr__(self) -> str:
        return f"<Step {self.name!r} retries={self.retries} timeout_s={self.timeout_s}>"

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        """``@step`` on a method: the step bound to its instance (not cached: instances rarely hash alike)."""
        if instance is None:
            return self
        return functools.partial(self.__call__, instance)

    # -- validation -----------------------------------------------------------------------------------------
    def _adapter(self, key: str, annotation: Any) -> Any:
        from pydantic import TypeAdapter

        if key not in self._adapters:
            self._adapters[key] = TypeAdapter(annotation)
        return self._adapters[key]

    def _check_arguments(self, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        from pydantic import ValidationError

        try:
            bound = self._signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise StepError(self.name, 0, f"bad arguments: {exc}") from None
        for key, value in list(bound.arguments.items()):
            annotation = self._params.get(key)
            if annotation is None or annotation is Any or self._signature.parameters[key].kind in (
                inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):  # fmt: skip
                continue
            try:
                bound.arguments[key] = self._adapter(key, annotation).validate_python(value)
            except ValidationError as exc:
                raise StepError(self.name, 0, f"argument {key!r} is not a valid {_type_name(annotation)}: {_first_error(exc)}") from None
        return bound.args, bound.kwargs

    def _check_result(self, value: Any) -> Any:
        from pydantic import ValidationError

        if self._returns is inspect.Signature.empty or self._returns is Any:
            return value
        if self._returns is None or self._returns is type(None):
            if value is not None:
                raise _WrongType(f"returned {type(value).__name__} {_short(value)}, but the step is annotated to return None")
            return None
        try:
            return self._adapter("return", self._returns).validate_python(value, strict=True)
        except ValidationError as exc:
            raise _WrongType(f"returned {type(value).__name__} {_short(value)}, not a valid {_type_name(self._returns)}: "
                             f"{_first_error(exc)}") from None  # fmt: skip

    # -- cache ----------------------------------------------------------------------------------------------
    def _cache_key(self, args: tuple, kwargs: dict) -> str | None:
        import orjson
        from pydantic_core import to_jsonable_python

        try:
            data = orjson.dumps(to_jsonable_python([list(args), kwargs]), option=orjson.OPT_SORT_KEYS)
        except Exception:  # noqa: BLE001 - arguments that do not serialize are not cached
            return None
        return hashlib.sha256(data).hexdigest()

    def _cache_get(self, key: str | None) -> tuple[bool, Any]:
        if key is None or key not in self._cache:
            return False, None
        stored_at, value = self._cache[key]
        if self.ttl_s is not None and time.monotonic() - stored_at > self.ttl_s:
            del self._cache[key]
            return False, None
        self._cache.move_to_end(key)
        return True, value

    def _cache_put(self, key: str | None, value: Any) -> None:
        if key is None:
            return
        self._cache[key] = (time.monotonic(), value)
        self._cache.move_to_end(key)
        while len(self._cache) > _CACHE_MAX:
            self._cache.popitem(last=False)

    def clear_cache(self) -> None:
        self._cache.clear()

    # -- running --------------------------------------------------------------------------------------------
    async def _attempt(self, args: tuple, kwargs: dict) -> Any:
        if self.is_async:
            call = self.fn(*args, **kwargs)
        else:
            call = _in_thread(self.fn, args, kwargs)
        if self.timeout_s is None:
            value = await call
        else:
            try:
                value = await asyncio.wait_for(call, self.timeout_s)
            except TimeoutError:
                raise _TimedOut(f"timed out after {self.timeout_s:g} s") from None
        if inspect.isawaitable(value):
            value = await value
        return self._check_result(value)

    async def _fallback(self, args: tuple, kwargs: dict) -> Any:
        if not callable(self.fallback):
            return self.fallback
        value = self.fallback(*args, **kwargs)
        return await value if inspect.isawaitable(value) else value

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from stackwright.sdk.observe import observe

        with observe(self.name, kind="chain", capture_input=False, capture_output=False) as span:
            parent = _CURRENT.get()
            run = StepRun(self.name, parent)
            token = _CURRENT.set(run)
            try:
                value = await self._run(run, span, args, kwargs)
            finally:
                _CURRENT.reset(token)
                _record_cost(span, run)
                if parent is not None:
                    parent.total_cost_usd += run.total_cost_usd
                    parent.total_tokens += run.total_tokens
            return value

    async def _run(self, run: StepRun, span: Any, args: tuple, kwargs: dict) -> Any:
        span.set_attributes({"stackwright.step.name": self.name, "stackwright.step.retries": self.retries})
        args, kwargs = self._check_arguments(args, kwargs)
        span.set_input({"args": list(args), "kwargs": kwargs} if kwargs else list(args))
        key = self._cache_key(args, kwargs) if self.cached else None
        hit, value = self._cache_get(key)
        span.set_attribute("stackwright.step.cache_hit", hit)
        if hit:
            span.set_output(value)
            return value
        total = self.retries + 1
        reason = ""
        for attempt in range(1, total + 1):
            run.attempt = attempt
            span.set_attribute("stackwright.step.attempts", attempt)
            try:
                value = await self._attempt(args, kwargs)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                reason = _describe(exc)
                span.set_attribute("stackwright.step.last_error", reason)
                if attempt < total:
                    await asyncio.sleep(min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1)))
                    continue
                if self.fallback is not NO_FALLBACK:
                    span.set_attribute("stackwright.step.fallback", True)
                    try:
                        value = await self._fallback(args, kwargs)
                    except Exception as fallback_exc:
                        raise StepError(self.name, attempt, f"{reason}; the fallback failed too: {_describe(fallback_exc)}",
                                        attempts=total) from fallback_exc  # fmt: skip
                    span.set_output(value)
                    return value
                raise StepError(self.name, attempt, reason, attempts=total) from exc
            self._cache_put(key, value)
            span.set_output(value)
            return value
        raise AssertionError("unreachable")

    def sync(self, *args: Any, **kwargs: Any) -> Any:
        """Run the step from synchronous code (no event loop running in this thread)."""
        return asyncio.run(self(*args, **kwargs))


_POOL: Any = None


def _in_thread(fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    """Run a sync step in the steps' own thread pool, in a copy of this context (spans and current_step
    nest). Not the loop's default executor: an abandoned (timed-out) call must not hold up
    ``asyncio.run``'s exit."""
    import contextvars
    from concurrent.futures import ThreadPoolExecutor

    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=32, thread_name_prefix="stackwright-step")
    context = contextvars.copy_context()
    return asyncio.get_running_loop().run_in_executor(_POOL, functools.partial(context.run, fn, *args, **kwargs))


class _WrongType(Exception):
    pass


class _TimedOut(Exception):
    pass


def _record_cost(span: Any, run: StepRun) -> None:
    if run.cost_usd or run.tokens:
        span.set_attribute("stackwright.cost", run.cost_usd)  # this step's own cost: trace totals add these up
        span.set_attribute("llm.token_count.total", run.tokens)
    if run.total_cost_usd or run.total_tokens:
        span.set_attribute("stackwright.step.total_cost", run.total_cost_usd)
        span.set_attribute("stackwright.step.total_tokens", run.total_tokens)


def _first_error(exc: Any) -> str:
    errors = exc.errors()
    if not errors:
        return str(exc)
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    return f"{where}: {first['msg']}" if where else first["msg"]


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def step(
    fn: Callable[..., Any] | None = None,
    *,
    retries: int = 0,
    timeout_s: float | None = None,
    fallback: Any = NO_FALLBACK,
    cache: bool | float = False,
    name: str | None = None,
    backoff_s: float = 0.2,
    max_backoff_s: float = 10.0,
) -> Any:
    """Make ``fn`` (sync or async) a step. ``retries``: extra attempts after a failure, waiting
    ``backoff_s * 2**n`` (at most ``max_backoff_s``) between them; ``timeout_s``: per attempt;
    ``fallback``: a value, or a callable taking the same arguments, used once every attempt failed;
    ``cache``: True (for the process' life) or a TTL in seconds, keyed by the arguments' hash."""

    def wrap(func: Callable[..., Any]) -> Step:
        if isinstance(func, Step):
            func = func.fn
        return Step(func, name=name, retries=retries, timeout_s=timeout_s, fallback=fallback, cache=cache,
                    backoff_s=backoff_s, max_backoff_s=max_backoff_s)  # fmt: skip

    return wrap(fn) if fn is not None else wrap


def as_step(fn: Any) -> Step:
    """A Step as is; any other callable (sync or async) as a step with the defaults."""
    if isinstance(fn, Step):
        return fn
    if not callable(fn):
        raise TypeError(f"a workflow part must be a step or a callable, not {type(fn).__name__}")
    if not inspect.isfunction(fn) and not inspect.ismethod(fn) and inspect.iscoroutinefunction(type(fn).__call__):
        return Step(fn.__call__, name=getattr(fn, "name", None) or type(fn).__name__, retries=0, timeout_s=None,
                    fallback=NO_FALLBACK, cache=False, backoff_s=0.2, max_backoff_s=10.0)  # fmt: skip
    return Step(fn, name=None, retries=0, timeout_s=None, fallback=NO_FALLBACK, cache=False, backoff_s=0.2, max_backoff_s=10.0)
