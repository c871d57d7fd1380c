"""The lean httpx transport the network providers use: keep-alive reuse, stale connections, body framings,
TLS, and the errors httpx callers expect. Against the fake upstream and small raw servers on loopback."""

from __future__ import annotations

import asyncio
import datetime
import gzip
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from stackwright.gateway.providers.transport import LeanTransport
from tests.gateway.fake_upstream import FakeUpstream

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return head + await reader.readexactly(length)


async def with_server(
    handler: Handler, scenario: Callable[[str], Awaitable[Any]], tls: ssl.SSLContext | None = None
) -> Any:
    """Run ``scenario(base_url)`` against a raw asyncio server; ``handler`` gets each connection and its number."""
    connections = 0
    handlers: list[asyncio.Task[Any]] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        handlers.append(asyncio.current_task())  # type: ignore[arg-type]
        try:
            await handler(reader, writer, connections)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=tls)
    port = server.sockets[0].getsockname()[1]
    try:
        async with server:
            result = await scenario(f"{'https' if tls else 'http'}://127.0.0.1:{port}")
            await asyncio.wait(handlers, timeout=2)  # the client has hung up: let the handlers see it
            return result
    finally:
        server.close()


def client(**kwargs: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=LeanTransport(**kwargs), timeout=5.0)


def test_sequential_requests_reuse_one_connection(fake_upstream: FakeUpstream) -> None:
    async def main() -> None:
        async with client() as http:
            for _ in range(5):
                body = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
                response = await http.post(fake_upstream.base_url + "/chat/completions", json=body)
                assert response.status_code == 200 and response.json()["object"] == "chat.completion"

    asyncio.run(main())
    assert len(fake_upstream.requests()) == 5
    assert len({tuple(r["client"]) for r in fake_upstream.requests()}) == 1


def test_concurrent_requests_open_connections_and_keep_them(fake_upstream: FakeUpstream) -> None:
    async def main() -> None:
        async with client() as http:
            body = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
            for _ in range(3):
                calls = [http.post(fake_upstream.base_url + "/chat/completions", json=body) for _ in range(8)]
                assert {r.status_code for r in await asyncio.gather(*calls)} == {200}

    asyncio.run(main())
    assert len(fake_upstream.requests()) == 24
    assert len({tuple(r["client"]) for r in fake_upstream.requests()}) <= 8


def test_a_stale_keep_alive_connection_is_replaced_transparently() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, number: int) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()
        await read_request(reader)  # the second request on a connection: hang up without answering

    async def scenario(base: str) -> list[str]:
        async with client() as http:
            return [(await http.post(base + "/x", content=b"{}")).text for _ in range(3)]

    assert asyncio.run(with_server(handler, scenario)) == ["ok", "ok", "ok"]


def test_a_fresh_connection_closed_without_answer_is_an_error() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, number: int) -> None:
        await read_request(reader)

    async def scenario(base: str) -> None:
        async with client() as http:
            with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
                await http.post(base + "/x", content=b"{}")

    asyncio.run(with_server(handler, scenario))


def test_chunked_gzip_and_close_delimited_bodies() -> None:
    packed = gzip.compress(b"hello " * 100)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, number: int) -> None:
        path = (await read_request(reader)).split(b" ")[1]
        if path == b"/chunked":
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n")
            await writer.drain()
            await asyncio.sleep(0.01)
            writer.write(b"6\r\n world\r\n0\r\n\r\n")
        elif path == b"/gzip":
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: %d\r\n\r\n" % len(packed) + packed
            )
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil the end")
            await writer.drain()
            return
        await writer.drain()
        await read_request(reader)

    async def scenario(base: str) -> list[Any]:
        async with client() as http:
            async with http.stream("GET", base + "/chunked") as response:
                pieces = [piece async for piece in response.aiter_raw()]
            gz = await http.get(base + "/gzip")
            closed = await http.get(base + "/close")
            return [pieces, gz.text, closed.text]

    pieces, unpacked, closed = asyncio.run(with_server(handler, scenario))
    assert b"".join(pieces) == b"hello world" and len(pieces) == 2
    assert unpacked == "hello " * 100
    assert closed == "until the end"


