"""`stackwright keys budget|limits` on SQLite and Postgres: show, set, merge, clear, --json, key by id,
prefix or name, audit as cli:<user>, usage after traffic, and bad input refused with `error: ...`."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from stackwright.auth.actors import cli_actor
from stackwright.auth.models import AuditEntry
from stackwright.gateway.limits.models import GatewayLimit
from tests.cli.conftest import Cli
from tests.conftest import TEST_ADMIN_EMAIL, TEST_ADMIN_PASSWORD, TEST_API_KEY


@pytest.fixture
def cli(tmp_path, database_url):
    runner = Cli(tmp_path / "home", database_url)
    runner.ok("init", env={"STACKWRIGHT_INIT_API_KEY": TEST_API_KEY, "STACKWRIGHT_INIT_ADMIN_EMAIL": TEST_ADMIN_EMAIL,
                           "STACKWRIGHT_INIT_ADMIN_PASSWORD": TEST_ADMIN_PASSWORD})  # fmt: skip
    yield runner
    runner.close()


@pytest.fixture
def key(cli) -> dict:
    return cli.json("keys", "create", "--project", "default", "--name", "ci")


def test_budget_show_set_merge_and_clear(cli, key):
    shown = cli.json("keys", "budget", key["id"])
    assert shown["key_id"] == key["id"] and shown["name"] == "ci"
    assert shown["limits"] == {"daily_usd": None, "monthly_usd": None, "rpm": None, "tpm": None}
    assert shown["usage"]["day"]["usd"] == 0.0 and shown["usage"]["month"]["resets_at"].endswith("T00:00:00Z")

    out = cli.ok("keys", "budget", key["id"], "--daily", "10", "--monthly", "$250.50").stdout
    assert "limits updated" in out and "$10.00" in out and "$250.50" in out and "budget per UTC day" in out
    assert cli.json("keys", "budget", "ci", "--daily", "12.5")["limits"] == {
        "daily_usd": 12.5, "monthly_usd": 250.5, "rpm": None, "tpm": None}  # fmt: skip
    assert cli.json("keys", "budget", key["prefix"], "--monthly", "none")["limits"]["monthly_usd"] is None
    assert cli.json("keys", "budget", key["id"], "--clear")["limits"]["daily_usd"] is None
    assert cli.count(GatewayLimit) == 0


def test_limits_show_set_and_clear(cli, key):
    assert cli.json("keys", "limits", key["id"], "--rpm", "60", "--tpm", "100_000")["limits"]["tpm"] == 100_000
    cli.ok("keys", "budget", key["id"], "--daily", "1")
    assert cli.json("keys", "limits", key["id"], "--clear")["limits"] == {
        "daily_usd": 1.0, "monthly_usd": None, "rpm": None, "tpm": None}  # fmt: skip
    out = cli.ok("keys", "limits", key["id"]).stdout
    assert "requests per minute" in out and "tokens per minute" in out and "limits updated" not in out


def test_changes_are_audited_as_the_cli_user(cli, key):
    cli.ok("keys", "limits", key["id"], "--rpm", "5")
    cli.ok("keys", "limits", key["id"], "--rpm", "5")  # unchanged: no entry
    entries = cli.json("audit", "list", "--project", "default", "--action", "key.limits")
    assert [(e["actor"], e["object_id"], e["before"]["rpm"], e["after"]["rpm"]) for e in entries] == [
        (cli_actor().label, key["id"], None, 5)
    ]


def test_usage_shows_traffic(cli, key):
    from stackwright.gateway.limits.enforcer import Enforcer

    enforcer = Enforcer(cli.db)

    async def traffic() -> None:
        for _ in range(3):
            ticket = await enforcer.admit(key["project_id"], key["id"], "gpt-x")
            await enforcer.settle(ticket, 0.5, 40)

    asyncio.run(traffic())
    enforcer.close()
    usage = cli.json("keys", "budget", key["id"])["usage"]
    assert {k: usage["day"][k] for k in ("usd", "requests", "tokens")} == {"usd": 1.5, "requests": 3, "tokens": 120}
    assert "$1.50" in cli.ok("keys", "budget", key["id"]).stdout


BAD = [
    (["budget", "{key}", "--daily", "ten"], "--daily must be a number of USD"),
    (["budget", "{key}", "--daily", "-1"], "--daily must be a number of USD"),
    (["budget", "{key}", "--monthly", "nan"], "--monthly must be a number of USD"),
    (["budget", "{key}", "--monthly", "1e12"], "--monthly must be a number of USD"),
    (["budget", "{key}", "--clear", "--daily", "3"], "--clear removes"),
    (["limits", "{key}", "--rpm", "1.5"], "--rpm must be a whole number"),
    (["limits", "{key}", "--tpm", "-3"], "--tpm must be a whole number"),
    (["limits", "{key}", "--clear", "--rpm", "3"], "--clear removes"),
    (["limits", "key_doesnotexist", "--rpm", "3"], "No API key 'key_doesnotexist'"),
    (["budget", "{key}", "--project", "nope", "--daily", "1"], "No project 'nope'"),
]


@pytest.mark.parametrize(("args", "needle"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_is_refused_cleanly(cli, key, args, needle):
    before = (cli.count(GatewayLimit), cli.count(AuditEntry))
    message = cli.fails("keys", *[a.format(key=key["id"]) for a in args], needle=needle)
    assert message.count("\n") == 1
    assert (cli.count(GatewayLimit), cli.count(AuditEntry)) == before


def test_a_key_of_another_project_or_an_ambiguous_name_is_refused(cli, key):
    cli.ok("projects", "create", "other")
    theirs = cli.json("keys", "create", "--project", "other", "--name", "ci")
    cli.fails("keys", "budget", theirs["id"], "--project", "default", "--daily", "1", needle="No API key")
    cli.fails("keys", "budget", "ci", "--daily", "1", needle="2 keys are named 'ci'")
    assert cli.json("keys", "budget", "ci", "--project", "other", "--daily", "1")["key_id"] == theirs["id"]
    with cli.db.read() as s:
        assert s.scalar(select(func.count()).select_from(GatewayLimit).where(GatewayLimit.subject == key["id"])) == 0
