"""`GET /metrics` in the Prometheus text format.

Each app has its own ``CollectorRegistry`` (on ``app.state.metrics``), never the process-global one,
so several apps in one process (tests, workers) do not mix or collide. HTTP counts and latencies come
from ``RequestMiddleware``; ingest counts from the span writer, tokens and cost from the spans that
were really written (re-sent duplicates are not counted twice).

``/metrics`` needs no API key, like any Prometheus target. The server binds to loopback by default;
if you bind it to other addresses, firewall the path (or the port) so that only your Prometheus can
scrape it. Labels are bounded: routes are templates (``/api/v1/traces/{trace_id}``, never the id) or
``unmatched``; at most ``MAX_MODELS`` model names, then ``other``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

router = APIRouter(tags=["monitoring"])
MAX_MODELS = 200
UNMATCHED = "unmatched"


class Metrics:
    """The metrics of one app, in their own registry."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.http_requests = Counter(
            "stackwright_http_requests", "HTTP requests by method, route template and status code.",
            ["method", "route", "status"], registry=registry,
        )  # fmt: skip
        self.http_duration = Histogram(
            "stackwright_http_request_duration_seconds", "HTTP request latency by method and route template, in seconds.",
            ["method", "route"], registry=registry,
        )  # fmt: skip
        self.spans_accepted = Counter(
            "stackwright_ingest_spans_accepted", "Spans decoded, valid and queued for writing.", registry=registry
        )
        self.spans_written = Counter(
            "stackwright_ingest_spans_written", "New spans committed to the database.", registry=registry
        )
        self.spans_duplicate = Counter(
            "stackwright_ingest_spans_duplicate", "Re-sent spans skipped because they were already stored.", registry=registry
        )
        self.spans_rejected = Counter(
            "stackwright_ingest_spans_rejected",
            "Spans refused after decoding: busy (queue full, answered 429), failed (could not be stored).",
            ["reason"], registry=registry,
        )  # fmt: skip
        self.requests_rejected = Counter(
            "stackwright_ingest_requests_rejected", "OTLP export requests refused after authentication, by error code.", ["code"], registry=registry
        )
        self.batches = Counter(
            "stackwright_ingest_batches", "Group-commit transactions written by the span writer.", registry=registry
        )
        self.queue_depth = Gauge(
            "stackwright_ingest_queue_spans", "Spans accepted and waiting to be written.", registry=registry
        )
        self.tokens = Counter(
            "stackwright_llm_tokens", "Tokens of written spans by model and direction (input, output).",
            ["model", "direction"], registry=registry,
        )  # fmt: skip
        self.cost = Counter("stackwright_llm_cost_usd", "Cost in USD of written spans by model.", ["model"], registry=registry)
        self.gateway_requests = Counter(
            "stackwright_gateway_requests", "Gateway calls by model asked for and outcome (ok or an error code).",
            ["model", "outcome"], registry=registry,
        )  # fmt: skip
        self.gateway_duration = Histogram(
            "stackwright_gateway_duration_seconds", "Gateway call latency by model asked for, in seconds.", ["model"],
            registry=registry,
        )  # fmt: skip
        self.gateway_ttft = Histogram(
            "stackwright_gateway_time_to_first_token_seconds", "Time to the first streamed chunk by model.", ["model"],
            registry=registry,
        )  # fmt: skip
        self.gateway_cache = Counter(
            "stackwright_gateway_cache", "Gateway cache lookups: hit, miss (skip = not cacheable).", ["result"], registry=registry
        )
        self.gateway_attempt_failures = Counter(
            "stackwright_gateway_attempt_failures", "Failed upstream attempts by deployment and kind (timeout, server...).",
            ["deployment", "kind"], registry=registry,
        )  # fmt: skip
        self._models: set[str] = set()
        self._lock = threading.Lock()
        self._children: dict[tuple[Any, ...], Any] = {}  # labelled series already looked up (the hot paths)

    def _child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, remembered: prometheus_client's lookup takes a lock and builds keys."""
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self._child(self.http_requests, method, route, str(status)).inc()
        self._child(self.http_duration, method, route).observe(seconds)

    def _model_label(self, model: str | None) -> str:
        if not model:
            return "unknown"
        if model in self._models:  # a set only grows: a member stays one
            return model
        with self._lock:
            if model in self._models:
                return model
            if len(self._models) < MAX_MODELS:
                self._models.add(model)
                return model
        return "other"

    def observe_gateway(self, call: Any) -> None:
        """One finished gateway call (a stackwright.gateway.spans.CallRecord)."""
        model = self._model_label(call.asked_model)
        outcome = "ok" if call.error is None else (call.error_code or "error")
        self._child(self.gateway_requests, model, outcome).inc()
        self._child(self.gateway_duration, model).observe((call.end_ns - call.start_ns) / 1e9)
        if call.ttft_ms is not None:
            self._child(self.gateway_ttft, model).observe(call.ttft_ms / 1000)
        self._child(self.gateway_cache, call.cache).inc()
        for attempt in call.attempts:
            if attempt.error_kind:
                self.gateway_attempt_failures.labels(self._model_label(attempt.deployment), attempt.error_kind).inc()

    def observe_written(self, rows: Iterable[dict[str, Any]]) -> None:
        """Tokens and cost of spans that were really inserted, summed per model before touching the counters."""
        sums: dict[str, list[float]] = {}
        for row in rows:
            if row.get("input_tokens") is None and row.get("output_tokens") is None and row.get("cost") is None:
                continue
            entry = sums.setdefault(row.get("model") or "", [0, 0, 0.0])
            entry[0] += row.get("input_tokens") or 0
            entry[1] += row.get("output_tokens") or 0
            entry[2] += row.get("cost") or 0.0
        for model, (input_tokens, output_tokens, cost) in sums.items():
            label = self._model_label(model)
            if input_tokens:
                self.tokens.labels(label, "input").inc(input_tokens)
            if output_tokens:
                self.tokens.labels(label, "output").inc(output_tokens)
            if cost > 0:
                self.cost.labels(label).inc(cost)


def metrics_for(app: Any) -> Metrics:
    """The app's metrics (made on first use if the app was built without them)."""
    metrics = getattr(app.state, "metrics", None)
    if metrics is None:
        metrics = app.state.metrics = Metrics()
    return metrics


@router.get(
    "/metrics",
    summary="Prometheus metrics (text format); no key needed, so keep the server on loopback or firewall this path",
    response_class=Response,
)
def prometheus_metrics(request: Request) -> Response:
    return Response(generate_latest(metrics_for(request.app).registry), media_type=CONTENT_TYPE_LATEST)
