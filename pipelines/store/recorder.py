"""Close the crawl record: status, reason, stats, fixed findings and the digest, in one transaction."""

from __future__ import annotations

import json
import logging
from typing import Any

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

from flawless_spider.crawls import WORKER_DIED, html_pages
from flawless_spider.db import Database, DatabaseUnavailableError
from pipelines.digest import outage, queue_digest

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
        checked = checked_kinds(stats) if status != "failed" else []
        left = {k: v for k, v in getattr(spider, "left_out", {}).items() if v}
        db = Database.from_crawler(self.crawler)
        try:
            # Waits out a database outage; finish_crawl is one transaction, safe to run again.
            await db.run_retrying("closing the crawl record", finish_crawl, db, spider.site.id,
                                  crawl_id, status, why, stats, self.crawler.settings,
                                  checked, left)
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
        root_error = getattr(spider, "root_error", None)
        if root_error:
            return "failed", start_page_problem(root_error, getattr(spider, "root_detail", ""))
        if reason != "finished":
            return "incomplete", INCOMPLETE_REASONS.get(reason, f"stopped early ({reason})")
        left = getattr(spider, "left_out", {})
        cuts = [LIMIT_REASONS[name].format(spider=spider, urls=_plural(left[name], "URL"),
                                           more=_pages(left[name]).replace(" ", " more ", 1),
                                           patterns=trap_patterns(spider))
                for name in LIMIT_REASONS if left.get(name)]
        if cuts:
            return "incomplete", "; ".join(cuts)
        if self.item_errors:
            return "incomplete", f"{_pages(self.item_errors)} could not be processed (see the log)"
        stats = self.crawler.stats.get_stats()
        unchecked = sum(v for k, v in stats.items() if k.startswith("flawless/check_errors/"))
        if unchecked:
            return "incomplete", f"{_pages(unchecked)} could not be fully checked (see the log)"
        return "complete", None


# Why a crawl stopped short of the site, with the number of pages (URLs) it left unfetched.
LIMIT_REASONS = {
    "budget": "the page budget of {spider.max_pages} pages was reached ({more} not fetched)",
    "depth": "the depth limit (DEPTH_LIMIT={spider.depth_limit}) was reached ({more} not fetched)",
    "trap": "{urls} that looked like a crawler trap not fetched{patterns}",
}


def trap_patterns(spider: Any) -> str:
    """``: session ids in ?sid= (30 URLs), calendar /events/<n>/<n>/ (2 URLs)``, or ``""``."""
    cut = getattr(getattr(spider, "traps", None), "cut", None) or {}
    return (": " + ", ".join(f"{pattern} ({_plural(count, 'URL')})"
                             for pattern, count in sorted(cut.items(), key=lambda kv: -kv[1]))
            if cut else "")

START_PAGE_PROBLEMS = {
    "robots": "robots.txt does not allow crawling the start page",
    "too_long": "the start URL is longer than FLAWLESS_MAX_URL_LENGTH",
    "offsite": "the start page redirects to another site",
    "blocked": "the start page was blocked",
}
NETWORK_WORDS = {
    "dns": "host name not found",
    "refused": "connection refused",
    "timeout": "no answer in time",
    "tls": "TLS or certificate error",
}


def start_page_problem(error: str, detail: str = "") -> str:
    """Why a crawl failed, in words: ``the start page answered HTTP 503``."""
    if error.startswith("HTTP "):
        why = f"the start page answered {error}"
    else:
        why = START_PAGE_PROBLEMS.get(error) or (
            f"the start page could not be fetched ({NETWORK_WORDS.get(error, error)})")
    return f"{why}: {detail}" if detail else why


def checked_kinds(stats: dict[str, Any]) -> list[str]:
    """Finding kinds this crawl checked in full (``flawless/checked/*`` stats set by the stages)."""
    prefix = "flawless/checked/"
    return sorted(k[len(prefix):] for k, v in stats.items() if k.startswith(prefix) and v)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _pages(count: int) -> str:
    return _plural(count, "page")


# A finding is fixed only with evidence: this crawl fetched its place (2xx HTML of the site,
# every stage checked it, or an address now serving the same document as a checked one), the
# stage that finds its kind ran in full, and the finding is gone. A site-wide finding needs
# every page it was on to be such evidence.
FIX_SQL = """
WITH evidence AS (
    SELECT p.url FROM pages p
    WHERE p.crawl_id = %(crawl)s AND (p.checked OR (p.canonical_url IS NOT NULL AND EXISTS (
        SELECT 1 FROM pages q WHERE q.crawl_id = %(crawl)s AND q.url = p.canonical_url
        AND q.checked)))
)
UPDATE findings f SET fixed_at = now(), fixed_crawl_id = %(crawl)s
WHERE f.site_id = %(site)s AND f.fixed_at IS NULL
  AND f.type || CASE WHEN f.type = 'link' AND f.data->>'external' = 'true'
                     THEN ':external' ELSE '' END = ANY(%(checked)s)
  AND NOT EXISTS (SELECT 1 FROM crawl_findings cf
                  WHERE cf.crawl_id = %(crawl)s AND cf.finding_id = f.id)
  AND CASE WHEN f.place LIKE 'block:%%' THEN
        EXISTS (SELECT 1 FROM finding_pages fp WHERE fp.finding_id = f.id)
        AND NOT EXISTS (SELECT 1 FROM finding_pages fp WHERE fp.finding_id = f.id
                        AND fp.url NOT IN (SELECT url FROM evidence))
      ELSE f.page_url IN (SELECT url FROM evidence) END
"""

def finish_crawl(db: Database, site_id: int, crawl_id: int, status: str, reason: str | None,
                 stats: dict[str, Any], settings: Any, checked: list[str] | tuple = (),
                 left_out: dict[str, int] | None = None) -> None:
    """Close the record: fix what has evidence, count outages, queue the digest or a notice.

    A failed crawl changes no finding; a partial crawl (``-a url=``) never sends a digest and
    never counts towards the schedule or an outage. All in one transaction.
    """
    with db.transaction() as cur:
        cur.execute("SELECT kind, status, reason FROM crawls WHERE id = %s FOR UPDATE", (crawl_id,))
        row = cur.fetchone()
        if row and row["status"] != "running" and row["reason"] != WORKER_DIED:
            return  # a retry after a commit whose answer was lost: already recorded
        kind = row["kind"] if row else "full"
        if status != "failed" and checked:
            cur.execute(FIX_SQL, {"crawl": crawl_id, "site": site_id, "checked": list(checked)})
        cur.execute(html_pages("%s"), (crawl_id,))
        pages = cur.fetchone()["count"]
        cur.execute(
            "UPDATE crawls SET status = %s, reason = %s, finished_at = now(), stats = %s,"
            " pages = %s, checked = %s, left_out = %s WHERE id = %s",
            (status, reason, json.dumps(stats), pages, list(checked), json.dumps(left_out or {}),
             crawl_id),
        )
        if kind != "full":
            return
        outage.record(cur, site_id, crawl_id, status, settings)
        if status != "failed":
            queue_digest(cur, site_id, crawl_id, settings)
