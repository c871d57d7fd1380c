"""The support app against the real server (`stackwright serve` on a loopback port): `ask` over HTTP with
the demo key, spans exported over OTLP and read back from the server's store."""

from __future__ import annotations

from tests.e2e.serverproc import ServerProcess, clean_env, free_ports


def test_ask_through_a_running_server(support_demo, tmp_path) -> None:
    from stackwright.apps.support import ask

    settings, report = support_demo
    (port,) = free_ports(1)
    env = clean_env(home=settings.home, database_url=settings.database_url, log_format="text")
    with ServerProcess(tmp_path / "server", env, port) as server:
        server.wait_ready()
        result = ask("How do I connect Slack?", user_id="user-042", settings=settings, base_url=server.base_url)
        assert result.stored is True, server.stderr[-2000:]
        assert "integrations-slack.md" in [c["source"] for c in result.retrieved]
        with server.client(report.api_key) as client:
            trace = client.get(f"/api/v1/traces/{result.trace_id}").json()
        names = {s["name"] for s in trace["spans"]}
        assert {"support.ask", "guard_input", "retrieve", "answer", "guard_output", "decide_escalation"} <= names
        assert trace["trace"]["route"] == "support.answer" and trace["trace"]["prompt_version"] in ("1", "2")
