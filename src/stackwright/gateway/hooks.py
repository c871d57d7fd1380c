"""Where the layers above the gateway plug into a model call, so the gateway never imports them.

Layers install hooks through their registration (``extends={"gateway": install}``); ``install`` is given
this process's ``GatewayHooks`` once, on the first gateway built:

- ``prompt_renderer`` (prompts): renders ``"model": "prompt:NAME@LABEL"`` requests;
- ``route_resolver`` (releases): resolves ``"model": "route:ROUTE@ENV"`` to one arm's config;
- ``call_guard`` (guardrails): a factory ``(db, settings) -> guard`` whose ``before``/``after`` run the
  input and output checks around each call.

Providers, the local models among them, come from the providers registry (``core.plugins.providers``).
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from stackwright.core.errors import InvalidInput

PromptRenderer = Callable[[Any, str, str, dict[str, Any]], dict[str, Any]]  # (db, project_id, ref, variables)
RouteResolver = Callable[[Any, str, str, str, "str | None"], Awaitable[dict[str, Any]]]  # (db, project, route, env, subject)


@dataclass
class GatewayHooks:
    prompt_renderer: PromptRenderer | None = None
    route_resolver: RouteResolver | None = None
    call_guard: Callable[[Any, Any], Any] | None = None

    def renderer(self) -> PromptRenderer:
        if self.prompt_renderer is None:
            raise InvalidInput("`prompt:` models need the prompts layer, which is not installed.", code="layer_missing")
        return self.prompt_renderer

    def resolver(self) -> RouteResolver:
        if self.route_resolver is None:
            raise InvalidInput("`route:` models need the releases layer, which is not installed.", code="layer_missing")
        return self.route_resolver


_installed: GatewayHooks | None = None
_lock = threading.Lock()


def gateway_hooks() -> GatewayHooks:
    """This process's hooks, installed by the registered layers on first use."""
    global _installed
    if _installed is None:
        with _lock:
            if _installed is None:
                from stackwright.core.layers import extend

                hooks = GatewayHooks()
                extend("gateway", hooks)
                _installed = hooks
    return _installed
