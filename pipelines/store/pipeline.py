"""Store every page and its findings, in batches, idempotently (a page is stored once per crawl).

Writes wait out a database outage instead of losing pages: see :class:`StorePipeline`.

In a shared crawl (``REDIS_URL``) a page's request is released only once the page is stored,
with what the stages keep from it for the end of the crawl (see
:class:`~flawless_spider.lifecycle.CrawlLifecycle`); pages that may be another address of a page
are parked in Redis, and the worker that finishes the crawl folds them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
from collections import deque
from typing import Any

import psycopg2
import psycopg2.errors
import psycopg2.extras
import redis
from scrapy.crawler import Crawler

from flawless_spider.db import Database, DatabaseUnavailableError
from flawless_spider.findings import fingerprint, place
from flawless_spider.items import FindingsBatch, Page
from flawless_spider.lifecycle import CrawlLifecycle
from flawless_spider.recrawl import Recrawl, state_row
from pipelines.store.fold import IndexFolder

logger = logging.getLogger(__name__)

# Errors caused by one item's data (not by the database being down): worth retrying item by item.
STORE_ERRORS = (psycopg2.DataError, psycopg2.errors.ProgramLimitExceeded, UnicodeEncodeError)

PAGE_COLUMNS = ("crawl_id", "url", "final_url", "status", "error", "content_type",
                "content_hash", "title", "depth", "size", "anchors", "checked", "canonical_url",
                "reused")
STATE_COLUMNS = ("site_id", "url", "crawl_id", "basis", "etag", "last_modified", "content_hash",
                 "state")


class StorePipeline:
    """Buffers items and writes them in batches, one transaction each, on the database thread.

    Writing goes on in the background while the crawl continues. When the database goes away
    (a restart, a failover), batches are retried until it returns and items keep being
    buffered, without their HTML, up to ``FLAWLESS_DB_MAX_BUFFER`` pages; past that the crawl is
    paused (and items are held) until the database catches up. Nothing is dropped unless the
    outage outlasts ``FLAWLESS_DB_OUTAGE_TIMEOUT``: then the crawl stops with an error saying so.
    """

    def __init__(self, crawler: Crawler, db: Database, batch_size: int, max_buffer: int):
        self.crawler = crawler
        self.db = db
        self.batch_size = max(1, batch_size)
        self.max_buffer = max(self.batch_size, max_buffer)
        self.queue: deque[Page | FindingsBatch] = deque()
        self.waiting = 0
        """Pages not written yet: buffered or in the batch being written."""
        self.lost = 0
        self.gave_up = False
        self.closing = False
        self._writer: asyncio.Future[None] | None = None
        self._closing: asyncio.Future[None] | None = None
        self._room = asyncio.Event()
        self._paused = False
        self.folder = IndexFolder()
        self.crawl: CrawlLifecycle | None = None
        self.recrawl: Recrawl | None = None
        self.shared = False

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        settings = crawler.settings
        return cls(crawler, Database.from_crawler(crawler), settings.getint("FLAWLESS_DB_BATCH_SIZE"),
                   settings.getint("FLAWLESS_DB_MAX_BUFFER"))

    def open_spider(self) -> None:
        self.crawl = CrawlLifecycle.of(self.crawler)
        self.recrawl = Recrawl.of(self.crawler)
        self.shared = self.crawl is not None and self.crawl.shared is not None
        if self.crawl is not None and self.shared:
            self.crawl.add_flusher(self.flush)

    async def process_item(self, item: Any) -> Any:
        if isinstance(item, Page):
            if self.gave_up:
                self.lost += 1
                return item
            # The store needs none of the page's body: keep the buffer small (after deciding
            # whether the fetch is evidence, which needs to know it was HTML).
            # What a later crawl may reuse if the page does not change is taken now, whole.
            state = state_row(item, self.recrawl.basis) if self.recrawl is not None else None
            page = dataclasses.replace(item, html="", links=[], headers={}, checked=item.evidence,
                                       recrawl={"state": state} if state else {})
            if self.shared and self.folder.would_hold(page):
                assert self.crawl is not None
                await self.crawl.pages_done([], parked=[page])  # folded at the end, by one worker
            elif not self.folder.take(page):
                self._enqueue(page)
        elif isinstance(item, FindingsBatch):
            if self.gave_up:
                return item
            if not self.folder.done:  # the first end-of-crawl batch: every page is in
                await self._release_held()
            self.queue.append(self.folder.remap(item))
        else:
            return item
        if len(self.queue) >= self.batch_size and (self._writer is None or self._writer.done()):
            self._writer = asyncio.ensure_future(self._write_batches(final=False))
        if self.waiting >= self.max_buffer:
            await self._wait_for_room()
        return item

    def _enqueue(self, page: Page) -> None:
        self.queue.append(page)
        self.waiting += 1

    async def _release_held(self) -> None:
        """Pages held to be folded into another address of theirs go out (folded or not).

        In a shared crawl, the worker that finishes the crawl folds every worker's parked pages
        against the content hashes of all pages; the other workers hold nothing.
        """
        if self.shared:
            assert self.crawl is not None
            if self.crawl.role != "final" or self.folder.done:
                self.folder.done = True
                return
            parked, hashes = await self.crawl.parked_pages()
            for url, content_hash in hashes.items():
                self.folder.add(url, content_hash)
            self.folder.held.extend(parked)
        for page in self.folder.release():
            self._enqueue(page)

    async def flush(self) -> None:
        """Write everything buffered now (a shared worker that is idle releases its requests)."""
        if self._writer is not None:
            await self._writer
        await self._write_batches(final=True)

    async def close_spider(self) -> None:
        if not self.gave_up:
            await self._release_held()
        self.closing = True
        if self._writer is not None:
            await self._writer
        await self._write_batches(final=True)
        if self.lost:
            crawl = CrawlLifecycle.of(self.crawler)
            logger.error("%d pages of crawl %s were not stored: the database was unreachable",
                         self.lost, crawl.crawl_id if crawl is not None else "?")
            self.crawler.stats.inc_value("flawless/pages_lost", self.lost)

    # -- writing --------------------------------------------------------------------------

    async def _write_batches(self, final: bool) -> None:
        """Write full batches (and, when ``final``, the rest) until the buffer is drained."""
        while self.queue and (final or len(self.queue) >= self.batch_size) and not self.gave_up:
            batch = [self.queue.popleft() for _ in range(min(self.batch_size, len(self.queue)))]
            pages = [i for i in batch if isinstance(i, Page)]
            loose = [i for i in batch if isinstance(i, FindingsBatch)]
            try:
                await self._write(pages, loose)
            except DatabaseUnavailableError as exc:
                self._give_up(exc, len(pages))
            else:
                if self.shared and self.crawl is not None:
                    await self._done(pages)
            self.waiting -= len(pages)
            self._made_room()

    async def _write(self, pages: list[Page], loose: list[FindingsBatch]) -> None:
        stats = self.crawler.stats
        try:
            await self.db.run_retrying("storing pages", write_batch, self.db, pages, loose)
        except STORE_ERRORS:
            # One odd page must not take the batch with it: store them one by one.
            logger.warning("A batch of %d pages could not be stored; retrying page by page",
                           len(pages))
            stored, failed = await self.db.run_retrying("storing pages", write_one_by_one,
                                                        self.db, pages, loose)
            stats.inc_value("flawless/check_errors/store", failed)
            stats.inc_value("flawless/pages_stored", stored)
        except DatabaseUnavailableError:
            raise
        except Exception:  # not the data, not the connection: a bug; say so, count it, go on
            logger.exception("Could not store a batch of %d pages", len(pages))
            stats.inc_value("flawless/check_errors/store", len(pages) + len(loose))
        else:
            stats.inc_value("flawless/pages_stored", len(pages))

    async def _done(self, pages: list[Page]) -> None:
        """Stored: their requests are released (a Redis failure stops the crawl by itself)."""
        assert self.crawl is not None
        with contextlib.suppress(redis.RedisError):
            await self.crawl.pages_done(pages)

    def _give_up(self, exc: DatabaseUnavailableError, in_batch: int) -> None:
        """The outage lasted too long: drop what is buffered, say so once, stop the crawl."""
        self.gave_up = True
        self.lost += in_batch + sum(isinstance(i, Page) for i in self.queue)
        self.waiting -= sum(isinstance(i, Page) for i in self.queue)
        self.queue.clear()
        logger.error("Giving up on the database: %s. Stopping the crawl; the pages it had not "
                     "stored are lost", exc)
        engine = self.crawler.engine
        if not self.closing and engine is not None and engine.spider is not None:
            self._closing = asyncio.ensure_future(
                engine.close_spider_async(reason="database_unavailable"))

    # -- back-pressure --------------------------------------------------------------------

    async def _wait_for_room(self) -> None:
        """Hold this item (and pause the crawl) while too many pages wait for the database."""
        if not self._paused:
            self._paused = True
            self.crawler.engine.pause()
            logger.warning("%d pages are waiting for the database: crawl paused until they are "
                           "stored", self.waiting)
        while self.waiting >= self.max_buffer and not self.gave_up:
            self._room.clear()
            await self._room.wait()

    def _made_room(self) -> None:
        if self.waiting >= self.max_buffer and not self.gave_up:
            return
        self._room.set()
        if self._paused:
            self._paused = False
            engine = self.crawler.engine
            engine.unpause()
            logger.info("Crawl resumed: the database caught up")
            slot = getattr(engine, "_slot", None)  # wake the engine now, not at its next heartbeat
            if slot is not None:
                slot.nextcall.schedule()


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
    states: dict[tuple[int, str], tuple] = {}
    for page in pages:
        url = _text(page.url)
        page_rows[(page.crawl_id, url)] = (
            page.crawl_id, url, _text(page.final_url), page.status, _text(page.error),
            _text(page.content_type), page.content_hash, _text(page.title)[:1000], page.depth,
            page.size, [_text(a) for a in page.anchors], page.evidence and not page.canonical_url,
            page.canonical_url or None, page.reused,
        )
        if page.recrawl.get("state"):
            state = page.recrawl["state"]
            states[(state[0], state[1])] = (*state[:-1], psycopg2.Binary(state[-1]))
        _sort(page.site_id, page.crawl_id, page.findings, by_crawl, kept)
    for batch in loose:
        _sort(batch.site_id, batch.crawl_id, batch.findings, by_crawl, kept)
        for url in batch.checked_places:
            url = _text(url)
            page_rows.setdefault((batch.crawl_id, url), (
                batch.crawl_id, url, url, 200, None, "text/css", "", "", 0, 0, [], True, None,
                False))
    with db.transaction() as cur:
        if page_rows:
            _upsert(cur, "pages", PAGE_COLUMNS, list(page_rows.values()))
        if states:
            _upsert(cur, "page_states", STATE_COLUMNS, list(states.values()), "stored_at = now(),")
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


def _upsert(cur: Any, table: str, columns: tuple[str, ...], rows: list[tuple],
            also: str = "") -> None:
    """Insert ``rows`` into ``table``, replacing the row with the same key (the first two
    columns) column by column; ``also``: more assignments on conflict."""
    psycopg2.extras.execute_values(
        cur,
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES %s"
        f" ON CONFLICT ({', '.join(columns[:2])}) DO UPDATE SET {also}"
        + ", ".join(f" {c} = EXCLUDED.{c}" for c in columns[2:]),
        rows,
    )
