"""The downloader keeps each host's concurrency limit and its connections, and asks once.

A Flawless crawl always has more requests in Scrapy's downloader than one host may get at once
(``CONCURRENT_REQUESTS`` is raised by the link checks), so requests queue per host; Scrapy 2.19
started every queued request at once. Link checks stop reading a body after its first chunk,
which closed the connection, and Twisted's pool could hand that closing connection to the next
request, which the server then saw twice. The fixture server counts the requests it is answering
and logs each request's TCP connection (the client's port).
"""

from __future__ import annotations

from collections import Counter

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


RESOURCES = 300


def _check_resources(tmp_path, serve, scrapy, src: str):
    images = "".join(f'<img src="{src}{n}.png">' for n in range(RESOURCES))
    server = serve(make_site(tmp_path / "site", f"<html><body><p>Hi</p>{images}</body></html>"))
    scrapy("crawl", "site", "-a", f"url={server.url}", *FAST_LINKS)
    checks = [e for e in server.log() if e["path"].startswith(src)]
    return checks, Counter(e["path"] for e in checks)


def test_small_resources_are_checked_once_each_over_kept_connections(tmp_path, serve, scrapy):
    # 404s with a small body: read whole, so the connection goes back to the pool open.
    checks, counts = _check_resources(tmp_path, serve, scrapy, "/missing/")
    assert len(counts) == RESOURCES
    assert {path: n for path, n in counts.items() if n > 1} == {}
    # At most the host's limit (CONCURRENT_REQUESTS_PER_DOMAIN, 4); it was one per check.
    assert len({e["conn"] for e in checks}) <= 4


def test_a_connection_closed_after_the_first_chunk_is_never_reused(tmp_path, serve, scrapy):
    # Chunked bodies: the check stops at the first chunk, which here also ends the response.
    checks, counts = _check_resources(tmp_path, serve, scrapy, "/__chunked/")
    assert len(counts) == RESOURCES
    assert {path: n for path, n in counts.items() if n > 1} == {}
    assert {e["status"] for e in checks} == {200}
