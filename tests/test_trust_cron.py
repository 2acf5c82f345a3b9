"""The schedule: partial crawls never move it; a failed scheduled crawl is retried soon, with backoff."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import PROJECT
from tests.crawlkit import FAST_LINKS, make_site


def due(env) -> str:
    result = subprocess.run([sys.executable, "-m", "flawless_spider.cron", "--dry-run"],
                            cwd=PROJECT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def age(db, minutes: float) -> None:
    """Make every crawl look ``minutes`` older."""
    db.query("UPDATE crawls SET started_at = started_at - make_interval(mins => %s)", (minutes,))


def test_a_failed_crawl_is_retried_at_the_next_run_with_backoff(tmp_path, serve, scrapy,
                                                                 scrapy_env, db):
    root = make_site(tmp_path / "s", "<p>Hello.</p>")
    (root / "_status.json").write_text('{"/": 503}')
    srv = serve(root)
    host = srv.url.split("/")[2]
    scrapy("sites", "add", srv.url, "--email", "owner@example.com", "--every", "daily")
    scrapy("crawl", "site", "-a", f"site={host}", *FAST_LINKS, check=False)
    assert host not in due(scrapy_env)  # just failed: not again in the same cron run
    age(db, 6)
    assert host in due(scrapy_env)  # the next run (every 15 minutes) retries, not tomorrow
    scrapy("crawl", "site", "-a", f"site={host}", *FAST_LINKS, check=False)
    age(db, 6)
    assert host not in due(scrapy_env)  # second failure: the wait doubles
    age(db, 15)
    assert host in due(scrapy_env)
    (root / "_status.json").unlink()
    scrapy("crawl", "site", "-a", f"site={host}", *FAST_LINKS)
    age(db, 60)
    assert host not in due(scrapy_env)  # healthy again: back to its daily schedule


def test_a_partial_crawl_does_not_move_the_schedule(tmp_path, serve, scrapy, scrapy_env, db):
    root = make_site(tmp_path / "s", '<p>Hello.</p><a href="/a.html">a</a>')
    (root / "a.html").write_text("<p>A.</p>")
    srv = serve(root)
    host = srv.url.split("/")[2]
    scrapy("sites", "add", srv.url, "--email", "owner@example.com", "--every", "daily")
    scrapy("crawl", "site", "-a", f"site={host}", *FAST_LINKS)
    age(db, 25 * 60)
    assert host in due(scrapy_env)
    scrapy("crawl", "site", "-a", f"url={srv.url}a.html", *FAST_LINKS)
    assert host in due(scrapy_env)  # a check of one page is not the daily crawl
