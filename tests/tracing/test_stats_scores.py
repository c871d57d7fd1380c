"""Trace stats and scores, on SQLite and Postgres, with spans sent through the real OTLP ingest endpoint.

Expected numbers are computed here, independently, from the traces the test generated (numpy percentiles).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import numpy as np
import pytest
from sqlalchemy import func, select

from tests.conftest import assert_error
from tests.tracing.spans_helpers import BASE_NS, MS, send, span, span_id, trace_id

MODELS = ("gpt-4o", "claude-3-5-sonnet", None)
ROUTES = ("chat", "search")


# -- helpers (also used by test_retention.py and test_cli_admin.py) -------------------------------


def seed(client: httpx.Client, n: int = 36, *, rng_seed: int = 7, base_ns: int = BASE_NS, user_prefix: str = "user") -> list[dict]:
    """Send ``n`` two-span traces (root + LLM child), 15 s apart; returns what each trace should count as."""
    rng = np.random.default_rng(rng_seed)
    traces, spans = [], []
    for i in range(n):
        t, root, child = trace_id(), span_id(), span_id()
        start = i * 15_000  # ms after base_ns
        duration = int(rng.integers(20, 5000))  # whole ms: exact in ns and in float
        info = {
            "trace_id": t,
            "root": root,
            "child": child,
            "model": MODELS[i % 3],
            "route": ROUTES[i % 2],
            "environment": "staging" if i % 4 == 0 else "prod",
            "prompt_version": f"v{i % 2 + 1}",
            "user_id": f"{user_prefix}{i % 3}",
            "start_ns": base_ns + start * MS,
            "duration_ms": float(duration),
            "error": i % 5 == 0,
            "input_tokens": int(rng.integers(1, 1000)),
            "output_tokens": int(rng.integers(1, 500)),
            "cost": round(float(rng.random()), 6),
        }
        root_attrs = {
            "stackwright.route": info["route"],
            "stackwright.environment": info["environment"],
            "stackwright.prompt.name": "support",
            "stackwright.prompt.version": info["prompt_version"],
            "user.id": info["user_id"],
        }
        child_attrs: dict[str, Any] = {
            "llm.token_count.prompt": info["input_tokens"],
            "llm.token_count.completion": info["output_tokens"],
            "stackwright.cost": info["cost"],
        }
        if info["model"]:
            child_attrs["llm.model_name"] = info["model"]
        error = "boom" if info["error"] else None
        spans.append(span(t, root, "handle", start, start + duration, attrs=root_attrs, error=error, base_ns=base_ns))
        spans.append(span(t, child, "llm", start + 1, start + duration - 1, parent=root, attrs=child_attrs, base_ns=base_ns))
        traces.append(info)
    send(client, spans)
    return traces


def other_project(api: httpx.Client, name: str = "other") -> dict[str, str]:
    """Create a second project; returns headers with its admin key."""
    response = api.post("/api/v1/projects", json={"name": name})
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['api_key']['key']}"}


class as_project:  # noqa: N801 - reads as a function
    """The same in-process client posting with another project's credentials (enough for ``send``)."""

    def __init__(self, api: httpx.Client, headers: dict[str, str]):
        self.api, self.headers = api, headers

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.api.post(url, headers=self.headers, **kwargs)


def key_headers(api: httpx.Client, *scopes: str) -> dict[str, str]:
    response = api.post("/api/v1/keys", json={"name": "+".join(scopes), "scopes": list(scopes)})
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['key']}"}


