"""The release page with its live arm comparison, at 1M spans (part of bench/ui.py; `figures(server, runs)`).

Seeds through the API: prompt `bench-release` v1 and v2, the release support.answer in environment `bench`
(v1 stable, v2 as a 50 % canary), then `--arm-traces` (default 5,000) 10-span traces with LLM attributes sent
through OTLP after the candidate started, half on each arm (each span tagged with the route, environment and
arm, ~2 % of stable and ~4 % of candidate traces failing), and 200 scores on them. The store already holds
bench/ui.py's 1,000,000 spans (the same route, older, no environment); the page scans only the spans since the
candidate started (at most 200,000 of them) on the (project, start) index. The figure is the p50 of the whole
page request (release, gate, arm stats, history) for a signed-in browser: target <= 200 ms.
Alone: `cd bench && ../.venv/bin/python ui_releases.py [--spans 0]` seeds `--spans` month spans first.
"""

from __future__ import annotations

import random
import time

from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from ingest import MODELS, SPANS_PER_TRACE, Server, _kv, send_all
from ui_support import p50_ms, payloads, run_alone, sign_in, sign_in_form

ROUTE, ENV = "support.answer", "bench"
ARM_TRACES = 5_000
PAGE = f"/ui/releases/{ROUTE}?env={ENV}"


def _arm_trace(rng: random.Random, start_ns: int, arm: str) -> list[Span]:
    trace_id, root_id = rng.randbytes(16), rng.randbytes(8)
    failed = rng.random() < (0.04 if arm == "candidate" else 0.02)
    spans = []
    for i in range(SPANS_PER_TRACE):
        attrs: dict[str, object] = {"stackwright.route": ROUTE, "stackwright.environment": ENV, "stackwright.release.arm": arm,
                                    "user.id": f"u{rng.randrange(5000)}"}  # fmt: skip
        if i:
            attrs.update({"openinference.span.kind": "LLM", "llm.model_name": rng.choice(MODELS), "llm.provider": "openai",
                          "llm.token_count.prompt": rng.randrange(50, 2000), "llm.token_count.completion": rng.randrange(10, 400)})  # fmt: skip
        begin = start_ns + i * 1_000_000
        span = Span(trace_id=trace_id, span_id=root_id if i == 0 else rng.randbytes(8), parent_span_id=b"" if i == 0 else root_id,
                    name=ROUTE if i == 0 else "llm.chat", start_time_unix_nano=begin,
                    end_time_unix_nano=begin + rng.randrange(200, 3000) * 1_000_000, attributes=[_kv(k, v) for k, v in attrs.items()])  # fmt: skip
        if failed and i == SPANS_PER_TRACE - 1:
            span.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message="upstream error"))
        spans.append(span)
    return spans


def seed(server: Server, arm_traces: int = ARM_TRACES) -> None:
    api = server.client
    for template in ("Answer: {{ question }}", "Answer briefly and cite the help centre: {{ question }}"):
        api.post("/api/v1/prompts", json={"name": "bench-release", "type": "text", "template": template}).raise_for_status()
    api.post(
        f"/api/v1/releases/{ROUTE}/set", json={"env": ENV, "prompt": "bench-release@1", "model": "gpt-4o-mini"}
    ).raise_for_status()
    api.post(f"/api/v1/releases/{ROUTE}/canary", json={"env": ENV, "prompt": "bench-release@2", "share": 50}).raise_for_status()
    rng = random.Random(11)
    start = time.time_ns() + 1_000_000_000
    traces = [_arm_trace(rng, start + t * 1_000_000, "candidate" if t % 2 else "stable") for t in range(arm_traces)]
    trace_ids = [spans[0].trace_id.hex() for spans in traces]
    send_all(server, payloads(span for spans in traces for span in spans))
    deadline = time.time() + 120
    while api.get(f"/api/v1/traces/{trace_ids[-1]}").status_code != 200 and time.time() < deadline:
        time.sleep(0.1)
    for trace_id in trace_ids[:200]:
        api.post("/api/v1/scores", json={"trace_id": trace_id, "name": "helpfulness", "value": rng.random()}).raise_for_status()


def figures(server: Server, runs: int) -> list[tuple[str, float, int]]:
    seed(server)
    server.wait_idle()
    browser = sign_in(sign_in_form(server.url))

    def page(_: object) -> None:
        response = browser.get(PAGE)
        assert response.status_code == 200 and 'data-arm="candidate"' in response.text, response.status_code
        assert '<td class="num" data-requests>0</td>' not in response.text  # both arms have requests

    figure = p50_ms(page, runs)
    browser.close()
    return [("release page, live arm stats", figure, 200)]


if __name__ == "__main__":
    run_alone(figures, __doc__)
