"""The egress policy on its own and in both HTTP stacks that obey it (the httpx transport of eval http
targets, the gateway's lean transport): addresses classified, literal URLs refused when written, and
hostnames checked on what they resolve to when the connection opens. A real HTTP server on loopback."""

from __future__ import annotations

import asyncio
import ipaddress
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from stackwright.core.config import load_settings
from stackwright.core.egress import EgressBlocked, EgressPolicy, blocked_kind
from stackwright.core.egress_http import async_client
from stackwright.core.errors import ConfigError
from stackwright.gateway.providers.transport import LeanTransport


@pytest.mark.parametrize(
    ("address", "kind"),
    [("127.0.0.1", "loopback"), ("127.9.9.9", "loopback"), ("::1", "loopback"), ("::ffff:127.0.0.1", "loopback"),
     ("169.254.169.254", "cloud metadata"), ("fd00:ec2::254", "cloud metadata"), ("169.254.1.1", "link-local"),
     ("fe80::1", "link-local"), ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("192.168.1.1", "private"),
     ("fc00::1", "private"), ("100.64.0.1", "shared (100.64.0.0/10)"), ("0.0.0.0", "unspecified"), ("::", "unspecified"),
     ("224.0.0.1", "multicast"), ("ff02::1", "multicast"), ("240.0.0.1", "reserved"), ("2002:7f00:1::", "loopback"),
     ("64:ff9b::a01:203", "private"), ("8.8.8.8", None), ("2606:4700::1111", None)],
)  # fmt: skip
def test_addresses_are_classified(address: str, kind: str | None) -> None:
    assert blocked_kind(ipaddress.ip_address(address)) == kind


def test_the_setting_takes_hosts_and_networks_and_refuses_anything_else(monkeypatch) -> None:
    monkeypatch.setenv("STACKWRIGHT_EGRESS_ALLOW", "Ollama.Internal., 10.0.0.0/8, ::1, 127.0.0.1")
    policy = EgressPolicy.from_settings(load_settings())
    assert policy.hosts == {"ollama.internal"} and len(policy.networks) == 3
    monkeypatch.setenv("STACKWRIGHT_EGRESS_ALLOW", '["http://evil/"]')
    with pytest.raises(ConfigError, match="STACKWRIGHT_EGRESS_ALLOW"):
        load_settings()
    monkeypatch.setenv("STACKWRIGHT_EGRESS_ALLOW", "")
    monkeypatch.setenv("STACKWRIGHT_GATEWAY_ENV_ALLOW", "OPENAI_API_KEY,STACKWRIGHT_SECRET_KEY")
    with pytest.raises(ConfigError, match="never STACKWRIGHT_"):
        load_settings()


def test_urls_are_checked_when_written() -> None:
    strict = EgressPolicy()
    for url in ("http://127.0.0.1:8/x", "http://[::1]/", "http://169.254.169.254/latest/meta-data", "http://10.0.0.7/",
                "http://localhost:11434/v1", "http://api.localhost/", "http://[fd00:ec2::254]/"):  # fmt: skip
        with pytest.raises(EgressBlocked, match="STACKWRIGHT_EGRESS_ALLOW"):
            strict.check_url(url)
    strict.check_url("https://api.openai.com/v1")  # public, or a hostname: decided when connecting
    allowed = EgressPolicy(frozenset({"localhost"}), (ipaddress.ip_network("10.0.0.0/8"),))
    allowed.check_url("http://localhost:11434/v1")
    allowed.check_url("http://10.0.0.7/")
    with pytest.raises(EgressBlocked, match="cloud metadata"):
        allowed.check_url("http://169.254.169.254/")


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        self.server.hits += 1  # type: ignore[attr-defined]
        body = f"hello {self.headers['host']}".encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    httpd.hits = 0  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


async def _via_httpx(policy: EgressPolicy | None, url: str) -> httpx.Response:
    async with async_client(policy, timeout=5) as client:
        return await client.get(url)


async def _via_lean(policy: EgressPolicy | None, url: str) -> httpx.Response:
    transport = LeanTransport(egress=policy)
    try:
        response = await transport.handle_async_request(httpx.Request("GET", url))
        await response.aread()
        return response
    finally:
        await transport.aclose()


@pytest.mark.parametrize("send", [_via_httpx, _via_lean], ids=["httpx", "lean"])
def test_connections_go_only_to_checked_addresses(server, send) -> None:
    port = server.server_address[1]
    strict = EgressPolicy()
    for host in ("127.0.0.1", "localhost", "127.1", "2130706433"):  # names and odd forms resolve to loopback: refused
        with pytest.raises(EgressBlocked, match=r"loopback address.*STACKWRIGHT_EGRESS_ALLOW"):
            asyncio.run(send(strict, f"http://{host}:{port}/"))
    assert server.hits == 0
    by_network = EgressPolicy(networks=(ipaddress.ip_network("127.0.0.0/8"),))
    answered = asyncio.run(send(by_network, f"http://localhost:{port}/"))
    assert answered.status_code == 200 and answered.text == f"hello localhost:{port}"  # Host keeps the name
    assert asyncio.run(send(EgressPolicy(frozenset({"localhost"})), f"http://localhost:{port}/")).status_code == 200
    assert asyncio.run(send(None, f"http://127.0.0.1:{port}/")).status_code == 200  # no policy: the operator's own
    assert server.hits == 3
