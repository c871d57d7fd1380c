"""Process-wide tracing state and the SDK's own rate-limited logging.

The SDK never breaks the user's program: export failures and internal errors are logged through the
``stackwright.sdk`` logger, at most once a minute per kind of problem, and never raised.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

logger = logging.getLogger("stackwright.sdk")

LOG_INTERVAL = 60.0  # seconds between two records about the same problem


class _State:
    """What the hot path reads: ``active`` (False: every span is a no-op), the config and the processor.

    ``config is None`` means "not configured yet": the first traced call reads the environment.
    """

    __slots__ = ("active", "config", "processor")

    def __init__(self) -> None:
        self.active = True
        self.config: Any = None
        self.processor: Any = None


STATE = _State()
LOCK = threading.RLock()

_last_logged: dict[str, float] = {}
_suppressed: dict[str, int] = {}


def warn_limited(key: str, message: str, *args: Any, exc_info: bool = False) -> None:
    """Log a warning, unless one with the same ``key`` was logged less than LOG_INTERVAL seconds ago."""
    try:
        now = time.monotonic()
        last = _last_logged.get(key)
        if last is not None and now - last < LOG_INTERVAL:
            _suppressed[key] = _suppressed.get(key, 0) + 1
            return
        _last_logged[key] = now
        skipped = _suppressed.pop(key, 0)
        if skipped:
            message += " (%d similar messages suppressed)"
            args = (*args, skipped)
        logger.warning(message, *args, exc_info=exc_info)
    except Exception:  # logging itself failed (a broken handler): nothing more we can do
        pass


def internal_error(where: str) -> None:
    """Call from an ``except`` block: log the SDK's own bug with its traceback; the user's code keeps running."""
    warn_limited(
        "internal:" + where,
        "stackwright tracing: internal error while %s; the traced code is not affected",
        where,
        exc_info=True,
    )


def reset_log_limits() -> None:
    _last_logged.clear()
    _suppressed.clear()
