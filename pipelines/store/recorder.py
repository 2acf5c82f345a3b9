"""Close the crawl record: status, reason, stats, fixed findings and the digest, in one transaction."""

from __future__ import annotations

import json
import logging
from typing import Any

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

from flawless_spider.db import Database, DatabaseUnavailableError
from pipelines.digest import queue_digest

logger = logging.getLogger(__name__)

# Scrapy close reasons that mean the crawl did not see the whole site.
INCOMPLETE_REASONS = {
    "shutdown": "stopped before the end (shutdown requested)",
    "cancelled": "cancelled before the end",
    "closespider_timeout": "the crawl's time limit was reached",
    "closespider_itemcount": "the item limit was reached",
    "closespider_pagecount": "the page limit was reached",
    "closespider_errorcount": "too many errors",
    "memusage_exceeded": "the memory limit was reached",
}


class CrawlRecorder:
    """Scrapy extension: records how the crawl ended (``complete``/``incomplete``/``failed``, why)."""

    def __init__(self, crawler: Crawler):
        self.crawler = crawler
        self.item_errors = 0
        crawler.signals.connect(self.item_error, signal=signals.item_error)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CrawlRecorder:
        if not crawler.spidercls or crawler.spidercls.name != "site":
            raise NotConfigured
        return cls(crawler)

    def item_error(self, item: Any, response: Any, spider: Spider, failure: Any) -> None:
        self.item_errors += 1

    async def spider_closed(self, spider: Spider, reason: str) -> None:
        crawl_id = getattr(spider, "crawl_id", None)
        if crawl_id is None:
            return
        status, why = self.outcome(spider, reason)
        stats = json.loads(json.dumps(self.crawler.stats.get_stats(), default=str))
        db = Database.from_crawler(self.crawler)
        try:
            # Waits out a database outage; finish_crawl is one transaction, safe to run again.
            await db.run_retrying("closing the crawl record", finish_crawl, db, spider.site.id,
                                  crawl_id, status, why, stats, self.crawler.settings)
        except DatabaseUnavailableError as exc:
            logger.error("Crawl %d of %s could not be recorded as %s: %s. It stays 'running' "
                         "until the next command closes it as incomplete (worker died)",
                         crawl_id, spider.site.domain, status, exc)
            db.close()
            return
        log = logger.info if status == "complete" else logger.warning
        log("Crawl %d of %s: %s%s", crawl_id, spider.site.domain, status, f" ({why})" if why else "")
        db.close()

    def outcome(self, spider: Any, reason: str) -> tuple[str, str | None]:
        blocked = getattr(spider, "root_blocked", "")
        if spider.root_error == "blocked" and blocked:
            return "failed", f"the start page was blocked: {blocked}"
        if spider.root_error and not self.crawler.stats.get_value("flawless/pages_stored"):
            return "failed", f"the start page could not be fetched ({spider.root_error})"
        if spider.root_error and spider.root_error in ("dns", "refused", "timeout", "tls",
                                                       "blocked", "network"):
            return "failed", f"the start page could not be fetched ({spider.root_error})"
        if reason != "finished":
            return "incomplete", INCOMPLETE_REASONS.get(reason, f"stopped early ({reason})")
        if spider.budget_exhausted:
            return "incomplete", f"the page budget of {spider.max_pages} pages was reached"
        if self.item_errors:
            return "incomplete", f"{_pages(self.item_errors)} could not be processed (see the log)"
        stats = self.crawler.stats.get_stats()
        unchecked = sum(v for k, v in stats.items() if k.startswith("flawless/check_errors/"))
        if unchecked:
            return "incomplete", f"{_pages(unchecked)} could not be fully checked (see the log)"
        return "complete", None


def _pages(count: int) -> str:
    return f"{count} page" if count == 1 else f"{count} pages"


def finish_crawl(db: Database, site_id: int, crawl_id: int, status: str, reason: str | None,
                 stats: dict[str, Any], settings: Any) -> None:
    """Mark fixed findings (complete crawls only), close the record and queue the digest."""
    with db.transaction() as cur:
        if status == "complete":
            cur.execute(
                "UPDATE findings f SET fixed_at = now(), fixed_crawl_id = %s"
                " WHERE f.site_id = %s AND f.fixed_at IS NULL AND NOT EXISTS ("
                "  SELECT 1 FROM crawl_findings cf WHERE cf.crawl_id = %s AND cf.finding_id = f.id)",
                (crawl_id, site_id, crawl_id),
            )
        cur.execute(
            "UPDATE crawls SET status = %s, reason = %s, finished_at = now(), stats = %s,"
            " pages = (SELECT count(*) FROM pages WHERE crawl_id = %s) WHERE id = %s",
            (status, reason, json.dumps(stats), crawl_id, crawl_id),
        )
        queue_digest(cur, site_id, crawl_id, settings)
