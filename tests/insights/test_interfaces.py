"""The eight answers through every interface for a demo trace: `stackwright traces explain --json`, the SDK's
``client.traces.explain`` (sync and async) and `demo explain` answer what `demo ask --json` answered. A
database error stays an error (never "not found"); the trace's project is found in one query and the
trace's spans are read once."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from stackwright.core.config import Settings
from stackwright.insights.service import KEYS
from tests.insights.conftest import demo_api_key, run_cli


def test_traces_explain_answers_what_demo_ask_answered(seeded_demo, demo_answers) -> None:
    assert tuple(demo_answers) == KEYS and all(demo_answers[k] is not None for k in KEYS)
    result = run_cli(seeded_demo, "traces", "explain", demo_answers["trace_id"], "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == demo_answers
    alias = run_cli(seeded_demo, "demo", "explain", demo_answers["trace_id"], "--json")
    assert alias.exit_code == 0, alias.output
    assert json.loads(alias.stdout) == demo_answers
    readable = run_cli(seeded_demo, "traces", "explain", demo_answers["trace_id"])
    assert readable.exit_code == 0 and all(f"\n{n}. " in readable.stdout for n in range(1, 9))


def test_sdk_explain_answers_what_demo_ask_answered(seeded_demo, demo_answers) -> None:
    from stackwright.sdk import AsyncClient, Client
    from stackwright.sdk.errors import NotFoundError

    key = demo_api_key(seeded_demo)
    with Client.in_process(seeded_demo, api_key=key) as client:
        assert client.traces.explain(demo_answers["trace_id"]) == demo_answers
        with pytest.raises(NotFoundError, match="No trace"):
            client.traces.explain(uuid.uuid4().hex)

    async def explain_async() -> dict[str, Any]:
        async with AsyncClient.in_process(seeded_demo, api_key=key) as client:
            return await client.traces.explain(demo_answers["trace_id"])

    assert asyncio.run(explain_async()) == demo_answers


def test_unknown_trace_and_unknown_project_are_clear_errors(seeded_demo) -> None:
    missing = run_cli(seeded_demo, "traces", "explain", uuid.uuid4().hex)
    assert missing.exit_code == 1 and "No trace" in missing.stderr and "stackwright traces list" in missing.stderr
    malformed = run_cli(seeded_demo, "traces", "explain", "not-a-trace")
    assert malformed.exit_code == 1 and "32 hex characters" in malformed.stderr
    nowhere = run_cli(seeded_demo, "traces", "explain", uuid.uuid4().hex, "--project", "nope")
    assert nowhere.exit_code == 1 and "No project 'nope'" in nowhere.stderr


def _broken_copy(settings: Settings, tmp_path: Path, table: str) -> Settings:
    """A copy of the demo database without ``table``: reading it is a database error."""
    home = tmp_path / "broken"
    home.mkdir()
    source = sqlite3.connect(settings.database_url.removeprefix("sqlite:///"))
    target = sqlite3.connect(home / "stackwright.db")
    try:
        source.backup(target)
        target.execute(f"DROP TABLE {table}")
        target.commit()
    finally:
        source.close()
        target.close()
    return Settings(home=home, database_url=f"sqlite:///{home / 'stackwright.db'}", log_format="text")


def test_a_database_error_is_not_reported_as_not_found(seeded_demo, demo_answers, tmp_path) -> None:
    """The releases table is gone: explaining a trace that went through a release route fails with the database
    error (the CLI) or 503 database_unavailable (the API); it never says "not found" or "no release"."""
    from stackwright.sdk import Client
    from stackwright.sdk.errors import NotFoundError, StackwrightAPIError

    broken = _broken_copy(seeded_demo, tmp_path, "releases")
    result = run_cli(broken, "traces", "explain", demo_answers["trace_id"], "--json")
    assert result.exit_code != 0 and isinstance(result.exception, OperationalError)
    assert "no such table: releases" in str(result.exception) and result.stdout == ""
    with Client.in_process(broken, api_key=demo_api_key(seeded_demo)) as client:
        with pytest.raises(StackwrightAPIError) as caught:
            client.traces.explain(demo_answers["trace_id"])
    assert not isinstance(caught.value, NotFoundError)
    assert caught.value.status == 503 and caught.value.code == "database_unavailable"


def test_the_trace_is_read_once_and_its_project_found_in_one_query(seeded_demo, demo_answers) -> None:
    from stackwright.core.runtime import open_database
    from stackwright.insights.service import explain, find_trace_project

    trace_id = demo_answers["trace_id"]
    statements: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        statements.append((statement, parameters))

    db = open_database(seeded_demo)
    event.listen(db.engine, "before_cursor_execute", record)
    try:
        with db.read() as session:
            project_id = find_trace_project(session, trace_id)
            found_with = len(statements)
            answers = explain(session, project_id, trace_id)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
        db.dispose()
    project_queries = [s for s, _ in statements[:found_with] if s.lstrip().upper().startswith("SELECT")]
    assert len(project_queries) == 1, project_queries  # (the session's BEGIN is not a query)
    assert answers == demo_answers
    reads_of_its_spans = [s for s, params in statements[found_with:] if "FROM spans" in s and trace_id in str(params)]
    assert len(reads_of_its_spans) == 1, reads_of_its_spans
