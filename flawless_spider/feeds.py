"""Scrapy's feed exports (``-O``, ``-o``, ``FEEDS``) writing findings, not page records.

The findings of a crawl are only final when its record is closed: which are ``new``,
``open`` or ``fixed``, and a broken target listed once with every page linking to it. So
this exporter ignores the items flowing through the crawl (pages with their HTML) and, once
the engine has stopped (after the crawl recorder), feeds Scrapy's own slots the records of
``scrapy report --format jsonl``: same fields, same order, every format and storage Scrapy has.
"""

from __future__ import annotations

from typing import Any

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.extensions.feedexport import FeedExporter

from flawless_spider.db import Database


class FindingsFeedExporter(FeedExporter):
    """Scrapy's ``FeedExporter`` for the ``site`` spider: one finding per feed item."""

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> FeedExporter:
        if not crawler.spidercls or crawler.spidercls.name != "site":
            return FeedExporter.from_crawler(crawler)  # other spiders: Scrapy's own behaviour
        exporter = cls(crawler)
        crawler.signals.connect(exporter.open_spider, signals.spider_opened)
        # Not item_scraped: findings are written once the crawl record is closed.
        crawler.signals.connect(exporter.export_findings, signals.engine_stopped)
        return exporter

    async def export_findings(self) -> None:
        spider: Spider | None = self.crawler.spider
        if spider is None or not self.slots:
            return
        records = await self._records(spider)
        for slot in self.slots:
            options = self.feeds[slot.uri_template]
            if slot.format == "csv" and not options.get("fields"):
                from flawless_spider.report import export_fields

                options["fields"] = export_fields(records)  # every type's columns, not the first's
        for record in records:
            self.item_scraped(record, spider)
        await self.close_spider(spider)

    async def _records(self, spider: Any) -> list[dict[str, Any]]:
        from flawless_spider.lifecycle import CrawlLifecycle

        crawl = CrawlLifecycle.of(self.crawler)
        if crawl is None:
            return []
        db = Database.from_crawler(self.crawler)
        try:
            return await db.run(crawl_records, db, crawl.site, crawl.crawl_id)
        finally:
            db.close()


def crawl_records(db: Database, site: Any, crawl_id: int) -> list[dict[str, Any]]:
    """The report records of a closed crawl (none for a failed or unrecorded one)."""
    from flawless_spider import report

    rows = db.query("SELECT status FROM crawls WHERE id = %s", (crawl_id,))
    if not rows or rows[0]["status"] not in ("complete", "incomplete"):
        return []
    return report.crawl_findings(db, site, crawl_id)
