"""Bounded rendering: a template may not take the server's memory or CPU.

A template is code that any write key can push. The Jinja2 sandbox keeps it away from Python's
internals; this module bounds the work it can ask for, per render (all messages of one prompt together):

- every loop iteration (``for``, and a recursive loop's ``loop(...)``) counts against ``max_iterations``,
  and ``range`` refuses more items than that;
- every piece of output, wherever it goes (the result, a ``{% set %}`` block, a macro), counts against
  ``max_output_chars``;
- no string, list or dict built by an operator (``*``, ``+``, ``~``, ``%``), a filter or a method call may
  exceed ``max_output_chars`` items, checked before building where the size is known up front, and
  integers built by ``*`` and ``**`` stay under MAX_INT_DIGITS digits;
- the render stops once ``timeout_s`` has passed (checked at each of the steps above).

Exceeding one raises LimitExceeded, which the renderer turns into a 400 naming the limit and its setting.
The hooks are installed in ``environment`` as filters (a template's syntax tree is rewritten at parse time
so loops and output go through them) and read the current render's Budget from a context variable.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

MAX_INT_DIGITS = 4300  # Python's own limit for turning an int into text
_MAX_INT_BITS = int(MAX_INT_DIGITS * 3.33)
_SIZED = (str, list, tuple, dict, set, frozenset, bytes)
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\d*)(?:\.(\d*))?")  # %-9999s, %.9999f
_BRACE_SPEC = re.compile(r"\{[^{}]*?:([^{}]*)\}")  # {:>9999}, {0:9999.2f}
_DIGITS = re.compile(r"\d+")
_SIZING_FILTERS = frozenset({"center", "indent", "wordwrap", "truncate", "batch", "slice"})


def _setting_default(name: str) -> Any:
    from stackwright.core.config import Settings

    return Settings.model_fields[name].default


@dataclass(frozen=True)
class RenderLimits:
    """The limits of one render; the server takes them from its settings, the SDK uses the defaults."""

    max_output_chars: int = field(default_factory=lambda: _setting_default("prompt_render_max_output_chars"))
    max_iterations: int = field(default_factory=lambda: _setting_default("prompt_render_max_iterations"))
    timeout_s: float = field(default_factory=lambda: _setting_default("prompt_render_timeout_s"))

    @classmethod
    @functools.cache
    def defaults(cls) -> RenderLimits:
        return cls()

    @classmethod
    def from_settings(cls, settings: Any) -> RenderLimits:
        return cls(settings.prompt_render_max_output_chars, settings.prompt_render_max_iterations, settings.prompt_render_timeout_s)


class LimitExceeded(Exception):
    """A render went over one of its limits; ``setting`` is the Settings field that raises it (if any)."""

    def __init__(self, what: str, limit: int | float, setting: str | None):
        self.what, self.limit, self.setting = what, limit, setting
        super().__init__(what)


class Budget:
    """What one render has used so far."""

    def __init__(self, limits: RenderLimits):
        self.limits = limits
        self.deadline = time.monotonic() + limits.timeout_s
        self.output = 0
        self.iterations = 0

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise LimitExceeded(f"took longer than {self.limits.timeout_s:g} s", self.limits.timeout_s, "prompt_render_timeout_s")

    def iterate(self) -> None:
        self.iterations += 1
        if self.iterations > self.limits.max_iterations:
            raise LimitExceeded(
                f"ran more than {self.limits.max_iterations} loop iterations", self.limits.max_iterations, "prompt_render_max_iterations"
            )
        self.tick()

    def emit(self, chars: int) -> None:
        self.output += chars
        if self.output > self.limits.max_output_chars:
            raise LimitExceeded(
                f"produced more than {self.limits.max_output_chars} characters", self.limits.max_output_chars, "prompt_render_max_output_chars"
            )
        self.tick()

    def check_size(self, size: int) -> None:
        if size > self.limits.max_output_chars:
            raise LimitExceeded(
                f"built a string or list of {size} items, more than {self.limits.max_output_chars}",
                self.limits.max_output_chars, "prompt_render_max_output_chars",
            )  # fmt: skip

    def checked(self, value: Any) -> Any:
        if isinstance(value, _SIZED):
            self.check_size(len(value))
        return value

    def check_arguments(self, args: Iterable[Any]) -> None:
        """A number larger than the output limit, passed as a width or count, can only build too much."""
        for arg in args:
            if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) > self.limits.max_output_chars:
                self.check_size(abs(arg))

    def check_format(self, pattern: Any, args: Iterable[Any]) -> None:
        """A width or precision in a format string (``%9999999s``, ``{:>9999999}``) builds that much, and so
        does one taken from the arguments (``%*s``, ``{:{}}``)."""
        if not isinstance(pattern, str):
            return
        runs = [run for spec in _PERCENT_SPEC.findall(pattern) for run in spec if run]
        runs += [run for spec in _BRACE_SPEC.findall(pattern) for run in _DIGITS.findall(spec)]
        self.check_arguments(int(run) if len(run) <= MAX_INT_DIGITS else self.limits.max_output_chars + 1 for run in runs)
        if "*" in pattern or ":{" in pattern:
            self.check_arguments(args)


_budget: ContextVar[Budget | None] = ContextVar("stackwright_render_budget", default=None)


def current() -> Budget:
    budget = _budget.get()
    if budget is None:
        raise RuntimeError("a prompt template ran outside stackwright.prompts.limits.bounded()")
    return budget


@contextmanager
def bounded(limits: RenderLimits) -> Iterator[Budget]:
    """Make ``limits`` apply to every template rendered inside the block (one shared budget)."""
    budget = Budget(limits)
    token = _budget.set(budget)
    try:
        yield budget
    finally:
        _budget.reset(token)


# -- what the rewritten templates call ------------------------------------------------------------------

LOOP, OUT, SIZED = "__stackwright_loop", "__stackwright_out", "__stackwright_sized"


# The hooks take the template's context only so that Jinja never runs them at compile time (it folds
# filters over constants, which would count static text once instead of at every pass through a loop).


def _loop(context: Any, iterable: Any) -> Iterator[Any]:
    budget = current()
    for item in iterable:
        budget.iterate()
        yield item


def _out(context: Any, value: Any, static_chars: int = 0) -> str:
    """``value`` as text, counted with the static text next to it (``static_chars``, known at parse time)."""
    text = value if isinstance(value, str) else str(value)
    current().emit(len(text) + static_chars)
    return text


def _sized(context: Any, value: Any) -> Any:
    return current().checked(value)


def _range(*args: int) -> range:
    budget = current()
    numbers = range(*args)
    try:
        size = len(numbers)
    except OverflowError:
        size = budget.limits.max_iterations + 1
    if size > budget.limits.max_iterations:
        raise LimitExceeded(
            f"asked for a range of {size} numbers, more than {budget.limits.max_iterations}",
            budget.limits.max_iterations, "prompt_render_max_iterations",
        )  # fmt: skip
    return numbers


def _check_binop(budget: Budget, operator: str, left: Any, right: Any) -> None:
    ints = isinstance(left, int) and isinstance(right, int)
    if operator == "*":
        for seq, times in ((left, right), (right, left)):
            if isinstance(seq, _SIZED) and isinstance(times, int):
                budget.check_size(len(seq) * max(times, 0))
        if ints and left.bit_length() + right.bit_length() > _MAX_INT_BITS:
            raise LimitExceeded(f"built a number of more than {MAX_INT_DIGITS} digits", MAX_INT_DIGITS, None)
    elif operator == "**":
        if ints and right > 0 and abs(left) > 1 and left.bit_length() * right > _MAX_INT_BITS:
            raise LimitExceeded(f"built a number of more than {MAX_INT_DIGITS} digits", MAX_INT_DIGITS, None)
    elif operator == "+":
        if isinstance(left, _SIZED) and isinstance(right, _SIZED):
            budget.check_size(len(left) + len(right))
    elif operator == "%" and isinstance(left, str):
        budget.check_format(left, right if isinstance(right, tuple) else (right,))


def _estimated_size(name: str, target: Any, args: tuple[Any, ...]) -> int:
    """What ``join`` and ``replace`` (method or filter) will build, computed before building it."""
    if name == "join" and isinstance(target, str) and args and isinstance(args[0], list | tuple):
        items = args[0]
        return sum(len(i) for i in items if isinstance(i, str)) + len(target) * len(items)
    if name == "replace" and isinstance(target, str) and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        hits = target.count(args[0]) if args[0] else len(target) + 1
        return len(target) + hits * len(args[1])
    return 0


def _bounded_filter(name: str, func: Any) -> Any:
    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        budget = current()
        budget.tick()
        values = [a for a in args if not _is_jinja_internal(a)]
        if name in _SIZING_FILTERS:
            budget.check_arguments([*values[1:], *kwargs.values()])
        if name == "format" and values:
            budget.check_format(values[0], values[1:])
        if name == "join" and values and isinstance(values[0], list | tuple):
            separator = values[1] if len(values) > 1 else kwargs.get("d", "")
            budget.check_size(_estimated_size("join", separator if isinstance(separator, str) else "", (values[0],)))
        if name == "replace" and values:
            budget.check_size(_estimated_size("replace", values[0], tuple(values[1:3])))
        return budget.checked(func(*args, **kwargs))

    return run


def _is_jinja_internal(value: Any) -> bool:
    from jinja2.environment import Environment
    from jinja2.nodes import EvalContext
    from jinja2.runtime import Context

    return isinstance(value, Environment | Context | EvalContext)


def environment(included: dict[str, str]) -> Any:
    """A sandboxed environment whose templates are bounded by the current render's Budget."""
    from jinja2 import DictLoader, StrictUndefined, nodes, pass_context
    from jinja2.sandbox import SandboxedEnvironment
    from jinja2.visitor import NodeTransformer

    def call(name: str, node: Any, *args: Any) -> Any:  # a filter: compiled to a direct call, without the sandbox's checks
        return nodes.Filter(node, name, [nodes.Const(a) for a in args], [], None, None, lineno=node.lineno)

    class Rewrite(NodeTransformer):
        """Route loops, output and ``~`` through the budget's hooks."""

        def visit_For(self, node: Any) -> Any:
            node = self.generic_visit(node)
            node.iter = call(LOOP, node.iter)
            return node

        def visit_Call(self, node: Any) -> Any:  # a recursive loop's loop(children)
            node = self.generic_visit(node)
            if isinstance(node.node, nodes.Name) and node.node.name == "loop" and node.args:
                node.args[0] = call(LOOP, node.args[0])
            return node

        def visit_Output(self, node: Any) -> Any:
            """One count per expression; the static text of the whole output is counted with the first."""
            node = self.generic_visit(node)
            static = sum(len(child.data) for child in node.nodes if isinstance(child, nodes.TemplateData))
            dynamic = [i for i, child in enumerate(node.nodes) if not isinstance(child, nodes.TemplateData)]
            first = dynamic[0] if dynamic else 0
            node.nodes = list(node.nodes)
            node.nodes[first] = call(OUT, node.nodes[first], static if dynamic else static - len(node.nodes[0].data))
            for i in dynamic[1:]:
                node.nodes[i] = call(OUT, node.nodes[i])
            return node

        def visit_Concat(self, node: Any) -> Any:
            return call(SIZED, self.generic_visit(node))

    class Bounded(SandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**", "+", "%"})

        def _parse(self, source: str, name: str | None, filename: str | None) -> Any:
            tree = Rewrite().visit(super()._parse(source, name, filename))
            tree.set_environment(self)
            return tree

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            budget = current()
            budget.tick()
            _check_binop(budget, operator, left, right)
            return budget.checked(super().call_binop(context, operator, left, right))

        def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
            budget = current()
            budget.tick()
            method = getattr(__obj, "__wrapped__", __obj)
            target = getattr(method, "__self__", None)
            name = getattr(method, "__name__", "")
            if name in ("format", "format_map"):
                budget.check_format(target, [*args, *kwargs.values()])
            elif isinstance(target, str):  # ljust, center, zfill, expandtabs... take a width
                budget.check_arguments([*args, *kwargs.values()])
            budget.check_size(_estimated_size(name, target, args))
            result = budget.checked(super().call(__context, __obj, *args, **kwargs))
            budget.checked(target)  # list.extend, dict.update... grow the object they belong to
            return result

    env = Bounded(
        loader=DictLoader(included), undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True, optimized=False
    )
    env.filters = {name: _bounded_filter(name, func) for name, func in env.filters.items()}
    env.globals.pop("lipsum", None)  # builds text in proportion to its arguments; no use in a prompt
    env.filters.update({LOOP: pass_context(_loop), OUT: pass_context(_out), SIZED: pass_context(_sized)})
    env.globals["range"] = _range
    return env
