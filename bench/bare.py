"""The reference: a bare Scrapy spider that only follows a site's links, with Flawless's crawl settings.

Run as ``python -m bench.bare URL PROBE_FILE`` outside the Flawless project settings: it gets the
concurrency, robots.txt, reactor and timeouts the bench gives Flawless, and nothing else (no item
pipelines, no politeness delay, no add-on).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import scrapy
from scrapy.crawler import CrawlerProcess
from scrapy.http import Response, TextResponse
from scrapy.linkextractors import LinkExtractor

# The same as the bench passes to ``scrapy crawl site`` (see scripts/bench.py: CRAWL_SETTINGS).
SETTINGS: dict[str, Any] = {
    "ROBOTSTXT_OBEY": True,
    "CONCURRENT_REQUESTS": 16,
    "CONCURRENT_REQUESTS_PER_DOMAIN": 16,
    "AUTOTHROTTLE_ENABLED": False,
    "DOWNLOAD_DELAY": 0,
    "COOKIES_ENABLED": False,
    "TELNETCONSOLE_ENABLED": False,
    "HTTPERROR_ALLOW_ALL": True,
    "DEPTH_LIMIT": 0,
    "LOG_LEVEL": "WARNING",
    "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
    "TWISTED_DNS_RESOLVER": "scrapy.resolver.CachingHostnameResolver",
    "EXTENSIONS": {"bench.probe.Probe": 0},
}


class FollowSpider(scrapy.Spider):
    """Follows every link to the start URL's host and port; stores nothing."""

    name = "bare"

    def __init__(self, url: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.start_urls = [url]
        self.netloc = urlsplit(url).netloc
        self.links = LinkExtractor()  # its allow_domains does not match hosts with a port

    def parse(self, response: Response) -> Iterator[scrapy.Request]:
        if not isinstance(response, TextResponse) or response.status != 200:
            return
        self.crawler.stats.inc_value("bench/pages")
        for link in self.links.extract_links(response):
            if urlsplit(link.url).netloc == self.netloc:
                yield response.follow(link.url, self.parse)


def main() -> None:
    url, probe_file = sys.argv[1:3]
    process = CrawlerProcess({**SETTINGS, "BENCH_PROBE_FILE": probe_file})
    process.crawl(FollowSpider, url=url)
    process.start()


if __name__ == "__main__":
    main()
