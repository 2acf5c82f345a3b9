"""The add-on derives settings from their final values: defaults < environment < ``-s``."""

from __future__ import annotations

from collections import Counter

from tests.redisutil import Monitor


def test_s_contact_url_reaches_the_user_agent_and_s_user_agent_wins(serve, scrapy):
    srv = serve("basic")
    scrapy("crawl", "site", "-a", f"url={srv.url}", "-s", "FLAWLESS_MAX_PAGES=1",
           "-s", "FLAWLESS_CONTACT_URL=https://ops.example/from-s",
           FLAWLESS_CONTACT_URL="https://ops.example/from-env")
    assert {e["ua"] for e in srv.log()} == {
        "Flawless/0.1.0 (+https://ops.example/from-s; link and spelling checker)"}
    srv.reset()
    scrapy("crawl", "site", "-a", f"url={srv.url}", "-s", "FLAWLESS_MAX_PAGES=1",
           "-s", "USER_AGENT=OpsBot/2 (+https://ops.example/bot)")
    assert {e["ua"] for e in srv.log()} == {"OpsBot/2 (+https://ops.example/bot)"}


def test_s_redis_url_chooses_the_shared_frontier(serve, scrapy, redis_url, db):
    srv = serve("basic")
    with Monitor(redis_url) as monitor:
        scrapy("crawl", "site", "-a", f"url={srv.url}", "-s", f"REDIS_URL={redis_url}",
               "-s", "FLAWLESS_LINKS_ENABLED=false", "-s", "FLAWLESS_LANGUAGE_ENABLED=false")
    queued = Counter(c[0] for c in monitor.commands if len(c) > 1 and c[1].endswith(":requests"))
    assert queued["ZADD"] >= 5  # every page went through the queue in Redis
    [crawl] = db.query("SELECT status, pages FROM crawls")
    assert crawl == {"status": "complete", "pages": 5}
