"""Python targets and scorers the eval tests name in their specs (``tests.evals.pyfuncs:NAME``)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

_calls: dict[str, int] = {}
_lock = threading.Lock()


def echo(value: Any) -> str:
    return f"echo: {value.get('question') if isinstance(value, dict) else value}"


def boom(value: Any) -> str:
    if isinstance(value, dict) and value.get("question") == "delete account":
        raise RuntimeError("the target broke on purpose")
    return echo(value)


async def slow(value: Any) -> str:
    if isinstance(value, dict) and value.get("question") == "shipping time":
        await asyncio.sleep(5)
    return echo(value)


def flaky(value: Any) -> str:
    """Fails with a connection error the first time it sees each question, then answers."""
    key = str(value)
    with _lock:
        _calls[key] = _calls.get(key, 0) + 1
        first = _calls[key] == 1
    if first:
        raise ConnectionError("connection reset by peer")
    return echo(value)


def calls(value: Any) -> int:
    return _calls.get(str(value), 0)


def with_context(value: Any) -> dict[str, Any]:
    return {"output": "Refunds take five business days. We also sell rockets to the moon.",
            "context": ["Refunds are processed within five business days."], "retrieved_ids": ["d3", "d1", "d9"], "cost": 0.002}  # fmt: skip


def length_scorer(output: str) -> float:
    return len(output) / 100


def verdict_scorer(output: str, expected: Any) -> dict[str, Any]:
    return {"value": 1.0 if expected in output else 0.0, "reason": "looked for the expected text"}


def broken_scorer(output: str) -> float:
    raise ValueError("scorer bug")


def nan_scorer(output: str) -> float:
    return float("nan")
