"""GET /metrics: Prometheus text with request counts by route template, latency histograms, ingest counters,
queue depth, tokens and cost by model — per app, never the global registry."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import TEST_API_KEY, assert_error
from tests.tracing.otlp_payloads import export_json, new_span_id, new_trace_id, span_json


def scrape(client) -> dict[tuple[str, tuple], float]:
    """Every sample as {(name, sorted labels): value}."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def llm_payload(span_ids: list[str], trace_id: str) -> dict:
    attrs = {"llm.model_name": "gpt-4o-mini", "llm.token_count.prompt": 100, "llm.token_count.completion": 10,
             "stackwright.cost": 0.5}  # fmt: skip
    return export_json(*(span_json(trace_id, s, "llm", attributes=attrs) for s in span_ids))


def test_metrics_need_no_key_and_count_requests_by_route_template(anon, api):
    assert anon.get("/healthz").status_code == 200
    assert anon.get("/healthz").status_code == 200
    assert anon.get("/no/such/path/123").status_code == 404
    assert api.get("/api/v1/keys/key_doesnotexist00").status_code == 404
    samples = scrape(anon)
    assert value(samples, "stackwright_http_requests_total", method="GET", route="/healthz", status="200") == 2
    assert value(samples, "stackwright_http_requests_total", method="GET", route="unmatched", status="404") == 1
    keyed = [k for k in samples if k[0] == "stackwright_http_requests_total" and ("status", "404") in k[1]]
    assert all(dict(labels)["route"] in ("unmatched", "/api/v1/keys/{key_id}") for _, labels in keyed), keyed
    assert not any("doesnotexist" in str(labels) or "123" in str(labels) for _, labels in samples)
    assert value(samples, "stackwright_http_request_duration_seconds_count", method="GET", route="/healthz") == 2
    assert value(samples, "stackwright_http_request_duration_seconds_bucket", method="GET", route="/healthz", le="+Inf") == 2
    assert value(samples, "stackwright_ingest_queue_spans") == 0


def test_ingest_counters_tokens_and_cost_come_from_written_spans(api):
    trace_id, ids = new_trace_id(), [new_span_id() for _ in range(3)]
    assert api.post("/v1/traces", json=llm_payload(ids, trace_id)).status_code == 200
    assert api.post("/v1/traces", json=llm_payload(ids[:2], trace_id)).status_code == 200  # re-sent: duplicates
    assert_error(api.post("/v1/traces", content=b"{not json", headers={"Content-Type": "application/json"}), 400)
    assert_error(api.post("/v1/traces", content=b"{}", headers={"Content-Type": "text/plain"}), 415)
    samples = scrape(api)
    assert value(samples, "stackwright_ingest_spans_accepted_total") == 5
    assert value(samples, "stackwright_ingest_spans_written_total") == 3
    assert value(samples, "stackwright_ingest_spans_duplicate_total") == 2
    assert value(samples, "stackwright_ingest_batches_total") >= 1
    assert value(samples, "stackwright_llm_tokens_total", model="gpt-4o-mini", direction="input") == 300
    assert value(samples, "stackwright_llm_tokens_total", model="gpt-4o-mini", direction="output") == 30
    assert value(samples, "stackwright_llm_cost_usd_total", model="gpt-4o-mini") == pytest.approx(1.5)
    assert value(samples, "stackwright_ingest_requests_rejected_total", code="invalid_input") == 1
    assert value(samples, "stackwright_ingest_requests_rejected_total", code="unsupported_media_type") == 1
    assert value(samples, "stackwright_http_requests_total", method="POST", route="/v1/traces", status="200") == 2
    assert value(samples, "stackwright_http_requests_total", method="POST", route="/v1/traces", status="400") == 1


def test_busy_rejections_are_counted(api, app):
    app.state.span_writer.queued_spans = app.state.settings.ingest_queue_max_spans  # as if the queue were full
    try:
        assert_error(api.post("/v1/traces", json=llm_payload([new_span_id()] * 1, new_trace_id())), 429, "ingest_busy")
        samples = scrape(api)
        assert value(samples, "stackwright_ingest_queue_spans") == app.state.settings.ingest_queue_max_spans
    finally:
        app.state.span_writer.queued_spans = 0
    assert value(samples, "stackwright_ingest_spans_rejected_total", reason="busy") == 1
    assert value(samples, "stackwright_ingest_requests_rejected_total", code="ingest_busy") == 1
    assert value(samples, "stackwright_ingest_spans_written_total") == 0


def test_each_app_has_its_own_registry(settings, prepared, api):
    import httpx

    from stackwright.sdk.transport import InProcessTransport
    from stackwright.server.app import create_app

    assert api.get("/healthz").status_code == 200
    other = create_app(settings, prepared)
    headers = {"Authorization": f"Bearer {TEST_API_KEY}"}
    with httpx.Client(transport=InProcessTransport(other), base_url="http://t", headers=headers) as client:
        samples = scrape(client)
    assert value(samples, "stackwright_http_requests_total", method="GET", route="/healthz", status="200") == 0
    assert value(scrape(api), "stackwright_http_requests_total", method="GET", route="/healthz", status="200") == 1
