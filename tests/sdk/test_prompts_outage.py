"""client.prompts when the server goes away and comes back (a real `stackwright serve` on one port):
the last good copy, the fallback file, background retries."""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from stackwright.sdk import APIConnectionError, Client, InvalidRequestError
from stackwright.sdk.observe.state import reset_log_limits
from tests.conftest import TEST_API_KEY
from tests.prompts.conftest import SUPPORT, VARIABLES, support
from tests.sdk.server import Server, _stop, _wait_ready, free_port, stackwright_executable
from tests.sdk.test_prompts import _wait_for


@contextmanager
def serving(home: Path, port: int) -> Iterator[Server]:
    """`stackwright serve` on ``port`` (so a client keeps its base URL across restarts)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STACKWRIGHT_")}
    env.update(STACKWRIGHT_HOME=str(home), STACKWRIGHT_INIT_API_KEY=TEST_API_KEY, STACKWRIGHT_LOG_FORMAT="json")
    log_path = home.parent / f"server-{port}.log"
    home.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        process = subprocess.Popen([stackwright_executable(), "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", process, log_path)
    try:
        _wait_ready(server, 30)
        yield server
    finally:
        server.returncode = _stop(process)


def test_outage_last_good_copy_fallback_file_and_recovery(tmp_path, caplog):
    reset_log_limits()
    home, port = tmp_path / "home", free_port()
    fallback = tmp_path / "support-answer.yaml"
    fallback.write_text("name: support-answer\ntemplate: 'Offline answer for {{ product }}.'\nmodel: local/extractive\n")
    client = Client(f"http://127.0.0.1:{port}", TEST_API_KEY, timeout=5)
    with serving(home, port):
        client.prompts.push(SUPPORT)
        cached = client.prompts.get("support-answer", label="staging", cache_ttl=0.2)
    # the server is down
    with caplog.at_level(logging.WARNING, logger="stackwright.sdk"):
        assert client.prompts.get("support-answer", label="staging", cache_ttl=0.2) is cached
        _wait_for(lambda: client.prompts.get("support-answer", label="staging", cache_ttl=0.2) is cached
                  and "refreshing prompt support-answer failed" in caplog.text)  # fmt: skip
        assert client.prompts.get("support-answer", label="staging", cache_ttl=0) is cached  # last good copy
        assert "serving the last good copy" in caplog.text
        offline = client.prompts.get("support-answer", label="production", fallback_file=fallback)
        assert (offline.source, offline.version, offline.type, offline.model) == ("file", None, "text", "local/extractive")
        assert offline.render(product="Acme")["text"] == "Offline answer for Acme."
    with pytest.raises(APIConnectionError):
        client.prompts.get("support-answer", label="canary")
    with pytest.raises(InvalidRequestError, match="holds prompt 'support-answer', not 'other'"):
        client.prompts.get("other", fallback_file=fallback)
    with pytest.raises(InvalidRequestError, match="does not exist"):
        client.prompts.get("other", fallback_file=tmp_path / "missing.yaml")
    # the server is back: the fallback copy and the stale copy are replaced in the background
    with serving(home, port):
        client.prompts.push(support(system="v2 {{ product }}", labels=["staging", "production"]))
        prod, _ = _wait_for(lambda: (p := client.prompts.get("support-answer", label="production", fallback_file=fallback)).source == "server" and p)
        assert prod.version == 2 and prod.render(**VARIABLES)["messages"][0]["content"] == "v2 Acme"
        staged, _ = _wait_for(lambda: (p := client.prompts.get("support-answer", label="staging", cache_ttl=0.2)).version == 2 and p)
        assert staged is not cached
    client.close()


@pytest.mark.e2e
def test_spans_made_while_using_a_prompt_are_stored_with_its_version(tmp_path):
    """SDK prompt -> spans over OTLP -> the trace list filters by prompt name and version."""
    from stackwright.sdk.observe import configure_tracing, flush, observe
    from stackwright.sdk.observe.state import STATE

    home, port = tmp_path / "home", free_port()
    with serving(home, port) as server, Client(server.base_url, TEST_API_KEY) as client:
        client.prompts.push(SUPPORT)
        client.prompts.push(support(system="v2 {{ product }}", labels=[]))
        prompt = client.prompts.get("support-answer", label="staging")
        try:
            assert configure_tracing(base_url=server.base_url, api_key=TEST_API_KEY, service_name="prompt-test", schedule_delay=0.05)
            with prompt.use(), observe("answer", kind="llm"):
                prompt.render(**VARIABLES)
            assert flush(10) is True
        finally:
            configure_tracing(enabled=False)
            STATE.config = None
        params = {"prompt_name": "support-answer", "prompt_version": "1"}
        traces, _ = _wait_for(lambda: client._http.get("/api/v1/traces", params=params,
                                                       headers={"Authorization": f"Bearer {TEST_API_KEY}"}).json()["data"])  # fmt: skip
        assert len(traces) == 1
        other = client._http.get("/api/v1/traces", params={**params, "prompt_version": "2"},
                                 headers={"Authorization": f"Bearer {TEST_API_KEY}"}).json()  # fmt: skip
        assert other["data"] == []
