"""``REDIS_URL``: the crawl frontier and duplicate filter live in a real Redis (scrapy-redis)."""

from __future__ import annotations

from collections import Counter

from tests.redisutil import Monitor


def test_a_crawl_with_a_redis_frontier_fetches_every_page_once(serve, scrapy, redis_url, db):
    import redis

    srv = serve("basic")
    with Monitor(redis_url) as monitor:
        result = scrapy("crawl", "site", "-a", f"url={srv.url}", "-s",
                        "FLAWLESS_LINKS_ENABLED=false", REDIS_URL=redis_url)
    assert "flawless_spider.frontier.SharedScheduler" in result.stderr
    counts = Counter(srv.paths())
    assert [p for p, n in counts.items() if n > 1] == []
    assert "/docs/orphan.html" in counts and "/private/secret.html" not in counts
    [crawl] = db.query("SELECT id, status, pages FROM crawls")
    assert crawl == {"id": crawl["id"], "status": "complete", "pages": 5}  # HTML pages only
    # The frontier was really in Redis: every page request went through the crawl's queue and
    # duplicate filter there (not Scrapy's in-memory scheduler) ...
    prefix = f"flawless:{srv.url.split('/')[2]}:{crawl['id']}"
    used = Counter((c[0], c[1]) for c in monitor.commands if len(c) > 1)
    fetched = sum(n for p, n in counts.items() if p != "/robots.txt")
    assert used["ZADD", f"{prefix}:requests"] >= fetched
    assert used["SADD", f"{prefix}:dupefilter"] >= fetched
    # ... and is cleaned up when the crawl ends.
    assert redis.Redis.from_url(redis_url).keys("flawless:*") == []
