"""The reference: a bare Scrapy spider that only follows a site's links, with Flawless's crawl settings.

Run as ``python -m bench.bare URL PROBE_FILE [STATE_FILE]`` outside the Flawless project settings:
it gets the concurrency, robots.txt, reactor and timeouts the bench gives Flawless, and nothing else
(no item pipelines, no politeness delay, no add-on).

With ``STATE_FILE`` it is also the reference for re-crawls: when the file does not exist, the
crawl writes each page's validators (``ETag``, ``Last-Modified``) and the links it followed into
it; when it exists, the crawl sends conditional requests and, for a ``304 Not Modified``, follows
the links stored for the page, each URL once (a set, not Scrapy's duplicate filter, keeps URLs
already requested out). That is Scrapy's own cost of an unchanged re-crawl.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
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
    """Follows every link to the start URL's host and port; stores nothing (but ``state``)."""

    name = "bare"

    def __init__(self, url: str, state: str = "", **kwargs: Any):
        super().__init__(**kwargs)
        self.start_urls = [url]
        self.netloc = urlsplit(url).netloc
        self.links = LinkExtractor()  # its allow_domains does not match hosts with a port
        self.state_file = Path(state) if state else None
        self.known: dict[str, dict[str, Any]] = {}
        """Per URL from the last crawl: its validators and links (when re-crawling)."""
        self.seen: dict[str, dict[str, Any]] = {}
        """Per URL this crawl: the same, written to ``state`` at the end of a first crawl."""
        if self.state_file and self.state_file.exists():
            self.known = json.loads(self.state_file.read_text())
        self.requested: set[str] = set()

    async def start(self):
        for url in self.start_urls:
            self.requested.add(url)
            yield self.request(url)

    def request(self, url: str) -> scrapy.Request:
        """A request for ``url``, conditional when the last crawl stored its validators."""
        headers = {}
        if (known := self.known.get(url)) is not None:
            if known.get("etag"):
                headers["If-None-Match"] = known["etag"]
            if known.get("modified"):
                headers["If-Modified-Since"] = known["modified"]
        return scrapy.Request(url, self.parse, headers=headers)

    def parse(self, response: Response) -> Iterator[scrapy.Request]:
        if response.status == 304 and response.url in self.known:
            self.crawler.stats.inc_value("bench/pages")
            self.crawler.stats.inc_value("bench/not_modified")
            for url in self.known[response.url]["links"]:
                if url not in self.requested:
                    self.requested.add(url)
                    yield self.request(url)
            return
        if not isinstance(response, TextResponse) or response.status != 200:
            return
        self.crawler.stats.inc_value("bench/pages")
        links = [link.url for link in self.links.extract_links(response)
                 if urlsplit(link.url).netloc == self.netloc]
        if self.state_file:
            self.seen[response.url] = {
                "etag": response.headers.get("ETag", b"").decode(),
                "modified": response.headers.get("Last-Modified", b"").decode(),
                "links": links}
        for url in links:
            yield self.request(url)

    def closed(self, reason: str) -> None:
        if self.state_file and not self.known:
            self.state_file.write_text(json.dumps(self.seen))


def main() -> None:
    if len(sys.argv) not in (3, 4) or sys.argv[1] in ("-h", "--help"):
        sys.exit("usage: python -m bench.bare URL PROBE_FILE [STATE_FILE]"
                 " (run by scripts/bench; see this module's docstring)")
    url, probe_file, *state = sys.argv[1:4]
    process = CrawlerProcess({**SETTINGS, "BENCH_PROBE_FILE": probe_file})
    process.crawl(FollowSpider, url=url, state=state[0] if state else "")
    process.start()


if __name__ == "__main__":
    main()
