"""`stackwright traces stats|delete|settings|purge`, run in process against the test database."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from stackwright.tracing.models import Span, Trace
from tests.cli.conftest import Cli
from tests.tracing.test_stats_scores import as_project, assert_stats, expected_stats, other_project, seed

DAY_NS = 86_400 * 10**9


@pytest.fixture
def cli(settings, prepared) -> Iterator[Cli]:
    runner = Cli(settings.home, settings.db_url)
    yield runner
    runner.close()


def test_stats_json_is_the_api_answer(api: httpx.Client, cli: Cli) -> None:
    traces = seed(api)
    for args, params in [
        ((), {}),
        (("--group-by", "model"), {"group_by": "model"}),
        (("--group-by", "route", "--bucket", "5m"), {"group_by": "route", "bucket": "5m"}),
    ]:
        out = cli.json("traces", "stats", *args)
        assert out == api.get("/api/v1/traces/stats", params=params).json()
    by_model = cli.json("traces", "stats", "--group-by", "model")
    assert_stats(by_model["data"], expected_stats(traces, key=lambda t: t["model"]))
    since = traces[10]["start_ns"]
    assert_stats(cli.json("traces", "stats", "--since", str(since))["data"], expected_stats(traces[10:]))


def test_stats_table_and_errors(api: httpx.Client, cli: Cli) -> None:
    seed(api, n=6)
    table = cli.ok("traces", "stats", "--group-by", "model").stdout
    assert "gpt-4o" in table and "claude-3-5-sonnet" in table and "p95_ms" in table
    cli.fails("traces", "stats", "--group-by", "user", needle="group_by")
    cli.fails("traces", "stats", "--bucket", "soon", needle="bucket")
    cli.fails("traces", "stats", "--since", "last tuesday", needle="--since")
    cli.fails("traces", "stats", "--project", "nope", needle="nope")


def test_stats_per_project(api: httpx.Client, cli: Cli) -> None:
    seed(api, n=4)
    other = other_project(api, "other")
    theirs = seed(as_project(api, other), n=2, rng_seed=3)
    assert cli.json("traces", "stats")["data"][0]["count"] == 4  # the project named default
    assert_stats(cli.json("traces", "stats", "--project", "other")["data"], expected_stats(theirs))


def test_delete_by_user_asks_first(api: httpx.Client, cli: Cli) -> None:
    traces = seed(api, n=6)
    other = other_project(api, "other")
    seed(as_project(api, other), n=3, rng_seed=4)
    user1 = [t for t in traces if t["user_id"] == "user1"]
    declined = cli("traces", "delete", "--user-id", "user1", input="n\n")
    assert declined.exit_code == 1
    assert cli.count(Span, Span.user_id == "user1") == len(user1) + 1  # nothing deleted (1 in the other project)
    accepted = cli.ok("traces", "delete", "--user-id", "user1", input="y\n")
    assert f"Deleted {len(user1)} trace(s), {2 * len(user1)} span(s)" in accepted.stdout
    assert cli.count(Span, Span.user_id == "user1") == 1
    result = cli.json("traces", "delete", "--user-id", "user1", "--project", "other", "--yes")
    assert result == {"deleted_traces": 1, "deleted_spans": 2, "deleted_scores": 0}
    assert cli.count(Span, Span.user_id == "user1") == 0
    assert cli.count(Trace) == 6 + 3 - len(user1) - 1
    entries = cli.json("audit", "list", "--action", "traces.delete_user")
    assert len(entries) == 2 and entries[0]["actor"].startswith("cli:")


def test_settings_show_and_change(api: httpx.Client, cli: Cli) -> None:
    shown = cli.json("traces", "settings")
    assert shown["project"] == "default" and shown["retention_days"] is None and shown["prices"] == {}
    changed = cli.json("traces", "settings", "--retention-days", "30")
    assert changed["retention_days"] == 30
    assert api.get("/api/v1/traces/settings").json()["retention_days"] == 30
    assert "kept 30 days" in cli.ok("traces", "settings").stdout
    api.put("/api/v1/traces/settings", json={"prices": {"m": {"input_per_mtok": 1, "output_per_mtok": 2}}})
    cleared = cli.json("traces", "settings", "--no-retention")
    assert cleared["retention_days"] is None and cleared["prices"] == {"m": {"input_per_mtok": 1, "output_per_mtok": 2}}
    cli.fails("traces", "settings", "--retention-days", "3", "--no-retention", needle="contradict")
    assert cli("traces", "settings", "--retention-days", "0").exit_code == 2  # usage error: out of range
    assert api.get("/api/v1/traces/settings").json()["retention_days"] is None
    assert len(cli.json("audit", "list", "--action", "trace_settings.update")) == 3


def test_purge_now(api: httpx.Client, cli: Cli) -> None:
    assert "nothing to purge" in cli.ok("traces", "purge").stdout
    old = seed(api, n=5, base_ns=time.time_ns() - 60 * DAY_NS)
    recent = seed(api, n=2, base_ns=time.time_ns() - DAY_NS)
    cli.ok("traces", "settings", "--retention-days", "30")
    rows = cli.json("traces", "purge")
    assert [(r["project"], r["deleted_traces"], r["deleted_spans"]) for r in rows] == [("default", len(old), 2 * len(old))]
    with cli.db.read() as session:
        assert set(session.scalars(select(Trace.trace_id))) == {t["trace_id"] for t in recent}
    assert "default: deleted 0 trace(s)" in cli.ok("traces", "purge").stdout
