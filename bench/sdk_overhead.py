"""What ``@observe`` adds to a call: per-call time of a bare function, the same function decorated with
tracing off, and decorated with tracing on (exporting to an in-memory sink that only counts spans, so no
network is measured), for sync and async functions. Target: at most 25 µs added per span.

Also prints what the export thread spends per span turning spans into OTLP protobuf (off the caller's path).
Figures are medians of several rounds; compare ratios, the machines are small and noisy.
Usage: .venv/bin/python bench/sdk_overhead.py [--calls N] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from stackwright.sdk.observe import InMemoryExporter, configure_tracing, dropped_spans, flush, observe
from stackwright.sdk.observe.otlp import encode

TARGET_US = 25.0


def bare(question: str, top_k: int = 3) -> dict:
    return {"answer": question.upper(), "k": top_k}


async def abare(question: str, top_k: int = 3) -> dict:
    return {"answer": question.upper(), "k": top_k}


traced = observe(bare)
atraced = observe(abare)


def per_call_sync(func, calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        func("what is the refund policy?", top_k=5)
    return (time.perf_counter() - started) / calls * 1e6


def per_call_async(func, calls: int) -> float:
    async def run() -> float:
        started = time.perf_counter()
        for _ in range(calls):
            await func("what is the refund policy?", top_k=5)
        return (time.perf_counter() - started) / calls * 1e6

    return asyncio.run(run())


def median_of(rounds: int, measure) -> float:
    return statistics.median(measure() for _ in range(rounds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    sink = InMemoryExporter(keep=False)
    results: dict[str, dict[str, float]] = {}
    for label, bare_func, traced_func, timer in (
        ("sync", bare, traced, per_call_sync),
        ("async", abare, atraced, per_call_async),
    ):
        row = results[label] = {}
        row["bare"] = median_of(args.rounds, lambda: timer(bare_func, args.calls))
        configure_tracing(enabled=False)
        row["disabled"] = median_of(args.rounds, lambda: timer(traced_func, args.calls))
        configure_tracing(exporter=sink, max_queue_size=100_000)
        row["enabled"] = median_of(args.rounds, lambda: timer(traced_func, args.calls))
        flush(10)
    drops = dropped_spans()

    print(f"per-call time, median of {args.rounds} rounds of {args.calls} calls (µs):")
    print(f"{'':6} {'bare':>8} {'disabled':>9} {'enabled':>9} {'added/span':>11} {'ratio dis':>10} {'ratio en':>9}")
    for label, row in results.items():
        added = row["enabled"] - row["bare"]
        print(
            f"{label:6} {row['bare']:8.2f} {row['disabled']:9.2f} {row['enabled']:9.2f} {added:11.2f}"
            f" {row['disabled'] / row['bare']:9.2f}x {row['enabled'] / row['bare']:8.2f}x"
            f"   {'OK' if added <= TARGET_US else 'OVER'} (target <= {TARGET_US:.0f} µs)"
        )
    print(f"spans exported to the sink: {sink.exported}, dropped (queue full): {drops}")

    exporter = InMemoryExporter()
    configure_tracing(exporter=exporter)
    for _ in range(2000):
        traced("what is the refund policy?", top_k=5)
    flush(10)
    spans = exporter.spans
    started = time.perf_counter()
    body = encode(spans, {"service.name": "bench"}).SerializeToString()
    encode_us = (time.perf_counter() - started) / len(spans) * 1e6
    print(f"export thread, OTLP protobuf encoding: {encode_us:.2f} µs/span ({len(body) / len(spans):.0f} bytes/span)")
    configure_tracing(enabled=False)
    reference = otel_sdk_reference(args.calls, args.rounds)
    if reference is not None:
        print(
            f"reference, opentelemetry-sdk span with the same attributes (BatchSpanProcessor, no-op exporter): "
            f"{reference - results['sync']['bare']:.2f} µs added/span"
        )


def otel_sdk_reference(calls: int, rounds: int) -> float | None:
    """The same traced call built on opentelemetry-sdk's tracer, to show why the SDK has its own lean tracer."""
    try:
        import orjson
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
    except ImportError:
        return None

    class Discard(SpanExporter):
        def export(self, spans):
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Discard(), max_queue_size=100_000))
    tracer = provider.get_tracer("bench")

    def otel_traced(question: str, top_k: int = 3) -> dict:
        with tracer.start_as_current_span("bare") as span:
            span.set_attribute("openinference.span.kind", "CHAIN")
            span.set_attribute("input.value", orjson.dumps({"question": question, "top_k": top_k}).decode())
            span.set_attribute("input.mime_type", "application/json")
            result = bare(question, top_k)
            span.set_attribute("output.value", orjson.dumps(result).decode())
            span.set_attribute("output.mime_type", "application/json")
            return result

    try:
        return median_of(rounds, lambda: per_call_sync(otel_traced, calls))
    finally:
        provider.shutdown()


if __name__ == "__main__":
    main()
