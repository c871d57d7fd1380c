"""Structured logs: one JSON object per line (or readable text on a terminal), request id included."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

_STANDARD = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(f"{k}={v}" for k, v in vars(record).items() if k not in _STANDARD)
        line = f"{self.formatTime(record, '%H:%M:%S')} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if extras:
            line += f"  {extras}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def effective_format(fmt: str) -> str:
    """``json`` or ``text``: what ``auto`` means here (text on a terminal, else json)."""
    if fmt == "auto":
        return "text" if sys.stderr.isatty() else "json"
    return fmt


def json_record(logger: str, msg: str, level: int = logging.INFO, **fields: Any) -> str:
    """One JSON log line, as the configured handler writes it, for output that must be a log record
    even where logging is not configured (a CLI command)."""
    record = logging.LogRecord(logger, level, __file__, 0, msg, None, None)
    record.__dict__.update(fields)
    return JsonFormatter().format(record)


def configure_logging(level: str = "info", fmt: str = "auto") -> None:
    """Route stackwright's and uvicorn's logs through one handler on stderr."""
    fmt = effective_format(fmt)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    for name in ("stackwright", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False
    logging.getLogger("uvicorn.access").disabled = True  # the request middleware logs requests itself