def expected_stats(traces: list[dict], key: Callable[[dict], Any] = lambda t: None, bucket_ns: int | None = None) -> dict:
    """(group, bucket_start_ns) -> the numbers the stats endpoint must answer, computed independently."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for t in traces:
        bucket = t["start_ns"] // bucket_ns * bucket_ns if bucket_ns else None
        groups[(key(t), bucket)].append(t)
    out = {}
    for k, members in groups.items():
        durations = np.array([m["duration_ms"] for m in members])
        errors = sum(m["error"] for m in members)
        out[k] = {
            "count": len(members),
            "error_count": errors,
            "error_rate": errors / len(members),
            "p50": float(np.percentile(durations, 50)),
            "p95": float(np.percentile(durations, 95)),
            "p99": float(np.percentile(durations, 99)),
            "input_tokens": sum(m["input_tokens"] for m in members),
            "output_tokens": sum(m["output_tokens"] for m in members),
            "total_tokens": sum(m["input_tokens"] + m["output_tokens"] for m in members),
            "cost": sum(m["cost"] for m in members),
        }
    return out


def assert_stats(rows: list[dict], expected: dict) -> None:
    got = {(r["group"], r["bucket_start_ns"]): r for r in rows}
    assert set(got) == set(expected)
    for k, want in expected.items():
        row = got[k]
        for name in ("count", "error_count", "input_tokens", "output_tokens", "total_tokens"):
            assert row[name] == want[name], (k, name)
        assert row["error_rate"] == pytest.approx(want["error_rate"])
        assert row["cost"] == pytest.approx(want["cost"], rel=1e-9)
        for p in ("p50", "p95", "p99"):
            assert row["latency_ms"][p] == pytest.approx(want[p], rel=1e-12), (k, p)


def stats(client: httpx.Client, **params: Any) -> dict:
    response = client.get("/api/v1/traces/stats", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def count_scores(db) -> int:
    from stackwright.tracing.models import Score

    with db.read() as session:
        return session.scalar(select(func.count()).select_from(Score)) or 0


# -- stats ----------------------------------------------------------------------------------------


def test_stats_totals_match_numpy(api: httpx.Client) -> None:
    traces = seed(api)
    body = stats(api)
    assert body["group_by"] == "none" and body["bucket"] is None
    assert len(body["data"]) == 1
    assert_stats(body["data"], expected_stats(traces))
    assert body["data"][0]["error_count"] > 0  # the data set has errors to count


@pytest.mark.parametrize("group_by", ["model", "route", "environment", "prompt_version", "user_id"])
def test_stats_grouped(api: httpx.Client, group_by: str) -> None:
    traces = seed(api)
    body = stats(api, group_by=group_by)
    assert_stats(body["data"], expected_stats(traces, key=lambda t: t[group_by]))
    groups = [r["group"] for r in body["data"]]
    if group_by == "model":
        assert groups[-1] is None  # traces without a model form their own group, listed last


def test_stats_in_time_buckets(api: httpx.Client) -> None:
    traces = seed(api)
    minute = 60 * 10**9
    body = stats(api, bucket="1m")
    assert_stats(body["data"], expected_stats(traces, bucket_ns=minute))
    starts = [r["bucket_start_ns"] for r in body["data"]]
    assert starts == sorted(starts)
    assert body["data"][0]["bucket_start"] == datetime.fromtimestamp(starts[0] // 10**9, UTC).isoformat().replace("+00:00", "Z")

    by_model = stats(api, group_by="model", bucket="5m")
    assert_stats(by_model["data"], expected_stats(traces, key=lambda t: t["model"], bucket_ns=5 * minute))


def test_stats_filters(api: httpx.Client) -> None:
    traces = seed(api)
    assert_stats(stats(api, model="gpt-4o")["data"], expected_stats([t for t in traces if t["model"] == "gpt-4o"]))
    assert_stats(stats(api, route="search")["data"], expected_stats([t for t in traces if t["route"] == "search"]))
    assert_stats(
        stats(api, environment="staging", prompt_name="support", prompt_version="v1")["data"],
        expected_stats([t for t in traces if t["environment"] == "staging" and t["prompt_version"] == "v1"]),
    )
    errors = stats(api, status="error")["data"]
    assert_stats(errors, expected_stats([t for t in traces if t["error"]]))
    assert errors[0]["error_rate"] == 1.0
    # Time range: start inclusive, end exclusive; unix ns and ISO 8601 mean the same instant.
    lo, hi = traces[5]["start_ns"], traces[20]["start_ns"]
    window = expected_stats([t for t in traces if lo <= t["start_ns"] < hi])
    assert_stats(stats(api, start=str(lo), end=str(hi))["data"], window)
    iso = lambda ns: datetime.fromtimestamp(ns / 1e9, UTC).isoformat()  # noqa: E731 - whole seconds here
    assert_stats(stats(api, start=iso(lo), end=iso(hi))["data"], window)
    assert stats(api, model="no-such-model")["data"] == []


def test_stats_by_span_name(api: httpx.Client) -> None:
    traces = seed(api)
    body = stats(api, group_by="span_name")
    rows = {r["group"]: r for r in body["data"]}
    assert set(rows) == {"handle", "llm"}
    llm_durations = np.array([t["duration_ms"] - 2 for t in traces])
    assert rows["llm"]["count"] == len(traces)
    assert rows["llm"]["error_count"] == 0
    assert rows["llm"]["latency_ms"]["p95"] == pytest.approx(float(np.percentile(llm_durations, 95)))
    assert rows["llm"]["input_tokens"] == sum(t["input_tokens"] for t in traces)
    assert rows["handle"]["error_count"] == sum(t["error"] for t in traces)
    assert rows["handle"]["input_tokens"] == 0  # tokens belong to the LLM spans
    # Filters on route apply to the span's trace; model filters the spans themselves.
    chat = {r["group"]: r for r in stats(api, group_by="span_name", route="chat")["data"]}
    assert chat["handle"]["count"] == chat["llm"]["count"] == sum(t["route"] == "chat" for t in traces)
    gpt = {r["group"]: r for r in stats(api, group_by="span_name", model="gpt-4o")["data"]}
    assert set(gpt) == {"llm"} and gpt["llm"]["count"] == sum(t["model"] == "gpt-4o" for t in traces)


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"group_by": "user"}, 422),
        ({"status": "failed"}, 422),
        ({"bucket": "10x"}, 400),
        ({"bucket": "0m"}, 400),
        ({"bucket": "m"}, 400),
        ({"start": "yesterday"}, 400),
        ({"end": "2024-13-40"}, 400),
        ({"start": "99999999999999999999"}, 400),
        ({"start": "2024-01-02T00:00:00Z", "end": "2024-01-01T00:00:00Z"}, 400),
    ],
)
def test_stats_bad_parameters(api: httpx.Client, params: dict, status: int) -> None:
    assert_error(api.get("/api/v1/traces/stats", params=params), status)


def test_stats_see_only_own_project(api: httpx.Client) -> None:
    seed(api, n=6)
    other = other_project(api)
    assert stats(api)["data"][0]["count"] == 6
    assert api.get("/api/v1/traces/stats", headers=other).json()["data"] == []
    theirs = seed(as_project(api, other), n=3, rng_seed=1)
    assert_stats(api.get("/api/v1/traces/stats", headers=other).json()["data"], expected_stats(theirs))
    assert stats(api)["data"][0]["count"] == 6


# -- scores ---------------------------------------------------------------------------------------


def test_scores_of_every_type(api: httpx.Client) -> None:
    t = seed(api, n=1)[0]
    cases = [
        ({"value": 0.75}, "numeric", 0.75),
        ({"value": 3}, "numeric", 3),
        ({"value": True}, "boolean", True),
        ({"value": False, "source": "human", "comment": "wrong answer"}, "boolean", False),
        ({"value": 1, "data_type": "boolean"}, "boolean", True),
        ({"value": "helpful", "source": "eval"}, "categorical", "helpful"),
    ]
    for extra, data_type, value in cases:
        response = api.post("/api/v1/scores", json={"trace_id": t["trace_id"], "name": f"s-{data_type}", **extra})
        assert response.status_code == 201, response.text
        score = response.json()
        assert score["data_type"] == data_type
        assert score["value"] == value and type(score["value"]) is type(value) or data_type == "numeric"
        assert score["source"] == extra.get("source", "api")
        assert score["comment"] == extra.get("comment")
        assert score["trace_id"] == t["trace_id"] and score["span_id"] is None
    on_span = api.post(
        "/api/v1/scores", json={"trace_id": t["trace_id"].upper(), "span_id": t["child"], "name": "relevance", "value": 0.5}
    )
    assert on_span.status_code == 201, on_span.text
    assert on_span.json()["span_id"] == t["child"] and on_span.json()["trace_id"] == t["trace_id"]
    listed = api.get("/api/v1/scores", params={"trace_id": t["trace_id"]}).json()
    assert len(listed["data"]) == len(cases) + 1 and listed["next_cursor"] is None
    assert listed["data"][0]["name"] == "relevance"  # newest first


@pytest.mark.parametrize(
    "body",
    [
        {"name": "q", "value": 0.5, "colour": "red"},  # unknown field
        {"name": "q", "value": 0.5, "data_type": "categorical"},
        {"name": "q", "value": "good", "data_type": "numeric"},
        {"name": "q", "value": True, "data_type": "numeric"},
        {"name": "q", "value": 2, "data_type": "boolean"},
        {"name": "q", "value": ""},
        {"name": "q", "value": "x" * 201},
        {"name": "", "value": 1},
        {"name": "q"},
        {"name": "q", "value": None},
        {"name": "q", "value": [1]},
        {"name": "q", "value": 1, "source": "robot"},
        {"name": "q", "value": 1, "span_id": "xyz"},
        {"name": "q", "value": 1, "trace_id": "not-hex"},
    ],
)
def test_bad_scores_are_rejected(api: httpx.Client, prepared, body: dict) -> None:
    t = seed(api, n=1)[0]
    response = api.post("/api/v1/scores", json={"trace_id": t["trace_id"], **body})
    assert_error(response, 422, "validation_error")
    assert count_scores(prepared) == 0


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_non_finite_scores_are_rejected(api: httpx.Client, prepared, literal: bytes) -> None:
    t = seed(api, n=1)[0]
    raw = b'{"trace_id": "%s", "name": "q", "value": %s}' % (t["trace_id"].encode(), literal)
    response = api.post("/api/v1/scores", content=raw, headers={"Content-Type": "application/json"})
    assert "NaN and Infinity are not JSON" in assert_error(response, 400, "malformed_json")["message"]
    assert count_scores(prepared) == 0


def test_scores_need_a_trace_of_the_project(api: httpx.Client, prepared) -> None:
    t = seed(api, n=1)[0]
    other = other_project(api)
    assert_error(api.post("/api/v1/scores", json={"trace_id": "ab" * 16, "name": "q", "value": 1}), 404)
    assert_error(
        api.post("/api/v1/scores", json={"trace_id": t["trace_id"], "span_id": "cd" * 8, "name": "q", "value": 1}), 404
    )
    # Another project's trace looks exactly like a missing one.
    assert_error(api.post("/api/v1/scores", json={"trace_id": t["trace_id"], "name": "q", "value": 1}, headers=other), 404)
    assert count_scores(prepared) == 0
    read_only = key_headers(api, "read")
    assert_error(api.post("/api/v1/scores", json={"trace_id": t["trace_id"], "name": "q", "value": 1}, headers=read_only), 403)


def test_list_scores_filters_and_pages(api: httpx.Client) -> None:
    a, b = seed(api, n=2)
    for i in range(5):
        api.post("/api/v1/scores", json={"trace_id": a["trace_id"], "name": "quality", "value": i / 4})
    api.post("/api/v1/scores", json={"trace_id": b["trace_id"], "name": "quality", "value": 1, "source": "human"})
    api.post("/api/v1/scores", json={"trace_id": b["trace_id"], "name": "thumbs", "value": True, "source": "human"})
    assert len(api.get("/api/v1/scores", params={"trace_id": b["trace_id"]}).json()["data"]) == 2
    assert len(api.get("/api/v1/scores", params={"name": "quality"}).json()["data"]) == 6
    assert {s["name"] for s in api.get("/api/v1/scores", params={"source": "human"}).json()["data"]} == {"quality", "thumbs"}
    seen, cursor = [], None
    while True:
        page = api.get("/api/v1/scores", params={"limit": 3, **({"cursor": cursor} if cursor else {})}).json()
        seen += [s["id"] for s in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 7 and seen == sorted(seen, reverse=True)
    assert_error(api.get("/api/v1/scores", params={"cursor": "bogus"}), 400)
    assert_error(api.get("/api/v1/scores", params={"source": "robot"}), 422)


def test_delete_score_is_audited(api: httpx.Client) -> None:
    t = seed(api, n=1)[0]
    score = api.post("/api/v1/scores", json={"trace_id": t["trace_id"], "name": "q", "value": 0.2}).json()
    other = other_project(api)
    assert_error(api.delete(f"/api/v1/scores/{score['id']}", headers=other), 404)
    assert_error(api.delete(f"/api/v1/scores/{score['id']}", headers=key_headers(api, "read")), 403)
    assert api.delete(f"/api/v1/scores/{score['id']}").status_code == 204
    assert api.get("/api/v1/scores").json()["data"] == []
    assert_error(api.delete(f"/api/v1/scores/{score['id']}"), 404)
    assert_error(api.delete("/api/v1/scores/0"), 422)
    entries = api.get("/api/v1/audit", params={"action": "score.delete"}).json()["data"]
    assert len(entries) == 1 and entries[0]["object_id"] == str(score["id"])
    assert entries[0]["before"]["value"] == 0.2
    # Creating scores is not audited (it is as frequent as traces); deleting is.
    assert api.get("/api/v1/audit", params={"action": "score.create"}).json()["data"] == []


def test_scores_show_in_stats(api: httpx.Client) -> None:
    traces = seed(api, n=12)
    expected: dict[Any, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for i, t in enumerate(traces):
        quality = i / 11
        api.post("/api/v1/scores", json={"trace_id": t["trace_id"], "name": "quality", "value": quality})
        expected[t["model"]]["quality"].append(quality)
        if i % 2:
            api.post("/api/v1/scores", json={"trace_id": t["trace_id"], "name": "thumbs_up", "value": i % 3 == 0})
            expected[t["model"]]["thumbs_up"].append(float(i % 3 == 0))
        label = "good" if i % 3 else "bad"
        api.post("/api/v1/scores", json={"trace_id": t["trace_id"], "name": "verdict", "value": label})
        expected[t["model"]]["verdict"].append(label)
    rows = {r["group"]: r for r in stats(api, group_by="model")["data"]}
    assert set(rows) == set(expected)
    for model, by_name in expected.items():
        scores = rows[model]["scores"]
        assert set(scores) == set(by_name)
        for name in ("quality", "thumbs_up"):
            assert scores[name]["count"] == len(by_name[name])
            assert scores[name]["mean"] == pytest.approx(float(np.mean(by_name[name])))
        labels = by_name["verdict"]
        assert scores["verdict"] == {"count": len(labels), "mean": None, "values": {v: labels.count(v) for v in set(labels)}}
    # Span-level scores show on their span's name when grouping by span name.
    api.post("/api/v1/scores", json={"trace_id": traces[0]["trace_id"], "span_id": traces[0]["child"], "name": "rel", "value": 0.4})
    by_span = {r["group"]: r for r in stats(api, group_by="span_name")["data"]}
    assert by_span["llm"]["scores"] == {"rel": {"count": 1, "mean": pytest.approx(0.4), "values": None}}
    assert by_span["handle"]["scores"] == {}
