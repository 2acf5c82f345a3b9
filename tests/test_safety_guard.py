"""The address guard: IPv6 spellings of private IPv4 addresses, and names that fail to resolve."""

from __future__ import annotations

import asyncio
import socket

import pytest
from scrapy import Request
from scrapy.exceptions import CannotResolveHostError
from scrapy.utils.test import get_crawler

from flawless_spider.errors import BlockedAddress, classify_exception
from flawless_spider.middlewares.addressguard import AddressGuardMiddleware, is_public


@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.1.2.3", "169.254.169.254", "0.0.0.0", "::1", "::", "fe80::1%eth0",
    "::ffff:127.0.0.1", "::ffff:169.254.169.254",
    "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b::a00:1",  # NAT64 of 127/8, 169.254/16, 10/8
    "2002:7f00:1::1", "2002:a9fe:a9fe::",  # 6to4 of loopback and link-local
    "::7f00:1", "::a9fe:a9fe",  # IPv4-compatible
    "fec0::1",  # site-local
])
def test_non_public_addresses_in_every_spelling(address):
    assert not is_public(address)


@pytest.mark.parametrize("address", [
    "93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", "64:ff9b::808:808",
    "2002:808:808::1",
])
def test_public_addresses(address):
    assert is_public(address)


def test_a_name_that_fails_to_resolve_is_not_let_through(monkeypatch):
    """DNS answers can change between two lookups: a failed one must not pass as "public"."""
    answers = [socket.gaierror(socket.EAI_AGAIN, "Temporary failure"),
               [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 80))]]

    def getaddrinfo(host, port, *args, **kwargs):
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    crawler = get_crawler(settings_dict={"FLAWLESS_ALLOW_PRIVATE_NETWORKS": False})
    guard = AddressGuardMiddleware.from_crawler(crawler)
    request = Request("http://rebind.example/")

    async def twice() -> None:
        with pytest.raises(CannotResolveHostError) as failed:
            await guard.process_request(request)
        assert classify_exception(failed.value) == "dns"
        with pytest.raises(BlockedAddress):
            await guard.process_request(request)

    asyncio.run(twice())
