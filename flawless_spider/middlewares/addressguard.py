"""Refuse requests to loopback, private, link-local and other non-public addresses.

Pages are untrusted input: a link to ``http://169.254.169.254/`` or ``http://localhost:5432/``
must not make the crawler probe its own network. ``FLAWLESS_ALLOW_PRIVATE_NETWORKS=true``
switches the guard off (tests, demos, intranets).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import CannotResolveHostError, NotConfigured
from scrapy.utils.httpobj import urlparse_cached

from flawless_spider.errors import BlockedAddress

# IPv6 prefixes that carry an IPv4 address in their last 32 bits (NAT64, IPv4-compatible).
_EMBEDDING = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("::/96"))


def is_public(address: str) -> bool:
    """True for a global unicast address; an IPv6 form of an IPv4 address is judged by that."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.is_site_local:
            return False
        if ip.ipv4_mapped or ip.sixtofour:
            ip = ip.ipv4_mapped or ip.sixtofour
        elif any(ip in network for network in _EMBEDDING):
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.is_global and not ip.is_multicast


class AddressGuardMiddleware:
    """Resolves each request's host and blocks it when any address is not public."""

    def __init__(self, crawler: Crawler):
        self.crawler = crawler
        self._verdicts: dict[str, str | None] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> AddressGuardMiddleware:
        if crawler.settings.getbool("FLAWLESS_ALLOW_PRIVATE_NETWORKS"):
            raise NotConfigured
        return cls(crawler)

    async def process_request(self, request: Request) -> None:
        if request.meta.get("flawless_trusted"):
            return
        parsed = urlparse_cached(request)
        if parsed.scheme not in ("http", "https"):
            return
        host = (parsed.hostname or "").lower()
        if host not in self._verdicts:
            self._verdicts[host] = await self._check(host, parsed.port or 80)
        problem = self._verdicts[host]
        if problem:
            self.crawler.stats.inc_value("flawless/address_blocked")
            raise BlockedAddress(problem)

    async def _check(self, host: str, port: int) -> str | None:
        addresses = literal_address(host)
        if addresses is None:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(
                    host, port, type=socket.SOCK_STREAM
                )
            except OSError as exc:
                # Not remembered, and the request stops here: the downloader resolves again,
                # and a name that fails for us may answer it with a private address.
                raise CannotResolveHostError(f"DNS lookup failed for {host}: {exc}") from exc
            addresses = [info[4][0] for info in infos]
        return address_problem(host, addresses)


def literal_address(host: str) -> list[str] | None:
    """``[address]`` when ``host`` is an IP address literal (``::1``, ``[::1]``), else None."""
    try:
        return [ipaddress.ip_address(host.strip("[]")).compressed]
    except ValueError:
        return None


def address_problem(host: str, addresses: list[str]) -> str | None:
    """Why ``host`` must not be fetched (one of its ``addresses`` is not public), or None."""
    for address in addresses:
        if not is_public(address):
            what = ("is a non-public address" if literal_address(host)
                    else f"resolves to the non-public address {address}")
            return f"{host} {what} (set FLAWLESS_ALLOW_PRIVATE_NETWORKS=true to allow it)"
    return None


def host_problem(host: str, port: int) -> str | None:
    """:func:`address_problem` for ``host`` resolved now, blocking (for commands, not crawls).

    Raises ``OSError`` when the name does not resolve.
    """
    addresses = literal_address(host)
    if addresses is None:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = [info[4][0] for info in infos]
    return address_problem(host, addresses)
