"""`stackwright releases ...` on SQLite and Postgres: every command, --json, and `error: ...` for bad input."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from stackwright.auth.models import AuditEntry, Project
from stackwright.monitoring.alerts import Alert
from stackwright.releases.models import ReleaseChange
from tests.cli.conftest import cli, cli_ready  # noqa: F401  (fixtures)
from tests.releases.conftest import ROUTE, push_versions, request_span

ENV = ("--env", "production")


@pytest.fixture
def rel(cli_ready):  # noqa: F811
    """The CLI with support-answer versions 1-4 in the default project."""
    with cli_ready.db.read() as session:
        project_id = session.scalar(select(Project.id).where(Project.name == "default"))
    push_versions(cli_ready.db, project_id, "support-answer", 4)
    cli_ready.project_id = project_id
    return cli_ready


def test_set_canary_promote_status_history_list(rel):
    out = rel.json("releases", "set", ROUTE, *ENV, "--prompt", "support-answer@1", "--model", "gpt-4o-mini",
                   "--param", "temperature=0.2", "--param", "stop=[\"\\n\"]", "--setting", "retrieval_k=5", "--setting", "index=help-center")  # fmt: skip
    assert out["changed"] is True and out["revision"] == 1
    assert out["stable"]["params"] == {"temperature": 0.2, "stop": ["\n"]} and out["stable"]["settings"] == {"retrieval_k": 5, "index": "help-center"}
    text = rel.ok("releases", "set", ROUTE, *ENV, "--prompt", "support-answer@1", "--model", "gpt-4o-mini",
                  "--param", "temperature=0.2", "--param", "stop=[\"\\n\"]", "--setting", "retrieval_k=5", "--setting", "index=help-center").stdout  # fmt: skip
    assert "(unchanged)" in text and "support-answer@1 on gpt-4o-mini" in text

    canary = rel.json("releases", "canary", ROUTE, *ENV, "--prompt", "support-answer@2", "--share", "10", "--mode", "ab",
                      "--require-eval", "support-regression", "--rollback-error-rate-margin", "0.05",
                      "--rollback-p95-margin-ms", "500", "--rollback-score", "helpfulness:0.1", "--window-min-requests", "50")  # fmt: skip
    assert canary["candidate"]["mode"] == "ab" and canary["candidate"]["share"] == 10.0
    assert canary["candidate"]["config"]["params"] == {"temperature": 0.2, "stop": ["\n"]}  # inherited from stable
    assert canary["rollback_rules"] == {"error_rate_margin": 0.05, "p95_margin_ms": 500.0, "scores": {"helpfulness": 0.1}, "min_requests": 50}
    status = rel.ok("releases", "status", ROUTE, *ENV).stdout
    assert "candidate:      support-answer@2 on gpt-4o-mini" in status and "ab 10% since" in status
    assert "requires evaluation 'support-regression'" in status and "error rate +5.0%" in status

    rel.fails("releases", "promote", ROUTE, *ENV, needle="no passing result")
    rel.ok("releases", "rules", ROUTE, *ENV, "--clear-eval", "--rollback-p95-margin-ms", "250")
    rules = rel.json("releases", "status", ROUTE, *ENV)["rollback_rules"]
    assert rules["p95_margin_ms"] == 250 and rules["error_rate_margin"] == 0.05  # merged over the current rules
    promoted = rel.json("releases", "promote", ROUTE, *ENV)
    assert promoted["stable"]["prompt"] == "support-answer@2" and promoted["candidate"] is None

    history = rel.json("releases", "history", ROUTE, *ENV)
    assert [c["action"] for c in history] == ["promote", "rules", "canary", "set"]
    assert all(c["actor"].startswith("cli:") for c in history)
    table = rel.ok("releases", "history", ROUTE, *ENV).stdout
    assert "promote" in table and "last rollback: never" in table
    listed = rel.json("releases", "list")
    assert [(r["route"], r["env"], r["revision"]) for r in listed] == [(ROUTE, "production", 4)]
    assert ROUTE in rel.ok("releases", "list", "--env", "production").stdout
    assert rel.json("releases", "list", "--env", "staging") == []
    assert rel.count(AuditEntry, AuditEntry.action.like("release.%")) == 4


def test_rollback_and_check_from_the_cli(rel):
    rel.ok("releases", "set", ROUTE, *ENV, "--prompt", "support-answer@1", "--model", "m")
    rel.ok("releases", "canary", ROUTE, *ENV, "--prompt", "support-answer@3", "--share", "20",
           "--rollback-error-rate-margin", "0.05", "--window-min-requests", "5")  # fmt: skip
    assert rel.json("releases", "check", ROUTE, *ENV)["verdict"] == "insufficient_data"

    _write_spans(rel, [request_span("stable") for _ in range(5)] + [request_span("candidate", error=True) for _ in range(5)])
    dry = rel.ok("releases", "check", ROUTE, *ENV, "--dry-run").stdout
    assert "breach" in dry and "candidate 5 requests, errors 100.0%" in dry
    assert rel.json("releases", "check", ROUTE, *ENV)["verdict"] == "rolled_back"
    assert rel.count(Alert, Alert.kind == "release.auto_rollback") == 1
    status = rel.ok("releases", "status", ROUTE, *ENV).stdout
    assert "candidate:      none" in status and "(automatic, candidate: support-answer@3 on m)" in status

    rel.ok("releases", "set", ROUTE, *ENV, "--prompt", "support-answer@2", "--model", "m")
    out = rel.json("releases", "rollback", ROUTE, *ENV, "--reason", "answers got worse")
    assert out["stable"]["prompt"] == "support-answer@1" and out["last_rollback"]["reason"] == "answers got worse"
    assert "answers got worse" in rel.ok("releases", "history", ROUTE, *ENV).stdout
    assert rel.count(ReleaseChange) == 5


def _write_spans(rel, spans) -> None:
    """Send OTLP JSON spans through the ingest endpoint of an app on the CLI's database."""
    import httpx

    from stackwright.core.config import Settings
    from stackwright.sdk.transport import InProcessTransport
    from stackwright.server.app import create_app
    from tests.conftest import TEST_API_KEY
    from tests.releases.conftest import send_spans

    app = create_app(Settings(home=rel.home, database_url=rel.database_url), rel.db)
    headers = {"Authorization": f"Bearer {TEST_API_KEY}"}
    try:
        with httpx.Client(transport=InProcessTransport(app), base_url="http://stackwright.test", headers=headers) as client:
            send_spans(client, spans)
    finally:
        app.state.limits.close()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("set", ROUTE, *ENV, "--prompt", "nope@1", "--model", "m"), "no prompt named 'nope'"),
        (("set", ROUTE, *ENV, "--prompt", "support-answer@7", "--model", "m"), "no version 7"),
        (("set", ROUTE, "--env", "PROD", "--prompt", "support-answer@1", "--model", "m"), "environment 'prod'"),
        (("set", "bad route", *ENV, "--prompt", "support-answer@1", "--model", "m"), "route 'bad route'"),
        (("set", ROUTE, *ENV, "--prompt", "support-answer@1", "--model", "m", "--param", "novalue"), "key=value"),
        (("canary", "other.route", *ENV, "--prompt", "support-answer@2", "--share", "5"), "no release for route 'other.route'"),
        (("canary", ROUTE, *ENV, "--prompt", "support-answer@2", "--share", "101"), "share 101"),
        (("canary", ROUTE, *ENV, "--prompt", "support-answer@2", "--share", "-5"), "share -5"),
        (("canary", ROUTE, *ENV, "--prompt", "support-answer@2", "--share", "5", "--mode", "blue"), "mode 'blue'"),
        (("canary", ROUTE, *ENV, "--prompt", "support-answer@2", "--share", "5", "--rollback-score", "x"), "name:margin"),
        (("promote", ROUTE, *ENV), "no candidate to promote"),
        (("rollback", ROUTE, "--env", "staging"), "no release for route"),
        (("status", ROUTE, "--env", "staging"), "has releases in: production"),
        (("history", "nope", *ENV), "no release for route 'nope'"),
        (("check", ROUTE, *ENV, "--project", "ghost"), "ghost"),
        (("rules", ROUTE, *ENV), "nothing to change"),
        (("rules", ROUTE, *ENV, "--clear-rules", "--rollback-p95-margin-ms", "5"), "not both"),
        (("set", ROUTE, *ENV, "--prompt", "support-answer@2", "--model", "m", "--if-revision", "7"), "revision 1, not 7"),
    ],
)
def test_bad_input_is_an_error_line_and_writes_nothing(rel, args, needle):
    rel.ok("releases", "set", ROUTE, *ENV, "--prompt", "support-answer@1", "--model", "m")
    before = (rel.count(ReleaseChange), rel.count(AuditEntry))
    rel.fails("releases", *args, needle=needle)
    assert (rel.count(ReleaseChange), rel.count(AuditEntry)) == before


