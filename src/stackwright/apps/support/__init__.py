"""The reference customer-support assistant: classify → account → retrieve → answer → escalate,
with guardrails on both sides, served through the release route `support.answer`."""

from __future__ import annotations

from typing import Any


def ask(question: str, *, user_id: str | None = None, **kwargs: Any) -> Any:
    """Run the support flow once through the whole stack (stub until the app lands)."""
    raise NotImplementedError(
        "stackwright.apps.support.ask is not built yet: the support flow is being written; "
        "run `stackwright demo seed` once it exists."
    )


__all__ = ["ask"]
