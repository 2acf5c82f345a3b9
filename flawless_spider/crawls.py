"""Crawl records: one row per crawl of a site, opened when the spider starts.

A running crawl says where it runs (host, pid) and beats a heartbeat, so a record whose
process died (SIGKILL, a crash, a machine gone) is told from one still at work and closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from typing import Any

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

from flawless_spider.db import Database

logger = logging.getLogger(__name__)

WORKER_DIED = "worker died"


def html_pages(crawl: str) -> str:
    """SQL counting a crawl's "pages": the site's HTML pages it fetched (2xx, not folded into
    another address), not link targets, error pages or stylesheets. ``crawl``: an SQL expression."""
    return (f"SELECT count(*) FROM pages p WHERE p.crawl_id = {crawl}"
            " AND p.status BETWEEN 200 AND 299 AND p.canonical_url IS NULL"
            " AND (p.content_type LIKE '%%html%%' OR (p.content_type = '' AND p.checked))")


def start_crawl(db: Database, site_id: int, kind: str = "full") -> int:
    """Open a crawl record (status ``running``, run by this process) and return its id.

    ``kind``: ``full`` (scheduled or ``-a site=``) or ``partial`` (``-a url=``: a page and what
    it leads to; never a digest, never counted by the schedule).
    """
    with db.transaction() as cur:
        cur.execute(
            "INSERT INTO crawls (site_id, kind, host, pid, heartbeat_at)"
            " VALUES (%s, %s, %s, %s, now()) RETURNING id",
            (site_id, kind, socket.gethostname(), os.getpid()),
        )
        return cur.fetchone()["id"]


def beat(db: Database, crawl_id: int) -> None:
    """Tell other processes that this crawl's worker is still alive."""
    with db.transaction() as cur:
        cur.execute("UPDATE crawls SET heartbeat_at = now() WHERE id = %s", (crawl_id,))


def reap_dead_crawls(db: Database, settings: Any) -> list[int]:
    """Close, as ``incomplete`` with the reason "worker died", the running crawls whose process
    is gone: on this host, a pid that no longer runs; on any host, no heartbeat for
    ``FLAWLESS_HEARTBEAT_TIMEOUT`` seconds. Returns their ids.

    Findings keep their state (as after any incomplete crawl). If the process was only cut off
    (a long database outage) and comes back, its own close records the real outcome.
    """
    timeout = settings.getfloat("FLAWLESS_HEARTBEAT_TIMEOUT")
    host = socket.gethostname()
    rows = db.query(
        "SELECT c.id, c.host, c.pid, s.domain,"
        " extract(epoch FROM now() - coalesce(c.heartbeat_at, c.started_at))::float8 AS silent"
        " FROM crawls c JOIN sites s ON s.id = c.site_id WHERE c.status = 'running' ORDER BY c.id"
    )
    gone = [r for r in rows if r["host"] == host and r["pid"] and not _running(r["pid"])]
    silent = [r for r in rows if r not in gone and r["silent"] >= timeout]
    reaped: list[int] = []
    with db.transaction() as cur:
        for found, extra in ((gone, ""), (silent, " AND coalesce(heartbeat_at, started_at)"
                                                  " <= now() - make_interval(secs => %s)")):
            if not found:
                continue
            # Re-checked in the UPDATE: a crawl that closed or beat meanwhile is left alone.
            cur.execute(
                "UPDATE crawls SET status = 'incomplete', reason = %s, finished_at = now(),"
                f" pages = ({html_pages('crawls.id')})"
                " WHERE id = ANY(%s) AND status = 'running'" + extra + " RETURNING id",
                (WORKER_DIED, [r["id"] for r in found], *([timeout] if extra else [])),
            )
            reaped += [row["id"] for row in cur.fetchall()]
    for row in gone + silent:
        if row["id"] in reaped:
            why = (f"process {row['pid']} on {host} is gone" if row in gone
                   else f"no heartbeat from {row['host'] or 'its worker'} for "
                        f"{row['silent'] / 60:.0f} min")
            logger.warning("Crawl %d of %s was left running by a worker that died (%s): "
                           "closed as incomplete", row["id"], row["domain"], why)
    return reaped


def _running(pid: int) -> bool:
    """True when a process with this pid exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, but belongs to another user
        return True
    return True


class CrawlHeartbeat:
    """Scrapy extension: refreshes the crawl record's ``heartbeat_at`` every
    ``FLAWLESS_HEARTBEAT_INTERVAL`` seconds, on the database thread.

    A missed beat (the database is away) is only skipped; the crawl goes on.
    """

    def __init__(self, crawler: Crawler, interval: float):
        self.crawler = crawler
        self.interval = interval
        self.task: asyncio.Task[None] | None = None
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CrawlHeartbeat:
        interval = crawler.settings.getfloat("FLAWLESS_HEARTBEAT_INTERVAL")
        if interval <= 0:
            raise NotConfigured
        return cls(crawler, interval)

    def spider_opened(self, spider: Spider) -> None:
        from flawless_spider.lifecycle import CrawlLifecycle

        crawl = CrawlLifecycle.of(self.crawler)
        if crawl is not None:
            self.task = asyncio.ensure_future(self._beat(Database.from_crawler(self.crawler),
                                                         crawl.crawl_id))

    async def _beat(self, db: Database, crawl_id: int) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await db.run(beat, db, crawl_id)
            except Exception as exc:  # the database is away: the store says so; try again later
                logger.debug("Heartbeat of crawl %d missed: %s", crawl_id, exc)

    async def spider_closed(self, spider: Spider) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None
