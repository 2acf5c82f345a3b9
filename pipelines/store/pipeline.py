"""Store every page and its findings, in batches, idempotently (a page is stored once per crawl)."""

from __future__ import annotations

import json
import logging
from typing import Any

import psycopg2
import psycopg2.errors
import psycopg2.extras
from scrapy.crawler import Crawler

from flawless_spider.db import Database
from flawless_spider.findings import fingerprint
from flawless_spider.items import FindingsBatch, Page

logger = logging.getLogger(__name__)

# Errors caused by one item's data (not by the database being down): worth retrying item by item.
STORE_ERRORS = (psycopg2.DataError, psycopg2.errors.ProgramLimitExceeded, UnicodeEncodeError)

PAGE_COLUMNS = ("crawl_id", "url", "final_url", "status", "error", "content_type",
                "content_hash", "title", "depth", "size", "anchors")


class StorePipeline:
    """Buffers items and writes them in one transaction per batch on the database thread."""

    def __init__(self, crawler: Crawler, db: Database, batch_size: int):
        self.crawler = crawler
        self.db = db
        self.batch_size = max(1, batch_size)
        self.pages: list[Page] = []
        self.loose: list[FindingsBatch] = []

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        return cls(crawler, Database.from_crawler(crawler),
                   crawler.settings.getint("FLAWLESS_DB_BATCH_SIZE"))

    async def process_item(self, item: Any) -> Any:
        if isinstance(item, Page):
            self.pages.append(item)
        elif isinstance(item, FindingsBatch):
            self.loose.append(item)
        else:
            return item
        if len(self.pages) + len(self.loose) >= self.batch_size:
            await self.flush()
        return item

    async def flush(self) -> None:
        pages, loose = self.pages, self.loose
        self.pages, self.loose = [], []
        if not (pages or loose):
            return
        try:
            await self.db.run(write_batch, self.db, pages, loose)
        except STORE_ERRORS:
            # One odd page must not take the batch with it: store them one by one.
            logger.warning("A batch of %d pages could not be stored; retrying page by page",
                           len(pages))
            stored, failed = await self.db.run(write_one_by_one, self.db, pages, loose)
            self.crawler.stats.inc_value("flawless/check_errors/store", failed)
            self.crawler.stats.inc_value("flawless/pages_stored", stored)
            return
        self.crawler.stats.inc_value("flawless/pages_stored", len(pages))

    async def close_spider(self) -> None:
        await self.flush()


def write_one_by_one(db: Database, pages: list[Page], loose: list[FindingsBatch]) -> tuple[int, int]:
    """Store each item in its own transaction; returns (pages stored, items that failed)."""
    stored = failed = 0
    for page in pages:
        try:
            write_batch(db, [page], [])
            stored += 1
        except STORE_ERRORS:
            failed += 1
            logger.exception("Could not store %s", page.url)
    for batch in loose:
        try:
            write_batch(db, [], [batch])
        except STORE_ERRORS:
            failed += 1
            logger.exception("Could not store %d findings (%s)", len(batch.findings), batch.source)
    return stored, failed


def _json(value: Any) -> str:
    """JSON for a jsonb column: PostgreSQL refuses NUL characters, which page text may hold."""
    return json.dumps(value, default=str).replace("\\u0000", "")


def _text(value: str | None) -> str | None:
    """A value for a text column: PostgreSQL refuses NUL, which headers from the web may hold."""
    return value.replace("\x00", "") if value else value


def write_batch(db: Database, pages: list[Page], loose: list[FindingsBatch]) -> None:
    """Upsert pages, findings and the crawl's finding links in one transaction."""
    by_crawl: dict[tuple[int, int], dict[str, dict[str, Any]]] = {}
    page_rows: dict[tuple[int, str], tuple] = {}
    for page in pages:
        url = _text(page.url)
        page_rows[(page.crawl_id, url)] = (
            page.crawl_id, url, _text(page.final_url), page.status, _text(page.error),
            _text(page.content_type), page.content_hash, _text(page.title)[:1000], page.depth,
            page.size, [_text(a) for a in page.anchors],
        )
        bucket = by_crawl.setdefault((page.site_id, page.crawl_id), {})
        for item in page.findings:
            bucket.setdefault(fingerprint(page.site_id, item), item)
    for batch in loose:
        bucket = by_crawl.setdefault((batch.site_id, batch.crawl_id), {})
        for item in batch.findings:
            bucket.setdefault(fingerprint(batch.site_id, item), item)
    with db.transaction() as cur:
        if page_rows:
            psycopg2.extras.execute_values(
                cur,
                f"INSERT INTO pages ({', '.join(PAGE_COLUMNS)}) VALUES %s"
                " ON CONFLICT (crawl_id, url) DO UPDATE SET"
                + ", ".join(f" {c} = EXCLUDED.{c}" for c in PAGE_COLUMNS[2:]),
                list(page_rows.values()),
            )
        for (site_id, crawl_id), items in by_crawl.items():
            if not items:
                continue
            rows = [
                (site_id, fp, item["type"], item["severity"], _text(item["page_url"]),
                 _json(item), crawl_id, crawl_id)
                for fp, item in items.items()
            ]
            ids = psycopg2.extras.execute_values(
                cur,
                "INSERT INTO findings (site_id, fingerprint, type, severity, page_url, data,"
                " first_crawl_id, last_crawl_id) VALUES %s"
                " ON CONFLICT (site_id, fingerprint) DO UPDATE SET"
                "  last_seen = now(), last_crawl_id = EXCLUDED.last_crawl_id,"
                "  data = EXCLUDED.data, severity = EXCLUDED.severity,"
                "  first_seen = CASE WHEN findings.fixed_at IS NULL THEN findings.first_seen"
                "    ELSE now() END,"
                "  first_crawl_id = CASE WHEN findings.fixed_at IS NULL"
                "    THEN findings.first_crawl_id ELSE EXCLUDED.first_crawl_id END,"
                "  fixed_at = NULL, fixed_crawl_id = NULL"
                " RETURNING id",
                rows,
                fetch=True,
            )
            psycopg2.extras.execute_values(
                cur,
                "INSERT INTO crawl_findings (crawl_id, finding_id) VALUES %s ON CONFLICT DO NOTHING",
                [(crawl_id, row["id"]) for row in ids],
            )
