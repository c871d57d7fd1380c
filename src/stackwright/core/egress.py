"""Egress policy: which network addresses outbound HTTP written by a project role may reach.

Gateway deployments and eval ``http:`` targets written through the API are checked: their host is
resolved when the connection is opened, every resolved address is checked, and the connection goes to
the checked address (TLS SNI and the Host header keep the hostname). A name that resolves to a public
address when the config is written and to 127.0.0.1 later (DNS rebinding) is refused at that later
connect. Loopback, private (RFC 1918, ULA), link-local (cloud metadata included), unspecified,
multicast, reserved and shared (100.64.0.0/10) addresses are refused unless ``STACKWRIGHT_EGRESS_ALLOW``
names the host or a network containing the address. Configs the operator applies from the CLI are not
checked (``policy=None`` means unrestricted). The HTTP side (an httpcore network backend and an httpx
transport) is in ``egress_http``, so that reading the policy does not import httpx.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from stackwright.core.errors import InvalidInput

SETTING = "STACKWRIGHT_EGRESS_ALLOW"
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_SHARED = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_METADATA = frozenset(ipaddress.ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200"))


class EgressBlocked(InvalidInput):
    """An outbound address this caller may not reach; names the setting that would allow it."""

    code = "egress_blocked"


def blocked_kind(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public address (``None`` if it is one). IPv4 embedded in IPv6 counts as IPv4."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in _NAT64 else None)
        if embedded is not None:
            return blocked_kind(embedded)
    if ip in _METADATA:
        return "cloud metadata"
    checks = (
        (ip.is_loopback, "loopback"), (ip.is_link_local, "link-local"), (ip.is_unspecified, "unspecified"),
        (ip.is_multicast, "multicast"), (ip in _SHARED, "shared (100.64.0.0/10)"), (ip.is_reserved, "reserved"),
        (ip.is_private, "private"), (not ip.is_global, "non-public"),
    )  # fmt: skip
    return next((kind for hit, kind in checks if hit), None)


def parse_allow(entries: list[str]) -> tuple[frozenset[str], tuple[IPNetwork, ...]]:
    """Hostnames and networks from the setting's entries; ValueError names a bad entry."""
    hosts, networks = set(), []
    for entry in entries:
        text = entry.strip().lower().rstrip(".")
        if not text:
            continue
        try:
            networks.append(ipaddress.ip_network(text.strip("[]"), strict=False))
            continue
        except ValueError:
            pass
        if "/" in text or ":" in text or not all(part.replace("-", "").replace("_", "").isalnum() for part in text.split(".")):
            raise ValueError(f"{entry!r} is neither a hostname nor an IP network such as 10.0.0.0/8 or ::1")
        hosts.add(text)
    return frozenset(hosts), tuple(networks)


@dataclass(frozen=True)
class EgressPolicy:
    """What API-written outbound HTTP may reach: public addresses, plus the operator's allowed hosts and networks."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_settings(cls, settings: Any) -> EgressPolicy:
        hosts, networks = parse_allow(settings.egress_allow)
        return cls(hosts, networks)

    def host_allowed(self, host: str) -> bool:
        return host.lower().rstrip(".").strip("[]") in self.hosts

    def check_address(self, host: str, ip: IPAddress) -> None:
        kind = blocked_kind(ip)
        if kind is None or any(ip in network for network in self.networks if network.version == ip.version):
            return
        shown = host if host.strip("[]") == str(ip) else f"{host} ({ip})"
        raise EgressBlocked(
            f"Outbound connections to {shown} are blocked: it is a {kind} address.",
            hint=f"Use a public address, or ask the operator to allow the host or its network in {SETTING} "
            "(or to apply the config from the CLI).",
        )

    def check_url(self, url: str) -> None:
        """Fast check when a URL is written: a literal blocked IP or ``localhost`` is refused now;
        hostnames are checked again, on what they resolve to, at every connect."""
        host = urlsplit(url).hostname or ""
        if not host or self.host_allowed(host):
            return
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            if host.rstrip(".") == "localhost" or host.rstrip(".").endswith(".localhost"):
                self.check_address(host, ipaddress.ip_address("127.0.0.1"))
            return
        self.check_address(host, ip)

    async def resolve(self, host: str, port: int) -> list[str]:
        """The addresses to connect to for ``host``, every one checked; EgressBlocked if any is blocked."""
        if self.host_allowed(host):
            return [host]
        try:
            literal = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
            addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        else:
            addresses = [str(literal)]
        for address in addresses:
            self.check_address(host, ipaddress.ip_address(address))
        return addresses
