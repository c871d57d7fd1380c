"""``configure_tracing`` and ``flush``: where spans go, and the process-wide switches.

Without a call to ``configure_tracing`` the first traced call configures from the environment:
``STACKWRIGHT_BASE_URL`` (default http://127.0.0.1:8600) and ``STACKWRIGHT_API_KEY``; no key means
tracing is off and every span is a no-op.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Callable, Mapping
from typing import Any

from stackwright.sdk.observe.export import BatchProcessor, SpanExporter
from stackwright.sdk.observe.state import LOCK, STATE, internal_error, logger, reset_log_limits

DEFAULT_BASE_URL = "http://127.0.0.1:8600"
BASE_URL_ENV = "STACKWRIGHT_BASE_URL"
API_KEY_ENV = "STACKWRIGHT_API_KEY"
DEFAULT_SERVICE_NAME = "stackwright-app"


class TracingConfig:
    """The settings spans are recorded and exported with (read-only once built)."""

    __slots__ = (
        "enabled", "base_url", "api_key", "service_name", "environment", "redact", "max_payload_chars",
        "resource_attributes", "exporter",
    )
    enabled: bool
    base_url: str | None
    api_key: str | None
    service_name: str
    environment: str | None
    redact: Callable[[Any], Any] | None
    max_payload_chars: int
    resource_attributes: dict[str, Any]
    exporter: SpanExporter | None

    def __init__(self, **values: Any) -> None:
        for name in self.__slots__:
            setattr(self, name, values.get(name))

    def __repr__(self) -> str:
        shown = {name: getattr(self, name) for name in self.__slots__ if name != "api_key"}
        return f"TracingConfig({shown}, api_key={'set' if self.api_key else None})"


_atexit_registered = False


def configure_tracing(
    base_url: str | None = None,
    api_key: str | None = None,
    service_name: str | None = None,
    enabled: bool = True,
    exporter: SpanExporter | None = None,
    redact: Callable[[Any], Any] | None = None,
    max_payload_chars: int = 16384,
    *,
    environment: str | None = None,
    resource_attributes: Mapping[str, Any] | None = None,
    max_queue_size: int = 2048,
    max_batch_size: int = 512,
    schedule_delay: float = 1.0,
    export_timeout: float = 10.0,
    export_retries: int = 2,
) -> bool:
    """Set up (or reset) tracing; answers whether spans are now recorded.

    - ``base_url``/``api_key``: the Stackwright server spans are sent to (OTLP/HTTP protobuf, gzip, at
      ``{base_url}/v1/traces``); default ``STACKWRIGHT_BASE_URL``/``STACKWRIGHT_API_KEY``.
    - ``exporter``: send finished spans somewhere else instead, any object with ``export(spans) -> bool``
      (e.g. ``InMemoryExporter`` in tests); no API key is needed then.
    - ``enabled=False``, or neither a key nor an exporter: tracing is off, spans are no-ops.
    - ``service_name``: the ``service.name`` resource attribute (default ``OTEL_SERVICE_NAME``, else
      "stackwright-app"); ``environment`` is added to every span as ``stackwright.environment``;
      ``resource_attributes`` are extra resource attributes.
    - ``redact(value) -> value`` is applied to every input, output and document content before it is recorded.
    - ``max_payload_chars``: longer inputs/outputs are cut and end with a truncation marker.
    - Export runs in a daemon thread: at most ``max_queue_size`` finished spans wait (more are dropped and
      counted, the traced code is never blocked), sent in batches of ``max_batch_size`` at least every
      ``schedule_delay`` seconds; a failed send is retried ``export_retries`` times, then logged and dropped.
    """
    if redact is not None and not callable(redact):
        raise TypeError("redact must be a callable taking a value and returning the value to record")
    if int(max_payload_chars) < 1 or int(max_queue_size) < 1 or int(max_batch_size) < 1:
        raise ValueError("max_payload_chars, max_queue_size and max_batch_size must be positive")
    base_url = (base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).rstrip("/")
    api_key = api_key or os.environ.get(API_KEY_ENV) or None
    on = bool(enabled) and (exporter is not None or api_key is not None)
    config = TracingConfig(
        enabled=on,
        base_url=base_url,
        api_key=api_key,
        service_name=service_name or os.environ.get("OTEL_SERVICE_NAME") or DEFAULT_SERVICE_NAME,
        environment=environment,
        redact=redact,
        max_payload_chars=int(max_payload_chars),
        resource_attributes=dict(resource_attributes or {}),
        exporter=exporter,
    )
    with LOCK:
        old = STATE.processor
        STATE.active = False
        STATE.processor = None
        processor = None
        if on:
            if exporter is None:
                from stackwright.sdk.observe.otlp import OTLPHttpExporter

                exporter = OTLPHttpExporter(
                    f"{base_url}/v1/traces", api_key, timeout=export_timeout, retries=export_retries
                )
            processor = BatchProcessor(
                exporter,
                resource={
                    "service.name": config.service_name,
                    **({"deployment.environment.name": environment} if environment else {}),
                    **config.resource_attributes,
                },
                span_defaults={"stackwright.environment": environment} if environment else {},
                max_queue_size=int(max_queue_size),
                max_batch_size=int(max_batch_size),
                schedule_delay=float(schedule_delay),
            )
            _register_atexit()
        reset_log_limits()
        STATE.config = config
        STATE.processor = processor
        STATE.active = on
    if old is not None:
        old.shutdown(close_exporter=old.exporter is not exporter)  # drains in its own thread, does not wait
    if not on:
        reason = "disabled" if not enabled else f"no API key (set {API_KEY_ENV} or pass api_key=)"
        logger.debug("stackwright tracing is off: %s", reason)
    return on


def ensure_configured() -> TracingConfig:
    """The current config; the first call without ``configure_tracing`` reads the environment."""
    config = STATE.config
    if config is None:
        with LOCK:
            if STATE.config is None:
                configure_tracing()
            config = STATE.config
    return config


def flush(timeout: float = 5.0) -> bool:
    """Export every finished span now; answers False if that did not complete within ``timeout`` seconds.

    Never raises: an export failure is logged (``stackwright.sdk`` logger) and the spans are dropped.
    """
    try:
        processor = STATE.processor
        return True if processor is None else processor.flush(timeout)
    except Exception:
        internal_error("flushing spans")
        return False


def dropped_spans() -> int:
    """How many finished spans the current configuration dropped because the export queue was full."""
    processor = STATE.processor
    return 0 if processor is None else processor.dropped


def _register_atexit() -> None:
    global _atexit_registered
    if not _atexit_registered:
        atexit.register(_flush_at_exit)
        _atexit_registered = True


def _flush_at_exit() -> None:
    processor = STATE.processor
    if processor is not None:
        try:
            processor.flush(processor.shutdown_timeout)
            processor.exporter_shutdown()
        except Exception:
            internal_error("flushing spans at exit")
