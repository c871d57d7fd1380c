"""The trace read API: list filters, sorts and cursors; the span tree; span bodies; sessions; isolation.

Spans go in through the real OTLP JSON endpoint (POST /v1/traces) and are read back through the API,
on SQLite and Postgres.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from stackwright.tracing.schemas import SessionDetail, SessionList, SpanDetail, TraceDetail, TraceList
from tests.conftest import assert_error
from tests.tracing.spans_helpers import BASE_NS, MS, send, span, span_id, trace_id


def llm_attrs(**kw: Any) -> dict[str, Any]:
    names = {
        "model": "llm.model_name", "prompt_name": "stackwright.prompt.name", "prompt_version": "stackwright.prompt.version",
        "route": "stackwright.route", "environment": "stackwright.environment", "user_id": "user.id",
        "session_id": "session.id", "cost": "stackwright.cost", "input": "input.value", "output": "output.value",
        "input_tokens": "llm.token_count.prompt", "output_tokens": "llm.token_count.completion",
    }  # fmt: skip
    return {names[k]: v for k, v in kw.items()}


def send_trace(api: httpx.Client, name: str, start_ms: float, duration_ms: float, *, error: str | None = None, **kw: Any) -> str:
    """A root span with the given attributes and one child LLM span; returns the trace id."""
    tid, root = trace_id(), span_id()
    child_attrs = {k: v for k, v in llm_attrs(**kw).items() if k.startswith("llm.") or k == "stackwright.cost"}
    root_attrs = {k: v for k, v in llm_attrs(**kw).items() if k not in child_attrs}
    send(
        api,
        [
            span(tid, root, name, start_ms, start_ms + duration_ms, attrs=root_attrs),
            span(tid, span_id(), "llm", start_ms + 1, start_ms + duration_ms - 1, parent=root, attrs=child_attrs, error=error),
        ],
    )
    return tid


@pytest.fixture
def seeded(api: httpx.Client) -> dict[str, str]:
    t1 = send_trace(
        api, "chat", 0, 100, model="gpt-4o-mini", prompt_name="support", prompt_version="3", route="support",
        environment="prod", user_id="u1", session_id="s1", cost=0.01, input="Hello, I want a REFUND please",
        output="Sure, refunded.", input_tokens=10, output_tokens=5,
    )  # fmt: skip
    t2 = send_trace(
        api, "chat", 1000, 300, error="rate limited", model="claude-3-5-haiku", prompt_name="support", prompt_version="4",
        route="support", environment="staging", user_id="u2", session_id="s1", cost=0.05, input="Where is my order?",
        input_tokens=20, output_tokens=0,
    )  # fmt: skip
    t3 = send_trace(api, "search", 2000, 50, user_id="u1", session_id="s2", input="find docs", output="3 documents")
    t4 = send_trace(
        api, "chat", 3000, 200, model="gpt-4o-mini", environment="prod", cost=0.02, input="discount",
        output="You get 100% off_now", input_tokens=7, output_tokens=3,
    )  # fmt: skip
    return {"t1": t1, "t2": t2, "t3": t3, "t4": t4}


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["trace_id"] for item in TraceList.model_validate(response.json()).model_dump()["data"]]


def test_list_is_newest_first_with_mapped_columns(api: httpx.Client, seeded: dict[str, str]) -> None:
    response = api.get("/api/v1/traces")
    assert ids(response) == [seeded[k] for k in ("t4", "t3", "t2", "t1")]
    body = response.json()
    assert body["next_cursor"] is None
    first = body["data"][-1]
    assert first["name"] == "chat" and first["status"] == "ok"
    assert first["start_ns"] == BASE_NS and first["start_time"] == "2023-11-14T22:13:20+00:00"
    assert first["duration_ms"] == 100 and first["span_count"] == 2 and first["error_count"] == 0
    assert (first["model"], first["prompt_name"], first["prompt_version"]) == ("gpt-4o-mini", "support", "3")
    assert (first["route"], first["environment"], first["user_id"], first["session_id"]) == ("support", "prod", "u1", "s1")
    assert (first["input_tokens"], first["output_tokens"], first["total_tokens"]) == (10, 5, 15)
    assert first["cost"] == pytest.approx(0.01)
    assert first["service_name"] == "test-service"
    assert first["input"] == "Hello, I want a REFUND please" and first["output"] == "Sure, refunded."
    errored = body["data"][2]
    assert errored["status"] == "error" and errored["error_count"] == 1


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"name": "chat"}, {"t1", "t2", "t4"}),
        ({"name": "cha"}, set()),
        ({"status": "error"}, {"t2"}),
        ({"status": "ok"}, {"t1", "t3", "t4"}),
        ({"model": "gpt-4o-mini"}, {"t1", "t4"}),
        ({"prompt_name": "support"}, {"t1", "t2"}),
        ({"prompt_name": "support", "prompt_version": "4"}, {"t2"}),
        ({"route": "support"}, {"t1", "t2"}),
        ({"environment": "prod"}, {"t1", "t4"}),
        ({"user_id": "u1"}, {"t1", "t3"}),
        ({"session_id": "s1"}, {"t1", "t2"}),
        ({"min_cost": "0.02"}, {"t2", "t4"}),
        ({"min_duration_ms": "150"}, {"t2", "t4"}),
        ({"q": "refund"}, {"t1"}),  # input, any case
        ({"q": "DOCUMENTS"}, {"t3"}),  # output
        ({"q": "100%"}, {"t4"}),  # LIKE wildcards are literal
        ({"q": "%"}, {"t4"}),
        ({"q": "u_g"}, set()),  # "_" would match "You get" as a wildcard
        ({"model": "gpt-4o-mini", "environment": "prod", "min_cost": "0.015"}, {"t4"}),
    ],
)
def test_filters(api: httpx.Client, seeded: dict[str, str], params: dict[str, str], expected: set[str]) -> None:
    assert set(ids(api.get("/api/v1/traces", params=params))) == {seeded[k] for k in expected}


def test_time_range_accepts_iso_and_unix_ns(api: httpx.Client, seeded: dict[str, str]) -> None:
    assert set(ids(api.get("/api/v1/traces", params={"start": str(BASE_NS + 1000 * MS)}))) == {seeded[k] for k in ("t2", "t3", "t4")}
    window = {"start": "2023-11-14T22:13:21Z", "end": "2023-11-14T22:13:23+00:00"}  # [t2, t4) by start time
    assert set(ids(api.get("/api/v1/traces", params=window))) == {seeded["t2"], seeded["t3"]}
    naive = {"end": "2023-11-14T22:13:20.500"}  # naive ISO is UTC
    assert ids(api.get("/api/v1/traces", params=naive)) == [seeded["t1"]]


@pytest.mark.parametrize(
    ("sort", "order"),
    [
        ("start_time", ["t1", "t2", "t3", "t4"]),
        ("-start_time", ["t4", "t3", "t2", "t1"]),
        ("duration", ["t3", "t1", "t4", "t2"]),
        ("-duration", ["t2", "t4", "t1", "t3"]),
        ("-cost", ["t2", "t4", "t1", "t3"]),
    ],
)
def test_sort_orders(api: httpx.Client, seeded: dict[str, str], sort: str, order: list[str]) -> None:
    assert ids(api.get("/api/v1/traces", params={"sort": sort})) == [seeded[k] for k in order]


@pytest.mark.parametrize("sort", ["-start_time", "start_time", "duration", "-duration", "cost", "-cost"])
def test_pagination_returns_every_trace_exactly_once(api: httpx.Client, sort: str) -> None:
    # Ties on every sort key (same start, duration and cost for several traces) are broken by trace id.
    expected = {send_trace(api, "t", (i % 4) * 10, 10 + (i % 3), cost=[0.0, 0.5, 0.25][i % 3]) for i in range(13)}
    whole = ids(api.get("/api/v1/traces", params={"sort": sort, "limit": 500}))
    seen, cursor, pages = [], None, 0
    while True:
        response = api.get("/api/v1/traces", params={"sort": sort, "limit": 4, **({"cursor": cursor} if cursor else {})})
        seen += ids(response)
        cursor, pages = response.json()["next_cursor"], pages + 1
        if cursor is None:
            break
    assert pages == 4
    assert seen == whole and len(seen) == 13 and set(seen) == expected


def test_cursor_keeps_filters(api: httpx.Client, seeded: dict[str, str]) -> None:
    first = api.get("/api/v1/traces", params={"model": "gpt-4o-mini", "limit": 1}).json()
    second = api.get("/api/v1/traces", params={"model": "gpt-4o-mini", "limit": 1, "cursor": first["next_cursor"]}).json()
    assert [first["data"][0]["trace_id"], second["data"][0]["trace_id"]] == [seeded["t4"], seeded["t1"]]
    assert second["next_cursor"] is None


def test_list_previews_are_capped(api: httpx.Client) -> None:
    tid = send_trace(api, "long", 0, 10, input="x" * 1500, output="y" * 20)
    item = api.get("/api/v1/traces").json()["data"][0]
    assert item["trace_id"] == tid and item["input"] == "x" * 500 and item["output"] == "y" * 20
    assert len(api.get(f"/api/v1/traces/{tid}").json()["trace"]["input"]) > 500  # the detail has the stored preview


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"status": "maybe"}, 400),
        ({"sort": "foo"}, 400),
        ({"start": "yesterday"}, 400),
        ({"end": "2024-13-45"}, 400),
        ({"start": "9" * 30}, 400),
        ({"min_cost": "nan"}, 400),
        ({"min_duration_ms": "inf"}, 400),
        ({"min_cost": "abc"}, 422),
        ({"min_duration_ms": "slow"}, 422),
        ({"limit": "0"}, 422),
        ({"limit": "501"}, 422),
        ({"limit": "ten"}, 422),
        ({"cursor": "not-a-cursor"}, 400),
        ({"cursor": "WyJ4Il0"}, 400),  # valid base64 and JSON, wrong shape
        ({"model": "a\x00b"}, 400),
    ],
)
def test_bad_filters_answer_the_error_shape(api: httpx.Client, seeded: dict[str, str], params: dict, status: int) -> None:
    assert_error(api.get("/api/v1/traces", params=params), status)


def test_cursor_from_another_sort_is_refused(api: httpx.Client, seeded: dict[str, str]) -> None:
    cursor = api.get("/api/v1/traces", params={"limit": 1}).json()["next_cursor"]
    error = assert_error(api.get("/api/v1/traces", params={"sort": "cost", "cursor": cursor}), 400, "invalid_input")
    assert "cursor" in error["message"].lower()


def test_unauthenticated_list_is_refused(anon: httpx.Client) -> None:
    assert_error(anon.get("/api/v1/traces"), 401)


# -- one trace -------------------------------------------------------------------------------------


def get_tree(api: httpx.Client, tid: str, **params: Any) -> dict[str, Any]:
    response = api.get(f"/api/v1/traces/{tid}", params=params)
    assert response.status_code == 200, response.text
    TraceDetail.model_validate(response.json())
    return response.json()


def test_tree_structure_self_time_and_share(api: httpx.Client) -> None:
    tid, root, a, b, g = trace_id(), span_id(), span_id(), span_id(), span_id()
    attrs = {
        "openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini", "llm.token_count.prompt": 100,
        "llm.token_count.completion": 20, "stackwright.cost": 0.003,
    }  # fmt: skip
    send(
        api,
        [  # sent children first and out of order: the tree does not depend on arrival order
            span(tid, b, "tool", 30, 60, parent=root),
            span(tid, g, "llm", 15, 20, parent=a, attrs=attrs),
            span(tid, a, "retrieve", 10, 40, parent=root),
            span(tid, root, "agent", 0, 100),
        ],
    )
    detail = get_tree(api, tid)
    assert detail["truncated"] is False and detail["trace"]["root_span_id"] == root
    spans = detail["spans"]
    tree = [(s["span_id"], s["depth"], s["parent_span_id"]) for s in spans]
    assert tree == [(root, 0, None), (a, 1, root), (g, 2, a), (b, 1, root)]
    by_id = {s["span_id"]: s for s in spans}
    assert by_id[root]["self_time_ms"] == pytest.approx(50)  # 100 - |[10, 60]|
    assert by_id[a]["self_time_ms"] == pytest.approx(25)
    assert by_id[b]["self_time_ms"] == pytest.approx(30)
    assert by_id[g]["self_time_ms"] == pytest.approx(5)
    assert by_id[root]["share"] == pytest.approx(1.0) and by_id[a]["share"] == pytest.approx(0.3)
    assert by_id[a]["offset_ms"] == pytest.approx(10)
    assert [by_id[x]["child_count"] for x in (root, a, g, b)] == [2, 1, 0, 0]
    llm = by_id[g]
    assert (llm["model"], llm["input_tokens"], llm["output_tokens"], llm["total_tokens"]) == ("gpt-4o-mini", 100, 20, 120)
    assert by_id[g]["cost"] == pytest.approx(0.003) and by_id[g]["kind"] == "llm"
    assert all(s["orphan"] is False for s in spans)
    assert "input" not in spans[0] and "attributes" not in spans[0]  # bodies load lazily


def test_children_outside_the_parent_are_clipped(api: httpx.Client) -> None:
    tid, root, c1, c2 = trace_id(), span_id(), span_id(), span_id()
    send(
        api,
        [span(tid, root, "root", 0, 100), span(tid, c1, "late", 80, 150, parent=root), span(tid, c2, "early", 90, 95, parent=root)],
    )
    by_id = {s["span_id"]: s for s in get_tree(api, tid)["spans"]}
    assert by_id[root]["self_time_ms"] == pytest.approx(80)  # only [80, 100] of the children lies inside the root
    assert by_id[root]["share"] == pytest.approx(100 / 150)  # the trace runs 0-150 ms
    assert by_id[c1]["self_time_ms"] == pytest.approx(70)


def test_orphans_become_roots_until_their_parent_arrives(api: httpx.Client) -> None:
    tid, root, lost, child = trace_id(), span_id(), span_id(), span_id()
    send(api, [span(tid, lost, "step", 10, 50, parent=root), span(tid, child, "inner", 20, 30, parent=lost)])
    spans = get_tree(api, tid)["spans"]
    assert [(s["span_id"], s["depth"], s["orphan"]) for s in spans] == [(lost, 0, True), (child, 1, False)]
    assert spans[0]["parent_span_id"] == root
    send(api, [span(tid, root, "request", 0, 60)])
    spans = get_tree(api, tid)["spans"]
    assert [(s["span_id"], s["depth"], s["orphan"]) for s in spans] == [(root, 0, False), (lost, 1, False), (child, 2, False)]


def test_parent_cycles_still_show_every_span(api: httpx.Client) -> None:
    tid, a, b = trace_id(), span_id(), span_id()
    send(api, [span(tid, a, "a", 0, 10, parent=b), span(tid, b, "b", 1, 9, parent=a)])
    spans = get_tree(api, tid)["spans"]
    assert [(s["span_id"], s["depth"]) for s in spans] == [(a, 0), (b, 1)]
    assert spans[0]["orphan"] is True


def test_deep_trace_opens_without_recursion(api: httpx.Client) -> None:
    tid, chain = trace_id(), [span_id() for _ in range(3000)]
    spans = [span(tid, sid, f"s{i}", i * 0.01, 100 - i * 0.01, parent=chain[i - 1] if i else None) for i, sid in enumerate(chain)]
    for start in range(0, len(spans), 1000):
        send(api, spans[start : start + 1000])
    detail = get_tree(api, tid, max_spans=5000)
    assert detail["trace"]["span_count"] == 3000
    assert [s["depth"] for s in detail["spans"]] == list(range(3000))
    assert [s["span_id"] for s in detail["spans"]] == chain


def test_max_spans_truncates_to_the_earliest(api: httpx.Client) -> None:
    tid, root = trace_id(), span_id()
    kids = [span_id() for _ in range(4)]
    children = [span(tid, k, f"k{i}", 10 * (i + 1), 10 * (i + 1) + 5, parent=root) for i, k in enumerate(kids)]
    send(api, [span(tid, root, "root", 0, 100), *children])
    detail = get_tree(api, tid, max_spans=3)
    assert detail["truncated"] is True and [s["span_id"] for s in detail["spans"]] == [root, kids[0], kids[1]]
    assert get_tree(api, tid, max_spans=5)["truncated"] is False
    assert_error(api.get(f"/api/v1/traces/{tid}", params={"max_spans": 0}), 422)
    assert_error(api.get(f"/api/v1/traces/{tid}", params={"max_spans": 200_001}), 422)


def test_trace_ids_are_case_insensitive_and_unknown_ones_404(api: httpx.Client, seeded: dict[str, str]) -> None:
    assert get_tree(api, seeded["t1"].upper())["trace"]["trace_id"] == seeded["t1"]
    assert_error(api.get(f"/api/v1/traces/{trace_id()}"), 404, "not_found")
    assert_error(api.get("/api/v1/traces/not-hex"), 404, "not_found")
    assert_error(api.get(f"/api/v1/traces/{'ab' * 40}"), 404, "not_found")


def test_span_body_is_loaded_on_its_own(api: httpx.Client) -> None:
    tid, root, leaf = trace_id(), span_id(), span_id()
    attrs = {
        "openinference.span.kind": "RETRIEVER", "input.value": "what is the refund window?", "output.value": "30 days",
        "retrieval.documents.0.document.id": "doc-1", "retrieval.documents.0.document.score": 0.9,
        "retrieval.documents.0.document.content": "Refunds within 30 days.", "custom.flag": True,
    }  # fmt: skip
    event = {"name": "cache.miss", "timeUnixNano": str(BASE_NS + 5 * MS), "attributes": [{"key": "k", "value": {"stringValue": "v"}}]}
    send(api, [span(tid, root, "root", 0, 50), span(tid, leaf, "retrieve", 5, 25, parent=root, attrs=attrs, events=[event])])
    response = api.get(f"/api/v1/traces/{tid}/spans/{leaf}")
    assert response.status_code == 200, response.text
    body = SpanDetail.model_validate(response.json()).model_dump()
    assert (body["trace_id"], body["span_id"], body["parent_span_id"], body["kind"]) == (tid, leaf, root, "retrieval")
    assert body["input"] == "what is the refund window?" and body["output"] == "30 days"
    assert body["documents"] == [{"id": "doc-1", "score": 0.9, "content": "Refunds within 30 days."}]
    assert body["attributes"]["custom.flag"] is True
    assert body["events"][0]["name"] == "cache.miss" and body["events"][0]["attributes"] == {"k": "v"}
    assert body["resource"] == {"service.name": "test-service"}
    assert body["duration_ms"] == pytest.approx(20) and body["status"] == "ok"
    assert_error(api.get(f"/api/v1/traces/{tid}/spans/{span_id()}"), 404, "not_found")
    assert_error(api.get(f"/api/v1/traces/{trace_id()}/spans/{leaf}"), 404, "not_found")
    assert_error(api.get(f"/api/v1/traces/{tid}/spans/xyz"), 404, "not_found")


def test_scores_come_with_the_trace_and_the_span(api: httpx.Client, prepared, seeded: dict[str, str]) -> None:
    from stackwright.auth.models import Project
    from stackwright.core.clock import utcnow
    from stackwright.tracing.models import Score

    tid = seeded["t1"]
    detail = get_tree(api, tid)
    leaf = detail["spans"][1]["span_id"]
    with prepared.write() as session:
        project_id = session.query(Project).filter_by(name="default").one().id
        common = {"project_id": project_id, "trace_id": tid, "author": "tests", "created_at": utcnow()}
        session.add(Score(name="helpful", data_type="numeric", value=0.8, source="human", comment="good", **common))
        session.add(Score(name="tone", data_type="categorical", string_value="polite", source="eval", span_id=leaf, **common))
    scores = get_tree(api, tid)["scores"]
    assert [(s["name"], s["value"], s["string_value"], s["span_id"], s["source"]) for s in scores] == [
        ("helpful", 0.8, None, None, "human"),
        ("tone", None, "polite", leaf, "eval"),
    ]
    assert scores[0]["comment"] == "good" and scores[0]["data_type"] == "numeric"
    span_scores = api.get(f"/api/v1/traces/{tid}/spans/{leaf}").json()["scores"]
    assert [s["name"] for s in span_scores] == ["tone"]
    assert get_tree(api, seeded["t2"])["scores"] == []


# -- sessions --------------------------------------------------------------------------------------


def test_sessions_list_and_detail(api: httpx.Client, seeded: dict[str, str]) -> None:
    response = api.get("/api/v1/sessions")
    assert response.status_code == 200, response.text
    data = SessionList.model_validate(response.json()).model_dump()["data"]
    assert [s["session_id"] for s in data] == ["s2", "s1"]  # s2's last trace started last
    s1 = data[1]
    assert (s1["trace_count"], s1["error_count"], s1["input_tokens"], s1["output_tokens"], s1["total_tokens"]) == (2, 1, 30, 5, 35)
    assert s1["cost"] == pytest.approx(0.06)
    assert (s1["first_start_ns"], s1["last_start_ns"]) == (BASE_NS, BASE_NS + 1000 * MS)
    assert s1["last_start_time"] == "2023-11-14T22:13:21+00:00"

    page1 = api.get("/api/v1/sessions", params={"limit": 1}).json()
    page2 = api.get("/api/v1/sessions", params={"limit": 1, "cursor": page1["next_cursor"]}).json()
    assert [page1["data"][0]["session_id"], page2["data"][0]["session_id"]] == ["s2", "s1"] and page2["next_cursor"] is None

    detail = api.get("/api/v1/sessions/s1")
    assert detail.status_code == 200, detail.text
    body = SessionDetail.model_validate(detail.json()).model_dump()
    assert body["session"]["trace_count"] == 2
    assert [t["trace_id"] for t in body["data"]] == [seeded["t1"], seeded["t2"]]  # oldest first
    paged = api.get("/api/v1/sessions/s1", params={"limit": 1}).json()
    rest = api.get("/api/v1/sessions/s1", params={"limit": 1, "cursor": paged["next_cursor"]}).json()
    assert [paged["data"][0]["trace_id"], rest["data"][0]["trace_id"]] == [seeded["t1"], seeded["t2"]]
    assert_error(api.get("/api/v1/sessions/nope"), 404, "not_found")
    assert_error(api.get("/api/v1/sessions", params={"cursor": "garbage!"}), 400)


# -- isolation -------------------------------------------------------------------------------------


@pytest.fixture
def other_api(app, prepared) -> httpx.Client:
    """A client with an admin key of a second project."""
    from stackwright.auth import keys, service
    from stackwright.auth.actors import SYSTEM
    from stackwright.sdk.transport import InProcessTransport

    with prepared.write() as session:
        project = service.create_project(session, SYSTEM, "other")
        _, raw = keys.create_key(session, SYSTEM, project.id, "other key", ["read", "write"])
    with httpx.Client(
        transport=InProcessTransport(app), base_url="http://stackwright.test", headers={"Authorization": f"Bearer {raw}"}
    ) as client:
        yield client


def test_other_projects_traces_are_invisible(api: httpx.Client, other_api: httpx.Client, seeded: dict[str, str]) -> None:
    tid = seeded["t1"]
    leaf = get_tree(api, tid)["spans"][1]["span_id"]
    assert other_api.get("/api/v1/traces").json() == {"data": [], "next_cursor": None}
    assert other_api.get("/api/v1/sessions").json() == {"data": [], "next_cursor": None}
    assert_error(other_api.get(f"/api/v1/traces/{tid}"), 404, "not_found")
    assert_error(other_api.get(f"/api/v1/traces/{tid}/spans/{leaf}"), 404, "not_found")
    assert_error(other_api.get("/api/v1/sessions/s1"), 404, "not_found")

    mine = send_trace(other_api, "other-chat", 0, 10, session_id="s1")
    assert ids(other_api.get("/api/v1/traces")) == [mine]
    assert mine not in ids(api.get("/api/v1/traces", params={"limit": 500}))
    assert_error(api.get(f"/api/v1/traces/{mine}"), 404)
    assert api.get("/api/v1/sessions/s1").json()["session"]["trace_count"] == 2