def test_promote_asks_the_evaluations_layer_through_the_cli(rel, tmp_path):
    """`stackwright releases promote` sees `stackwright evals run` results: a failing gate refuses, a passing one promotes.
    The refusal is checked in a fresh `stackwright` process too, where nothing but the CLI has been imported."""
    from tests.e2e.serverproc import clean_env, run
    from tests.evals.conftest import base_spec, write_spec

    rel.ok("releases", "set", ROUTE, *ENV, "--prompt", "support-answer@1", "--model", "gpt-4o-mini")
    rel.ok("releases", "canary", ROUTE, *ENV, "--prompt", "support-answer@2", "--share", "10", "--require-eval", "support-regression")
    target = {"python": "tests.evals.pyfuncs:echo"}  # answers "echo: <question>": `contains` scores 0.75 on average
    failing = write_spec(tmp_path, base_spec(target=target, scorers=["contains"], gate={"contains": {"min_mean": 0.9}}), "fail.yaml")
    assert rel("evals", "run", str(failing), "--gate").exit_code == 1

    message = rel.fails("releases", "promote", ROUTE, *ENV, needle="failed its gate")
    assert "support-regression" in message and "contains: mean 0.75 < 0.9" in message
    fresh = run(["releases", "promote", ROUTE, *ENV], clean_env(home=rel.home, database_url=rel.database_url))
    assert fresh.returncode == 1 and "failed its gate" in fresh.stderr and "contains: mean 0.75 < 0.9" in fresh.stderr, fresh.stderr
    assert rel.json("releases", "status", ROUTE, *ENV)["candidate"]["config"]["prompt"] == "support-answer@2"  # not promoted

    passing = write_spec(tmp_path, base_spec(target=target, scorers=["contains"], gate={"contains": {"min_mean": 0.5}}), "pass.yaml")
    assert rel("evals", "run", str(passing), "--gate").exit_code == 0
    promoted = rel.json("releases", "promote", ROUTE, *ENV)
    assert promoted["stable"]["prompt"] == "support-answer@2" and promoted["candidate"] is None
    gate = rel.json("releases", "history", ROUTE, *ENV)[0]["details"]["gate"]
    assert gate["passed"] is True and gate["evidence"]["scorers"] == {"contains": 0.75}
