"""The downloader keeps each host's concurrency limit, and so its connections.

A Flawless crawl always has more requests in Scrapy's downloader than one host may get at once
(``CONCURRENT_REQUESTS`` is raised by the link checks), so requests queue per host; Scrapy 2.19
started every queued request at once. The fixture server counts the requests it is answering and
logs each request's TCP connection (the client's port).
"""

from __future__ import annotations

from tests.crawlkit import FAST_LINKS, make_site

PAGES = 24
LIMIT = 2


def test_a_host_never_gets_more_requests_at_once_than_its_limit(tmp_path, serve, scrapy):
    # Pages that take a moment to answer, all linked from the home page: they queue for the host.
    links = "".join(f'<a href="/__slow/0.2?n={n}">page {n}</a>' for n in range(PAGES))
    server = serve(make_site(tmp_path / "site", f"<html><body>{links}</body></html>"))
    scrapy("crawl", "site", "-a", f"url={server.url}", *FAST_LINKS,
           "-s", f"CONCURRENT_REQUESTS_PER_DOMAIN={LIMIT}")
    slow = [e for e in server.log() if e["path"].startswith("/__slow/")]
    assert len(slow) == PAGES
    assert max(e["in_flight"] for e in slow) <= LIMIT
    # Connections are kept and reused: no more than the host may use at once.
    assert len({e["conn"] for e in server.log()}) <= LIMIT
