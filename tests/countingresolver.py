"""A test resolver: Scrapy's caching resolver, writing each lookup that reaches the system's
resolver (a cache miss) as one line with the name into the file ``$TEST_DNS_LOG``.

Use it with ``-s TWISTED_DNS_RESOLVER=tests.countingresolver.CountingResolver``.
"""

from __future__ import annotations

import os
from typing import Any

from scrapy.resolver import CachingHostnameResolver


class _Counting:
    def __init__(self, resolver: Any, log: str):
        self.resolver = resolver
        self.log = log

    def resolveHostName(self, receiver: Any, host_name: str, *args: Any, **kwargs: Any) -> Any:  # noqa: N802
        with open(self.log, "a") as log:
            log.write(host_name + "\n")
        return self.resolver.resolveHostName(receiver, host_name, *args, **kwargs)


class CountingResolver(CachingHostnameResolver):
    @classmethod
    def from_crawler(cls, crawler: Any, reactor: Any) -> CountingResolver:
        resolver = super().from_crawler(crawler, reactor)
        resolver.original_resolver = _Counting(resolver.original_resolver,
                                               os.environ["TEST_DNS_LOG"])
        return resolver