def test_bodies_cut_short_and_garbage_raise_protocol_errors() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, number: int) -> None:
        path = (await read_request(reader)).split(b" ")[1]
        if path == b"/short":
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly this")
        elif path == b"/chunks":
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n")
        else:
            writer.write(b"this is not http at all\r\n\r\n")
        await writer.drain()

    async def scenario(base: str) -> None:
        async with client() as http:
            for path in ("/short", "/chunks", "/garbage"):
                with pytest.raises(httpx.RemoteProtocolError):
                    await http.get(base + path)

    asyncio.run(with_server(handler, scenario))


def test_read_and_connect_errors_are_httpx_errors(fake_upstream: FakeUpstream) -> None:
    fake_upstream.script("slow", [{"delay_s": 5}])

    async def main() -> None:
        async with client() as http:
            body = {"model": "slow", "messages": [{"role": "user", "content": "x"}]}
            with pytest.raises(httpx.ReadTimeout):
                await http.post(fake_upstream.base_url + "/chat/completions", json=body, timeout=0.2)
            with pytest.raises(httpx.ConnectError):
                await http.get("http://127.0.0.1:1/")
            with pytest.raises(httpx.UnsupportedProtocol):
                await http.get("ftp://127.0.0.1/")

    asyncio.run(main())


def test_tls(tmp_path: Path) -> None:
    server_tls, client_tls = tls_contexts(tmp_path)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, number: int) -> None:
        for _ in range(2):
            await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nsecure")
            await writer.drain()

    async def scenario(base: str) -> list[str]:
        async with client(ssl_context=client_tls) as http:
            texts = [(await http.get(base + "/")).text for _ in range(2)]
        async with client() as untrusting:
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await untrusting.get(base + "/")
        return texts

    assert asyncio.run(with_server(handler, scenario, tls=server_tls)) == ["secure", "secure"]


def tls_contexts(folder: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A self-signed certificate for 127.0.0.1: the server's context and a client context trusting it."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    return server, ssl.create_default_context(cafile=str(cert_file))


def test_behind_a_proxy_providers_use_httpx_own_client(
    fake_upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ipaddress
    from dataclasses import replace

    from stackwright.core.egress import EgressPolicy
    from stackwright.gateway.providers.base import SERVER, Deployment, ProviderError
    from stackwright.gateway.providers.http import _Direct, _Proxied
    from stackwright.gateway.providers.openai import OpenAIProvider

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # httpx honours it: the calls still reach the fake directly
    deployment = Deployment(id="d/0", provider="openai", model="m", base_url=fake_upstream.base_url)
    body = {"model": "m", "messages": [{"role": "user", "content": "via proxy settings"}]}
    fake_upstream.script("m", ["ok", "ok", "ok", {"status": 500}])

    async def main() -> list[Any]:
        provider = OpenAIProvider()
        try:
            completion = await provider.chat(deployment, body)
            assert isinstance(provider._pool._senders[None], _Proxied)
            guarded = replace(deployment, egress=EgressPolicy(networks=(ipaddress.ip_network("127.0.0.1/32"),)))
            await provider.chat(guarded, body)  # an API-written config: the checked address, never a proxy
            assert isinstance(provider._pool._senders[guarded.egress], _Direct)
            chunks = [chunk async for chunk in provider.chat_stream(deployment, body)]
            with pytest.raises(ProviderError) as caught:
                await provider.chat(deployment, body)
            return [completion["choices"][0]["message"]["content"], len(chunks), caught.value.kind]
        finally:
            await provider.aclose()

    text, chunk_count, kind = asyncio.run(main())
    assert (text, kind) == ("echo: via proxy settings", SERVER) and chunk_count > 3


def test_an_undecodable_gzip_body_is_malformed() -> None:
    from stackwright.gateway.providers.base import MALFORMED, Deployment, ProviderError
    from stackwright.gateway.providers.openai import OpenAIProvider

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, number: int) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: 9\r\n\r\nnot gzip!")
        await writer.drain()

    async def scenario(base: str) -> ProviderError:
        provider = OpenAIProvider()
        try:
            with pytest.raises(ProviderError) as caught:
                await provider.chat(Deployment(id="d/0", provider="openai", model="m", base_url=base), {"messages": []})
            return caught.value
        finally:
            await provider.aclose()

    assert asyncio.run(with_server(handler, scenario)).kind == MALFORMED
