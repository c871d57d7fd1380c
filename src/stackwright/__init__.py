"""Stackwright: the open, self-hostable AI engineering stack for LLM applications."""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"
_EXPORTS = {
    "Client": "stackwright.sdk.client",
    "AsyncClient": "stackwright.sdk.client",
    "StackwrightAPIError": "stackwright.sdk.errors",
    "observe": "stackwright.sdk.observe",
    "configure_tracing": "stackwright.sdk.observe",
    "flush": "stackwright.sdk.observe",
    "current_span": "stackwright.sdk.observe",
}
__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    # Lazy, so `import stackwright` (and the CLI's --help) stay fast.
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'stackwright' has no attribute {name!r}")
