"""client.traces, scores, datasets, evals and jobs against a real `stackwright serve` (one per module, SQLite):
each resource's happy path and a bad input raising the typed error; the async client and in-process checks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from stackwright.sdk import AsyncClient, Client, ConflictError, InvalidRequestError, NotFoundError
from tests.conftest import TEST_API_KEY
from tests.e2e.serverproc import ServerProcess, clean_env, free_ports
from tests.tracing.otlp_payloads import export_json, new_span_id, new_trace_id, span_json

pytestmark = pytest.mark.e2e
WAIT_S = 60.0  # how long we are willing to wait for background work; never asserted as a speed


def wait_for(read: Callable[[], dict[str, Any]], done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_S
    while True:
        value = read()
        if done(value):
            return value
        assert time.monotonic() < deadline, value
        time.sleep(0.05)


def send_trace(base_url: str, *, user: str, question: str, answer: str, error: bool = False, start: int = 0) -> str:
    """Ingest one two-span trace over OTLP/HTTP JSON; returns its id."""
    trace_id, root = new_trace_id(), new_span_id()
    spans = [
        span_json(trace_id, root, "answer", start=start, duration=5_000_000,
                  attributes={"input.value": question, "output.value": answer, "user.id": user, "stackwright.route": "support.answer"},
                  status={"code": 2, "message": "boom"} if error else None),  # fmt: skip
        span_json(trace_id, new_span_id(), "llm", parent=root, start=start + 1000, duration=1_000_000,
                  attributes={"llm.model_name": "gpt-4o-mini", "llm.token_count.prompt": 10, "llm.token_count.completion": 5}),  # fmt: skip
    ]
    response = httpx.post(f"{base_url}/v1/traces", json=export_json(*spans), headers={"Authorization": f"Bearer {TEST_API_KEY}"})
    assert response.status_code == 200, response.text
    return trace_id


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    workdir: Path = tmp_path_factory.mktemp("sdk-server")
    env = clean_env(home=workdir / "home", init_api_key=TEST_API_KEY, log_level="warning")
    with ServerProcess(workdir / "run", env, free_ports()[0]) as proc:
        proc.wait_ready()
        yield proc


@pytest.fixture(scope="module")
def traces(server: ServerProcess) -> dict[str, str]:
    """Three traces: two of user-1 (one failed), one of user-2."""
    return {
        "ok": send_trace(server.base_url, user="user-1", question="How long do refunds take?", answer="5 days"),
        "error": send_trace(server.base_url, user="user-1", question="Reset my password", answer="", error=True, start=10_000_000),
        "other": send_trace(server.base_url, user="user-2", question="Where is my parcel?", answer="On its way", start=20_000_000),
    }


@pytest.fixture
def sdk(server: ServerProcess) -> Iterator[Client]:
    with Client(server.base_url, TEST_API_KEY) as client:
        yield client


def test_traces_list_iterate_get_span_and_stats(sdk: Client, traces: dict[str, str]) -> None:
    first = sdk.traces.list(limit=2)
    assert len(first) == 2 and first.next_cursor
    assert [t["trace_id"] for t in first] == [traces["other"], traces["error"]]  # newest first
    assert [t["trace_id"] for t in sdk.traces.iter(limit=1)] == [traces["other"], traces["error"], traces["ok"]]
    assert [t["trace_id"] for t in sdk.traces.list(status="error")] == [traces["error"]]
    assert [t["trace_id"] for t in sdk.traces.list(user_id="user-1", sort="start_time")] == [traces["ok"], traces["error"]]
    assert [t["trace_id"] for t in sdk.traces.list(q="parcel")] == [traces["other"]]
    trace = sdk.traces.get(traces["ok"])
    assert trace["trace"]["trace_id"] == traces["ok"] and [s["name"] for s in trace["spans"]] == ["answer", "llm"]
    span = sdk.traces.span(traces["ok"], trace["spans"][0]["span_id"])
    assert span["input"] == "How long do refunds take?"
    totals = sdk.traces.stats()["data"][0]
    assert (totals["count"], totals["error_count"]) == (3, 1)
    with pytest.raises(NotFoundError):
        sdk.traces.get(new_trace_id())
    with pytest.raises(InvalidRequestError, match="sort"):
        sdk.traces.list(sort="colour")
    with pytest.raises(InvalidRequestError):
        sdk.traces.stats(group_by="colour")


def test_scores_create_list_delete(sdk: Client, traces: dict[str, str]) -> None:
    made = sdk.scores.create(traces["ok"], "helpful", True, comment="resolved")
    assert (made["name"], made["data_type"], made["trace_id"]) == ("helpful", "boolean", traces["ok"])
    sdk.scores.create(traces["ok"], "quality", 0.8)
    listed = sdk.scores.list(trace_id=traces["ok"])
    assert [s["name"] for s in listed] == ["quality", "helpful"]
    assert [s["name"] for s in sdk.scores.iter(trace_id=traces["ok"], limit=1)] == ["quality", "helpful"]
    assert sdk.scores.delete(made["id"]) is None
    assert [s["name"] for s in sdk.scores.list(trace_id=traces["ok"], name="helpful")] == []
    with pytest.raises(InvalidRequestError):
        sdk.scores.create(traces["ok"], "bad", "")  # a category label needs 1 to 200 characters
    with pytest.raises(NotFoundError):
        sdk.scores.delete(made["id"])


def test_datasets_lifecycle(sdk: Client, traces: dict[str, str]) -> None:
    created = sdk.datasets.create("cases", description="regression set")
    assert created["name"] == "cases"
    added = sdk.datasets.add_item("cases", {"question": "refunds?"}, expected="5 days", metadata={"tag": "billing"})
    assert added["ref"] == "cases@1"
    imported = sdk.datasets.import_items("cases", [{"input": "hi", "expected": "hello"}, {"input": "bye"}], mode="append")
    assert imported["ref"] == "cases@2"
    assert [d["name"] for d in sdk.datasets.list()] == ["cases"]
    assert sdk.datasets.get("cases")["latest"]["version"] == 2
    assert [v["version"] for v in sdk.datasets.versions("cases")] == [2, 1]
    page = sdk.datasets.items("cases", 2, limit=2)
    assert page["version"]["version"] == 2 and len(page["data"]) == 2 and page["next_cursor"]
    items = list(sdk.datasets.iter_items("cases", 2, limit=1))
    assert [i["input"] for i in items] == [{"question": "refunds?"}, "hi", "bye"]
    patched = sdk.datasets.update_item("cases", items[2]["id"], expected="goodbye", message="fix")
    removed = sdk.datasets.remove_item("cases", items[1]["id"])
    assert (patched["ref"], removed["ref"]) == ("cases@3", "cases@4")
    exported = sdk.datasets.export("cases", format="jsonl").splitlines()
    assert len(exported) == 2 and "goodbye" in exported[1]
    assert "hello" in sdk.datasets.export("cases", 2, format="csv")
    from_traces = sdk.datasets.from_traces("from-prod", {"user_id": "user-1"}, limit=10)
    assert from_traces["created"] and from_traces["ref"] == "from-prod@1"
    assert {str(i["input"]) for i in sdk.datasets.iter_items("from-prod", 1)} == {"How long do refunds take?", "Reset my password"}
    with pytest.raises(NotFoundError):
        sdk.datasets.get("nope")
    with pytest.raises(InvalidRequestError):
        sdk.datasets.create("bad name!")
    with pytest.raises(InvalidRequestError):
        sdk.datasets.export("cases", format="xml")


def test_evals_run_get_list_compare_resume(sdk: Client) -> None:
    sdk.datasets.import_items("eval-cases", [{"input": "Refunds take 5 days.", "expected": "5 days"}])
    spec = {"name": "smoke", "dataset": "eval-cases", "target": {"model": "local/extractive"}, "scorers": ["contains"]}
    finished = []
    for name in ("base", "new"):
        started = sdk.evals.run(spec, name=name)
        assert started["total_cases"] == 1 and started["dataset"] == "eval-cases@1"
        finished.append(wait_for(lambda: sdk.evals.get(started["id"]), lambda run: run["status"] != "running"))
    assert [run["status"] for run in finished] == ["completed", "completed"]
    assert len(finished[0]["cases"]["data"]) == 1 and finished[0]["completed_cases"] == 1
    assert sdk.evals.get("new")["id"] == finished[1]["id"]  # by name: the newest run of that name
    assert [run["name"] for run in sdk.evals.list()["data"]] == ["new", "base"]
    assert sdk.evals.list(name="base")["data"][0]["id"] == finished[0]["id"]
    compared = sdk.evals.compare("base", "new")
    assert compared["same_dataset"] and compared["scorers"]["contains"]["paired"] == 1
    resumed = sdk.evals.resume("new")  # every case has a result: nothing runs again
    assert resumed["id"] == finished[1]["id"]
    assert wait_for(lambda: sdk.evals.get(resumed["id"]), lambda run: run["status"] != "running")["completed_cases"] == 1
    with pytest.raises(NotFoundError):
        sdk.evals.resume("no-such-run")
    with pytest.raises(InvalidRequestError, match="unknown scorer"):
        sdk.evals.run({**spec, "scorers": ["contans"]})
    with pytest.raises(NotFoundError):
        sdk.evals.get("no-such-run")


def test_jobs_enqueue_get_list_cancel_schedules(sdk: Client) -> None:
    job = sdk.jobs.enqueue("noop", {"result": {"x": 1}})
    assert (job["kind"], job["status"]) == ("noop", "queued")
    done = wait_for(lambda: sdk.jobs.get(job["id"]), lambda j: j["status"] == "succeeded")
    assert done["result"] == {"result": {"x": 1}} and done["logs"]
    assert "logs" not in sdk.jobs.get(job["id"], logs=False)
    slow = sdk.jobs.enqueue("sleep", {"seconds": 600, "ticks": 1000})
    asked = sdk.jobs.cancel(slow["id"])
    assert asked["status"] == "cancelled" or asked["cancel_requested"]
    wait_for(lambda: sdk.jobs.get(slow["id"], logs=False), lambda j: j["status"] == "cancelled")
    assert [j["id"] for j in sdk.jobs.list(kind="noop")["data"]] == [job["id"]]
    assert [j["id"] for j in sdk.jobs.list(status="cancelled")["data"]] == [slow["id"]]
    schedule = sdk.jobs.set_schedule("nightly", "0 2 * * *", "noop", enabled=False)
    assert (schedule["name"], schedule["cron"], schedule["enabled"]) == ("nightly", "0 2 * * *", False)
    assert [s["name"] for s in sdk.jobs.list_schedules()] == ["nightly"]
    assert sdk.jobs.delete_schedule("nightly") == {"deleted": "nightly"}
    with pytest.raises(ConflictError):
        sdk.jobs.cancel(job["id"])
    with pytest.raises(InvalidRequestError):
        sdk.jobs.enqueue("no-such-kind")
    with pytest.raises(InvalidRequestError):
        sdk.jobs.set_schedule("bad", "every day", "noop")
    with pytest.raises(NotFoundError):
        sdk.jobs.get("job_missing")


def test_traces_delete_by_user(sdk: Client, traces: dict[str, str]) -> None:
    trace_id = send_trace(sdk.base_url, user="leaving-user", question="Forget me", answer="ok", start=30_000_000)
    deleted = sdk.traces.delete_user("leaving-user")
    assert (deleted["deleted_traces"], deleted["deleted_spans"]) == (1, 2)
    with pytest.raises(NotFoundError):
        sdk.traces.get(trace_id)
    with pytest.raises(InvalidRequestError):
        sdk.traces.delete_user("")


def test_async_client_pages_and_raises_the_same(server: ServerProcess, traces: dict[str, str]) -> None:
    async def main() -> tuple[list[str], str]:
        async with AsyncClient(server.base_url, TEST_API_KEY) as client:
            ids = [t["trace_id"] async for t in client.traces.iter(limit=1, user_id="user-1")]
            score = await client.scores.create(traces["other"], "label", "good")
            with pytest.raises(NotFoundError):
                await client.datasets.items("nope", 1)
            return ids, score["data_type"]

    ids, data_type = asyncio.run(main())
    assert ids == [traces["error"], traces["ok"]] and data_type == "categorical"


def test_in_process_client_has_the_same_resources(client: Client) -> None:
    assert client.datasets.create("local")["name"] == "local"
    assert client.jobs.list()["data"] == [] and client.traces.list().data == []
    with pytest.raises(NotFoundError):
        client.evals.compare("a", "b")
