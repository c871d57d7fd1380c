"""`stackwright traces list|show`: the same answers as the API (one code path), tables and trees for people."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from stackwright.core.config import Settings
from tests.tracing.spans_helpers import send, span, span_id, trace_id


class TraceCli:
    def __init__(self, settings: Settings):
        self.env = {"STACKWRIGHT_HOME": str(settings.home), "STACKWRIGHT_DATABASE_URL": settings.database_url}
        self.runner = CliRunner()

    def __call__(self, *args: str) -> Result:
        from stackwright.cli.main import app

        return self.runner.invoke(app, ["traces", *args], env=self.env, catch_exceptions=False)

    def ok(self, *args: str) -> str:
        result = self(*args)
        assert result.exit_code == 0, f"{args}: {result.exit_code}\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json"))

    def fails(self, *args: str, needle: str) -> str:
        result = self(*args)
        assert result.exit_code == 1, f"{args}: {result.exit_code}\n{result.stdout}\n{result.stderr}"
        assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr, result.stderr
        assert needle.lower() in result.stderr.lower(), result.stderr
        return result.stderr


@pytest.fixture
def cli(settings: Settings, prepared) -> TraceCli:
    return TraceCli(settings)


@pytest.fixture
def traces(api: httpx.Client) -> dict[str, Any]:
    """Two traces: a chat with an LLM child (session s1, user u1) and a failed search (user u2)."""
    chat, root, llm = trace_id(), span_id(), span_id()
    llm_attrs = {
        "openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini", "llm.token_count.prompt": 120,
        "llm.token_count.completion": 30, "stackwright.cost": 0.0042,
    }  # fmt: skip
    send(
        api,
        [
            span(chat, root, "answer-question", 0, 100, attrs={"session.id": "s1", "user.id": "u1", "input.value": "hi"}),
            span(chat, llm, "chat gpt-4o-mini", 10, 40, parent=root, attrs=llm_attrs),
            span(chat, span_id(), "tool [lookup]", 30, 60, parent=root),
        ],
    )
    search = trace_id()
    send(api, [span(search, span_id(), "search", 1000, 1050, attrs={"user.id": "u2"}, error="index offline")])
    return {"chat": chat, "root": root, "llm": llm, "search": search}


def test_list_json_is_the_api_page(cli: TraceCli, api: httpx.Client, traces: dict[str, Any]) -> None:
    rows = cli.json("list")
    assert rows == api.get("/api/v1/traces").json()["data"]
    assert [r["trace_id"] for r in rows] == [traces["search"], traces["chat"]]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--model", "gpt-4o-mini"], ["chat"]),
        (["--status", "error"], ["search"]),
        (["--session", "s1"], ["chat"]),
        (["--user", "u2"], ["search"]),
        (["--name", "answer-question"], ["chat"]),
        (["--since", "2023-11-14T22:13:20.500Z"], ["search"]),
        (["--sort", "duration"], ["search", "chat"]),
        (["--limit", "1"], ["search"]),
        (["--model", "nope"], []),
    ],
)
def test_list_filters(cli: TraceCli, traces: dict[str, Any], args: list[str], expected: list[str]) -> None:
    assert [r["trace_id"] for r in cli.json("list", *args)] == [traces[k] for k in expected]


def test_list_pages_past_the_api_page_size(cli: TraceCli, api: httpx.Client) -> None:
    sent = [trace_id() for _ in range(510)]
    send(api, [span(t, span_id(), "bulk", i, i + 1) for i, t in enumerate(sent)])
    rows = cli.json("list", "--limit", "505")
    assert [r["trace_id"] for r in rows] == sent[::-1][:505]


def test_list_table(cli: TraceCli, traces: dict[str, Any]) -> None:
    out = cli.ok("list")
    assert traces["chat"] in out and traces["search"] in out
    assert "answer-question" in out and "gpt-4o-mini" in out and "0.004200" in out


def test_show_json_is_the_api_detail(cli: TraceCli, api: httpx.Client, traces: dict[str, Any]) -> None:
    detail = cli.json("show", traces["chat"])
    assert detail == api.get(f"/api/v1/traces/{traces['chat']}").json()
    assert [s["depth"] for s in detail["spans"]] == [0, 1, 1]
    assert detail["spans"][0]["self_time_ms"] == pytest.approx(50)


def test_show_tree(cli: TraceCli, traces: dict[str, Any]) -> None:
    out = cli.ok("show", traces["chat"])
    lines = out.splitlines()
    root_line = next(line for line in lines if "answer-question" in line and traces["root"] in line)
    assert "100.0 ms" in root_line and "self 50.0 ms" in root_line and "100.0%" in root_line
    llm_line = next(line for line in lines if "chat gpt-4o-mini" in line)
    assert "30.0 ms" in llm_line and "30.0%" in llm_line and "120→30 tok" in llm_line and "$0.004200" in llm_line
    assert lines.index(llm_line) > lines.index(root_line)
    assert any("tool [lookup]" in line for line in lines)  # names are not read as rich markup
    failed = cli.ok("show", traces["search"])
    assert "index offline" in failed


def test_show_prints_the_traces_web_ui_link(cli: TraceCli, traces: dict[str, Any]) -> None:
    """The link starts with STACKWRIGHT_PUBLIC_URL, else the host and port `serve` binds; --json stays the API's shape."""
    chat = traces["chat"]
    cli.env.update({"STACKWRIGHT_HOST": "0.0.0.0", "STACKWRIGHT_PORT": "9000", "STACKWRIGHT_PUBLIC_URL": ""})
    assert f"open in the web UI: http://127.0.0.1:9000/ui/traces/{chat}" in cli.ok("show", chat)
    cli.env["STACKWRIGHT_PUBLIC_URL"] = "https://sw.example.com/"
    assert f"open in the web UI: https://sw.example.com/ui/traces/{chat}\n" in cli.ok("show", chat)
    assert "url" not in cli.json("show", chat)
    cli.env["STACKWRIGHT_PUBLIC_URL"] = "sw.example.com"
    refused = cli("show", chat)
    assert refused.exit_code == 2 and "STACKWRIGHT_PUBLIC_URL" in refused.stderr and "must start with http://" in refused.stderr


