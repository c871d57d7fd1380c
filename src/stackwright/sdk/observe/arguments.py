"""A traced call's arguments as {parameter name: value}, without self/cls; the signature is read once per function."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

_SKIPPED_FIRST = ("self", "cls")


class Arguments:
    """Turns (args, kwargs) into {parameter name: value}, leaving out self/cls; precomputed per function."""

    __slots__ = ("names", "skip_first", "varargs")

    def __init__(self, func: Callable[..., Any]) -> None:
        self.names: tuple[str, ...] | None = None
        self.skip_first = False
        self.varargs: str | None = None
        try:
            parameters = list(inspect.signature(func).parameters.values())
        except (TypeError, ValueError):
            return
        kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        positional = [p.name for p in parameters if p.kind in kinds]
        if positional and positional[0] in _SKIPPED_FIRST:
            self.skip_first = True
            positional = positional[1:]
        self.names = tuple(positional)
        self.varargs = next((p.name for p in parameters if p.kind is inspect.Parameter.VAR_POSITIONAL), None)

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        names = self.names
        if names is None:
            return {"args": list(args), "kwargs": kwargs}
        if self.skip_first:
            args = args[1:]
        bound = dict(zip(names, args))
        if len(args) > len(names):
            bound[self.varargs or "args"] = list(args[len(names):])
        if kwargs:
            bound.update(kwargs)
        return bound
