"""``REDIS_URL``: the crawl frontier and duplicate filter live in a real Redis (scrapy-redis)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Iterator

import pytest


@pytest.fixture
def redis_url(tmp_path) -> Iterator[str]:
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is not installed: run scripts/test, which installs it")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(timeout=10)


def test_a_crawl_with_a_redis_frontier_fetches_every_page_once(serve, scrapy, redis_url, db):
    import redis

    srv = serve("basic")
    result = scrapy("crawl", "site", "-a", f"url={srv.url}", "-s", "FLAWLESS_LINKS_ENABLED=false",
                    REDIS_URL=redis_url)
    assert "flawless_spider.frontier.SiteRedisScheduler" in result.stderr
    counts = Counter(srv.paths())
    assert [p for p, n in counts.items() if n > 1] == []
    assert "/docs/orphan.html" in counts and "/private/secret.html" not in counts
    [crawl] = db.query("SELECT status, pages FROM crawls")
    assert crawl == {"status": "complete", "pages": 5}  # HTML pages (not the 404 target)
    # The frontier was really in Redis (and is cleaned up when the crawl ends).
    assert redis.Redis.from_url(redis_url).keys("flawless:*") == []
