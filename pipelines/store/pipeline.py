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
from flawless_spider.findings import fingerprint, place
from flawless_spider.items import FindingsBatch, Page
from pipelines.store.fold import IndexFolder

logger = logging.getLogger(__name__)

# Errors caused by one item's data (not by the database being down): worth retrying item by item.
STORE_ERRORS = (psycopg2.DataError, psycopg2.errors.ProgramLimitExceeded, UnicodeEncodeError)

PAGE_COLUMNS = ("crawl_id", "url", "final_url", "status", "error", "content_type",
                "content_hash", "title", "depth", "size", "anchors", "checked", "canonical_url")


class StorePipeline:
    """Buffers items and writes them in one transaction per batch on the database thread."""

    def __init__(self, crawler: Crawler, db: Database, batch_size: int):
        self.crawler = crawler
        self.db = db
        self.batch_size = max(1, batch_size)
        self.pages: list[Page] = []
        self.loose: list[FindingsBatch] = []
        self.folder = IndexFolder()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        return cls(crawler, Database.from_crawler(crawler),
                   crawler.settings.getint("FLAWLESS_DB_BATCH_SIZE"))

    async def process_item(self, item: Any) -> Any:
        if isinstance(item, Page):
            if not self.folder.take(item):
                self.pages.append(item)
        elif isinstance(item, FindingsBatch):
            if not self.folder.done:  # the first end-of-crawl batch: every page is in
                self.pages.extend(self.folder.release())
            self.loose.append(self.folder.remap(item))
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
        self.pages.extend(self.folder.release())
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
    """Upsert pages, findings and the crawl's finding links in one transaction.

    A finding marked ``unverified`` (its target could not be checked this time) creates
    nothing: it only keeps an already open finding of that identity open in this crawl.
    A site-wide finding's ``page_list`` adds to the pages it is known on (``finding_pages``);
    pages this crawl checked without it are taken off.
    """
    by_crawl: dict[tuple[int, int], dict[str, dict[str, Any]]] = {}
    kept: dict[tuple[int, int], set[str]] = {}
    page_rows: dict[tuple[int, str], tuple] = {}
    for page in pages:
        url = _text(page.url)
        page_rows[(page.crawl_id, url)] = (
            page.crawl_id, url, _text(page.final_url), page.status, _text(page.error),
            _text(page.content_type), page.content_hash, _text(page.title)[:1000], page.depth,
            page.size, [_text(a) for a in page.anchors], page.evidence and not page.canonical_url,
            page.canonical_url or None,
        )
        _sort(page.site_id, page.crawl_id, page.findings, by_crawl, kept)
    for batch in loose:
        _sort(batch.site_id, batch.crawl_id, batch.findings, by_crawl, kept)
        for url in batch.checked_places:
            url = _text(url)
            page_rows.setdefault((batch.crawl_id, url), (
                batch.crawl_id, url, url, 200, None, "text/css", "", "", 0, 0, [], True, None))
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
                 _text(place(item)), _json({k: v for k, v in item.items() if k != "page_list"}),
                 crawl_id, crawl_id)
                for fp, item in items.items()
            ]
            ids = psycopg2.extras.execute_values(
                cur,
                "INSERT INTO findings (site_id, fingerprint, type, severity, page_url, place, data,"
                " first_crawl_id, last_crawl_id) VALUES %s"
                " ON CONFLICT (site_id, fingerprint) DO UPDATE SET"
                "  last_seen = now(), last_crawl_id = EXCLUDED.last_crawl_id,"
                "  data = EXCLUDED.data, severity = EXCLUDED.severity,"
                "  page_url = EXCLUDED.page_url,"
                "  first_seen = CASE WHEN findings.fixed_at IS NULL THEN findings.first_seen"
                "    ELSE now() END,"
                "  first_crawl_id = CASE WHEN findings.fixed_at IS NULL"
                "    THEN findings.first_crawl_id ELSE EXCLUDED.first_crawl_id END,"
                "  fixed_at = NULL, fixed_crawl_id = NULL"
                " RETURNING id, fingerprint",
                rows,
                fetch=True,
            )
            psycopg2.extras.execute_values(
                cur,
                "INSERT INTO crawl_findings (crawl_id, finding_id) VALUES %s ON CONFLICT DO NOTHING",
                [(crawl_id, row["id"]) for row in ids],
            )
            listed = {row["id"]: items[row["fingerprint"]]["page_list"] for row in ids
                      if "page_list" in items[row["fingerprint"]]}
            if listed:
                psycopg2.extras.execute_values(
                    cur, "INSERT INTO finding_pages (finding_id, url) VALUES %s ON CONFLICT DO NOTHING",
                    [(fid, _text(url)) for fid, urls in listed.items() for url in urls],
                )
                # Pages this crawl checked without the block no longer have it; pages it did
                # not reach keep it (so a crawl of part of the site cannot take it for fixed).
                for fid, urls in listed.items():
                    cur.execute(
                        "DELETE FROM finding_pages fp USING pages p WHERE fp.finding_id = %s"
                        " AND p.crawl_id = %s AND p.url = fp.url AND p.checked"
                        " AND NOT (fp.url = ANY(%s))", (fid, crawl_id, [_text(u) for u in urls]))
        for (site_id, crawl_id), fingerprints in kept.items():
            cur.execute(
                "INSERT INTO crawl_findings (crawl_id, finding_id)"
                " SELECT %s, id FROM findings WHERE site_id = %s AND fingerprint = ANY(%s)"
                " AND fixed_at IS NULL ON CONFLICT DO NOTHING",
                (crawl_id, site_id, sorted(fingerprints)),
            )


def _sort(site_id: int, crawl_id: int, findings: list[dict[str, Any]],
          by_crawl: dict[tuple[int, int], dict[str, dict[str, Any]]],
          kept: dict[tuple[int, int], set[str]]) -> None:
    """File findings by crawl: real ones to upsert, unverified ones to keep open."""
    bucket = by_crawl.setdefault((site_id, crawl_id), {})
    for item in findings:
        fp = fingerprint(site_id, item)
        if item.get("unverified"):
            kept.setdefault((site_id, crawl_id), set()).add(fp)
        else:
            bucket.setdefault(fp, item)
