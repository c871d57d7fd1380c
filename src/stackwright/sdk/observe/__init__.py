"""Tracing for your own code: ``@observe`` and ``with observe(...)``, exported to Stackwright over OTLP.

    from stackwright.sdk.observe import observe, configure_tracing, current_span, flush

    configure_tracing(api_key="sw-...", service_name="support-bot")   # or STACKWRIGHT_API_KEY

    @observe(kind="llm")
    def answer(question: str) -> str:
        current_span().set_usage(input_tokens=12, output_tokens=40, model="gpt-4o-mini", cost=0.0003)
        ...

Without an API key (or with ``enabled=False``) every span is a no-op.
"""

from stackwright.sdk.observe.config import TracingConfig, configure_tracing, dropped_spans, flush
from stackwright.sdk.observe.decorator import Observation, observe
from stackwright.sdk.observe.export import InMemoryExporter, SpanExporter
from stackwright.sdk.observe.span import KINDS, NoopSpan, Span, current_span

__all__ = [
    "KINDS",
    "InMemoryExporter",
    "NoopSpan",
    "Observation",
    "Span",
    "SpanExporter",
    "TracingConfig",
    "configure_tracing",
    "current_span",
    "dropped_spans",
    "flush",
    "observe",
]
