"""HTTP clients that obey an ``EgressPolicy``: an httpcore network backend that resolves the host, checks
every address and connects to a checked one (TLS SNI and Host keep the hostname), and the httpx transport
and client built on it."""

from __future__ import annotations

from typing import Any

import httpcore
import httpx

from stackwright.core.egress import EgressBlocked, EgressPolicy


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that connects only to addresses ``policy`` allows (checked after DNS)."""

    def __init__(self, policy: EgressPolicy, inner: httpcore.AsyncNetworkBackend | None = None):
        self.policy = policy
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                          socket_options: Any = None) -> httpcore.AsyncNetworkStream:  # fmt: skip
        try:
            addresses = await self.policy.resolve(host, port)
        except OSError as exc:  # DNS failure
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None
        error: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        raise error or httpcore.ConnectError(f"no address for {host}")

    async def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Any = None) -> Any:
        raise EgressBlocked("Unix socket connections are not allowed for this outbound request.")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """``httpx.AsyncHTTPTransport`` whose connections go through ``GuardedBackend``. httpx 0.29 has no
    public ``network_backend`` argument yet, so the pool it builds is replaced by one with the backend
    (httpcore's pool and backends are public API). Environment proxies are not used: the checked
    address must be the one connected to."""

    def __init__(self, policy: EgressPolicy):
        super().__init__()
        self._pool = httpcore.AsyncConnectionPool(ssl_context=httpx.create_ssl_context(), network_backend=GuardedBackend(policy))


def async_client(policy: EgressPolicy | None, **kwargs: Any) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` that obeys ``policy`` (``None``: unrestricted, the operator's own)."""
    if policy is None:
        return httpx.AsyncClient(**kwargs)
    return httpx.AsyncClient(transport=GuardedTransport(policy), **kwargs)
