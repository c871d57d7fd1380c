"""Stackwright: the open, self-hostable AI engineering stack for LLM applications."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["AsyncClient", "Client", "StackwrightAPIError", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy, so `import stackwright` (and the CLI's --help) stay fast.
    if name in ("Client", "AsyncClient"):
        from stackwright.sdk import client

        return getattr(client, name)
    if name == "StackwrightAPIError":
        from stackwright.sdk.errors import StackwrightAPIError

        return StackwrightAPIError
    raise AttributeError(f"module 'stackwright' has no attribute {name!r}")
