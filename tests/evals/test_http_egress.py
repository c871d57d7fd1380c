"""Eval `http:` targets sent through the API obey the egress policy (issue 13, SSRF finding): a literal
private address is refused when the run is created, a name that resolves to one is refused when the
case connects, the operator's allow-list lets them through, and an error answer is summarised (status
and JSON error message), never echoed. A real target server on loopback, the real runner."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from stackwright.auth.actors import cli_actor
from tests.conftest import TEST_API_KEY, assert_error

SECRET = "internal-admin-token-4242"


class _Target(BaseHTTPRequestHandler):
    """Answers {"output": ...} for a question; 500 with an HTML page holding a secret for "fail"."""

    def do_POST(self) -> None:  # noqa: N802
        case = json.loads(self.rfile.read(int(self.headers["content-length"])))
        self.server.hits += 1  # type: ignore[attr-defined]
        if case.get("question") == "fail":
            status, body, kind = 500, f"<html>stack trace ... {SECRET}</html>".encode(), "text/html"
        else:
            status, body, kind = 200, json.dumps({"output": f"answer to {case['question']}"}).encode(), "application/json"
        self.send_response(status)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def target() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Target)
    httpd.hits = 0  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def settings(settings):
    """The operator allows nothing beyond public addresses."""
    return settings.model_copy(update={"egress_allow": ()})


@pytest.fixture
def dataset(prepared) -> str:
    from stackwright.auth import service as auth_service
    from stackwright.datasets.editing import import_items

    items = [{"input": {"question": q}, "expected": "answer", "metadata": {}} for q in ("refunds", "fail")]
    with prepared.write() as session:
        project_id = auth_service.find_project(session, "default").id
        import_items(session, cli_actor(), project_id, "http-cases", items, ["line 1", "line 2"])
    return "http-cases"


def spec(url: str) -> dict[str, Any]:
    return {"name": "http-egress", "dataset": "http-cases", "target": {"http": url}, "scorers": ["contains"], "retries": 0, "timeout_s": 5}


def finished(api: httpx.Client, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        run = api.get(f"/api/v1/evals/runs/{run_id}").json()
        if run["status"] != "running":
            return run
        assert time.monotonic() < deadline, run
        time.sleep(0.05)


def started(api: httpx.Client, url: str) -> dict[str, Any]:
    response = api.post("/api/v1/evals/runs", json={"spec": spec(url)})
    assert response.status_code == 202, response.text
    return finished(api, response.json()["id"])


def errors(run: dict[str, Any]) -> dict[str, str | None]:
    return {case["input"]["question"]: case["error"] for case in run["cases"]["data"]}


def test_literal_private_targets_are_refused_when_the_run_is_created(api, dataset):
    for url in ("http://127.0.0.1:9/answer", "http://[::1]:9/answer", "http://169.254.169.254/latest/meta-data/",
                "http://10.0.0.8/answer", "http://localhost:9/answer"):  # fmt: skip
        error = assert_error(api.post("/api/v1/evals/runs", json={"spec": spec(url)}), 400, "egress_blocked")
        assert "STACKWRIGHT_EGRESS_ALLOW" in error["message"]
    assert api.get("/api/v1/evals/runs").json()["data"] == []


def test_names_resolving_to_private_addresses_are_refused_at_connect(api, dataset, target):
    run = started(api, f"http://127.1:{target.server_address[1]}/answer")  # passes the write-time check; resolves to 127.0.0.1
    assert run["status"] == "completed"
    for error in errors(run).values():
        assert "127.1 (127.0.0.1)" in error and "loopback" in error and "STACKWRIGHT_EGRESS_ALLOW" in error
    assert target.hits == 0


def test_allowed_targets_run_and_their_error_bodies_are_summarised(settings, prepared, dataset, target):
    from stackwright.sdk.transport import InProcessTransport
    from stackwright.server.app import create_app

    app = create_app(settings.model_copy(update={"egress_allow": ("127.0.0.1",)}), prepared)
    headers = {"Authorization": f"Bearer {TEST_API_KEY}"}
    try:
        with httpx.Client(transport=InProcessTransport(app), base_url="http://stackwright.test", headers=headers) as api:
            run = started(api, f"http://127.0.0.1:{target.server_address[1]}/answer")
            assert run["status"] == "completed"
            outcome = errors(run)
            assert outcome["refunds"] is None
            assert outcome["fail"].endswith(f"/answer answered 500: ({len(f'<html>stack trace ... {SECRET}</html>')} bytes, not shown)")
            assert SECRET not in api.get(f"/api/v1/evals/runs/{run['id']}").text
    finally:
        app.state.limits.close()
    assert target.hits == 2
