"""The reference customer-support assistant: guard input → classify intent ‖ look up the account →
retrieve → answer through the release route ``support.answer`` → guard output → decide escalation.

    from stackwright.apps.support import ask
    result = ask("How do I reset my password?", account="acct-1001")
    print(result.answer, result.trace_id)

Heavy imports happen inside the functions: importing this package is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stackwright.apps.support.app import SupportAnswer, SupportApp


def ask(question: str, *, user_id: str | None = None, account: str | None = None, session_id: str | None = None,
        settings: Any = None, base_url: str | None = None, api_key: str | None = None,
        prompt: str | None = None) -> SupportAnswer:  # fmt: skip
    """Run the support flow once through the whole stack and return a ``SupportAnswer`` (``.answer``,
    ``.trace_id``, ``.escalate``, ``.citations``, ``.prompt_version``, ``.model``...). Its spans are
    flushed and read back from the store before this returns (``.stored``). See ``app.ask``."""
    from stackwright.apps.support.app import ask as _ask

    return _ask(question, user_id=user_id, account=account, session_id=session_id, settings=settings,
                base_url=base_url, api_key=api_key, prompt=prompt)  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in ("SupportApp", "SupportAnswer"):
        from stackwright.apps.support import app

        return getattr(app, name)
    raise AttributeError(name)


__all__ = ["SupportAnswer", "SupportApp", "ask"]