def test_project_selection(cli: TraceCli, prepared, traces: dict[str, Any]) -> None:
    from stackwright.auth import service
    from stackwright.auth.actors import SYSTEM

    with prepared.write() as session:
        service.create_project(session, SYSTEM, "empty")
    assert len(cli.json("list")) == 2  # several projects: the one named 'default'
    assert cli.json("list", "--project", "default") == cli.json("list")
    assert cli.json("list", "--project", "empty") == []
    cli.fails("show", traces["chat"], "--project", "empty", needle="no trace")
    cli.fails("list", "--project", "missing", needle="no project 'missing'")


def test_project_must_be_named_when_ambiguous(cli: TraceCli, prepared) -> None:
    from sqlalchemy import update

    from stackwright.auth import service
    from stackwright.auth.actors import SYSTEM
    from stackwright.auth.models import Project

    with prepared.write() as session:
        session.execute(update(Project).where(Project.name == "default").values(name="first"))
        service.create_project(session, SYSTEM, "second")
    cli.fails("list", needle="--project")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["list", "--status", "maybe"], "status 'maybe'"),
        (["list", "--since", "last week"], "not a time"),
        (["list", "--sort", "size"], "sort 'size'"),
        (["show", "0123456789abcdef0123456789abcdef"], "no trace"),
        (["show", "not-a-trace"], "no trace"),
    ],
)
def test_bad_input_is_an_error_message(cli: TraceCli, traces: dict[str, Any], args: list[str], needle: str) -> None:
    cli.fails(*args, needle=needle)
