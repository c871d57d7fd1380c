"""Plugin registries. Built-ins and outside packages register the same way: an entry point in the
``stackwright.<kind>`` group (``[project.entry-points."stackwright.providers"] name = "pkg.mod:obj"``),
or ``registry.register(name, obj)`` at run time. Entry points load lazily, on first use, once: a thread
that asks while another is loading waits for the whole set (never sees a half-loaded registry).

Guardrail checks also load from the ``stackwright.guardrails`` group (the name the built-ins use in
``pyproject.toml``); ``stackwright.guardrail_checks`` is the documented group. Both work.
"""

from __future__ import annotations

import logging
import threading
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from stackwright.core.errors import NotFound

log = logging.getLogger("stackwright.plugins")
T = TypeVar("T")


class Registry(Generic[T]):
    """Named plugins of one kind (providers, embedders, ...)."""

    def __init__(self, kind: str, description: str, *, also_groups: tuple[str, ...] = ()):
        self.kind = kind
        self.description = description
        self.group = f"stackwright.{kind}"
        self.groups = (self.group, *also_groups)  # searched in this order; the first entry point of a name wins
        self._items: dict[str, T] = {}
        self._sources: dict[str, str] = {}
        self._loaded = False
        self._loading = False
        # Re-entrant: loading a plugin may import a module that registers or lists plugins of this kind.
        self._lock = threading.RLock()

    def register(self, name: str, obj: T, *, source: str = "runtime", replace: bool = False) -> T:
        with self._lock:
            if not replace and name in self._items and self._items[name] is not obj:
                raise ValueError(f"{self.kind} plugin {name!r} is already registered (from {self._sources[name]}).")
            self._items[name] = obj
            self._sources[name] = source
            return obj

    def unregister(self, name: str) -> None:
        with self._lock:
            self._items.pop(name, None)
            self._sources.pop(name, None)

    def _load_entry_points(self) -> None:
        if self._loaded:  # set only once every entry point has been tried
            return
        with self._lock:  # other threads wait here until the loading thread has finished
            if self._loaded or self._loading:  # _loading: this thread, re-entering from a plugin's import
                return
            self._loading = True
            try:
                for group in self.groups:
                    for ep in entry_points(group=group):
                        if ep.name in self._items:
                            continue
                        try:
                            self.register(ep.name, ep.load(), source=f"entry point {ep.value}")
                        except Exception:  # one broken plugin must not take the others down
                            log.exception("could not load %s plugin %r from %s", self.kind, ep.name, ep.value)
                self._loaded = True
            finally:
                self._loading = False

    def get(self, name: str) -> T:
        self._load_entry_points()
        if name not in self._items:
            known = ", ".join(sorted(self._items)) or "none"
            raise NotFound(
                f"No {self.kind} plugin named {name!r}.",
                hint=f"Registered: {known}. Install the package that provides it or fix the name.",
            )
        return self._items[name]

    def names(self) -> list[str]:
        self._load_entry_points()
        return sorted(self._items)

    def describe(self) -> dict[str, str]:
        self._load_entry_points()
        return {name: self._sources[name] for name in sorted(self._items)}


providers: Registry[Any] = Registry("providers", "Model providers the gateway calls (openai, anthropic, local).")
embedders: Registry[Any] = Registry("embedders", "Text embedders for retrieval and similarity.")
vector_stores: Registry[Any] = Registry("vector_stores", "Vector index backends.")
scorers: Registry[Any] = Registry("scorers", "Evaluation scorers.")
guardrail_checks: Registry[Any] = Registry(
    "guardrail_checks", "Input and output guardrail checks.", also_groups=("stackwright.guardrails",)
)
executors: Registry[Any] = Registry("executors", "Where batch jobs run (local pool, Ray).")


def all_registries() -> list[Registry[Any]]:
    from stackwright.core.layers import registry as layers

    return [layers, providers, embedders, vector_stores, scorers, guardrail_checks, executors]
