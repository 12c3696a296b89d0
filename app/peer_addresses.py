"""Which addresses outgoing OCPI calls may reach (issue 7 §1: registration, pushes and pulls are not a proxy
into our network). Public addresses always; private, loopback, link-local and other non-global ranges only
when an operator lists them in OCPI_ENGINE_ALLOWED_PEER_NETWORKS. Every address a host name resolves to is
checked before the call; the client never follows redirects."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
LOOPBACK = "127.0.0.0/8,::1/128"
"""Allowed by default with the embedded database (a local setup: demo, tests)."""


class AddressRefused(Exception):
    """An outgoing call's URL names an address the policy does not allow (the reason stays in our logs)."""


def parse_networks(text: str) -> tuple[Network, ...]:
    """A comma-separated CIDR list (e.g. `10.1.0.0/16,127.0.0.1/32`); raises ValueError naming the bad item."""
    out = []
    for item in (i.strip() for i in text.split(",")):
        if not item:
            continue
        try:
            out.append(ipaddress.ip_network(item, strict=False))
        except ValueError as exc:
            raise ValueError(f"OCPI_ENGINE_ALLOWED_PEER_NETWORKS: {item!r} is not an IP network ({exc})") from None
    return tuple(out)


def _plain(ip: Address) -> Address:
    return ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped else ip


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    allowed: tuple[Network, ...] = ()
    """Networks allowed beyond the public Internet."""

    def allows(self, ip: Address) -> bool:
        ip = _plain(ip)
        if any(ip.version == n.version and ip in n for n in self.allowed):
            return True
        return ip.is_global and not ip.is_multicast

    async def check(self, url: str) -> None:
        """Raise AddressRefused unless every address of the URL's host is allowed."""
        try:
            parts = urlsplit(url)
            host, port = parts.hostname, parts.port
        except ValueError as exc:
            raise AddressRefused(f"malformed URL {url!r}: {exc}") from None
        if parts.scheme not in ("http", "https") or not host:
            raise AddressRefused(f"URL {url!r} is not an http(s) URL with a host")
        try:
            addresses = {ipaddress.ip_address(host)}
        except ValueError:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(
                    host, port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM)
            except OSError as exc:
                raise AddressRefused(f"cannot resolve {host!r}: {exc}") from None
            addresses = {ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos}
        refused = sorted(str(a) for a in addresses if not self.allows(a))
        if refused:
            raise AddressRefused(f"{host} resolves to {', '.join(refused)}, outside the allowed peer networks "
                                 "(public addresses and OCPI_ENGINE_ALLOWED_PEER_NETWORKS)")
