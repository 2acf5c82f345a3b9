"""Crawl records: one row per crawl of a site, opened (or joined) when a worker starts.

Each worker of a running crawl says where it runs (host, pid) and beats a heartbeat, so a
record whose workers all died (SIGKILL, a crash, a machine gone) is told from one still at
work and closed. With ``REDIS_URL``, several workers join one record (``crawl_workers``).
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


_JOIN_LOCK_BASE = 0x466D0000


def start_crawl(db: Database, site_id: int, kind: str = "full", join: bool = False) -> int:
    """Open a crawl record (status ``running``, run by this process) and return its id.

    ``kind``: ``full`` (scheduled or ``-a site=``) or ``partial`` (``-a url=``: a page and what
    it leads to; never a digest, never counted by the schedule). With ``join`` (a shared
    crawl, ``REDIS_URL``), the site's running crawl of that kind is joined when there is one:
    workers started together, on one machine or several, share one record.
    """
    host, pid = socket.gethostname(), os.getpid()
    with db.transaction() as cur:
        crawl_id = None
        if join:
            # One transaction per site at a time: two workers starting together open one record.
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_JOIN_LOCK_BASE + site_id,))
            cur.execute("SELECT id FROM crawls WHERE site_id = %s AND kind = %s"
                        " AND status = 'running' ORDER BY id DESC LIMIT 1", (site_id, kind))
            row = cur.fetchone()
            crawl_id = row["id"] if row else None
        if crawl_id is None:
            cur.execute(
                "INSERT INTO crawls (site_id, kind, host, pid, heartbeat_at)"
                " VALUES (%s, %s, %s, %s, now()) RETURNING id",
                (site_id, kind, host, pid),
            )
            crawl_id = cur.fetchone()["id"]
        cur.execute(
            "INSERT INTO crawl_workers (crawl_id, host, pid) VALUES (%s, %s, %s)"
            " ON CONFLICT (crawl_id, host, pid) DO UPDATE SET heartbeat_at = now(), left_at = NULL",
            (crawl_id, host, pid),
        )
        return crawl_id


def beat(db: Database, crawl_id: int) -> None:
    """Tell other processes that this worker of the crawl is still alive."""
    with db.transaction() as cur:
        cur.execute("UPDATE crawls SET heartbeat_at = now() WHERE id = %s", (crawl_id,))
        cur.execute("UPDATE crawl_workers SET heartbeat_at = now() WHERE crawl_id = %s"
                    " AND host = %s AND pid = %s", (crawl_id, socket.gethostname(), os.getpid()))


def leave_crawl(db: Database, crawl_id: int) -> None:
    """This worker is done with the crawl (the others, if any, go on)."""
    with db.transaction() as cur:
        cur.execute("UPDATE crawl_workers SET left_at = now() WHERE crawl_id = %s"
                    " AND host = %s AND pid = %s", (crawl_id, socket.gethostname(), os.getpid()))


def _alive(worker: dict[str, Any], host: str, timeout: float) -> bool:
    """A worker is alive while its process exists (on this host) and it beats in time."""
    if worker["host"] == host and worker["pid"] and not _running(worker["pid"]):
        return False
    return worker["silent"] < timeout


def reap_dead_crawls(db: Database, settings: Any) -> list[int]:
    """Close, as ``incomplete`` with the reason "worker died", the running crawls whose workers
    are all gone: on this host, a pid that no longer runs; on any host, no heartbeat for
    ``FLAWLESS_HEARTBEAT_TIMEOUT`` seconds. A crawl that one live worker still runs is left
    alone, however many of its other workers died. Returns their ids.

    Findings keep their state (as after any incomplete crawl). If the process was only cut off
    (a long database outage) and comes back, its own close records the real outcome.
    """
    timeout = settings.getfloat("FLAWLESS_HEARTBEAT_TIMEOUT")
    host = socket.gethostname()
    rows = db.query(
        "SELECT c.id, c.host, c.pid, s.domain, now() AS seen,"
        " extract(epoch FROM now() - coalesce(c.heartbeat_at, c.started_at))::float8 AS silent,"
        " coalesce((SELECT json_agg(json_build_object('host', w.host, 'pid', w.pid,"
        "   'left', w.left_at IS NOT NULL, 'silent',"
        "   extract(epoch FROM now() - w.heartbeat_at)::float8))"
        "   FROM crawl_workers w WHERE w.crawl_id = c.id), '[]') AS workers"
        " FROM crawls c JOIN sites s ON s.id = c.site_id WHERE c.status = 'running' ORDER BY c.id"
    )
    dead: dict[int, str] = {}
    for row in rows:
        # A crawl of one worker is judged by its record (as before crawl_workers existed).
        workers = row["workers"] if len(row["workers"]) > 1 else [{**row, "left": False}]
        if any(not w["left"] and _alive(w, host, timeout) for w in workers):
            continue
        dead[row["id"]] = _why_dead(workers, host)
    reaped: list[int] = []
    if dead:
        with db.transaction() as cur:
            # Re-checked: a crawl that closed, beat or was joined meanwhile is left alone.
            cur.execute(
                "UPDATE crawls SET status = 'incomplete', reason = %s, finished_at = now(),"
                f" pages = ({html_pages('crawls.id')})"
                " WHERE id = ANY(%s) AND status = 'running'"
                " AND coalesce(heartbeat_at, started_at) <= %s AND NOT EXISTS ("
                "  SELECT 1 FROM crawl_workers w WHERE w.crawl_id = crawls.id"
                "  AND w.heartbeat_at > %s) RETURNING id",
                (WORKER_DIED, list(dead), rows[0]["seen"], rows[0]["seen"]),
            )
            reaped = [row["id"] for row in cur.fetchall()]
    for row in rows:
        if row["id"] in reaped:
            logger.warning("Crawl %d of %s was left running by a worker that died (%s): "
                           "closed as incomplete", row["id"], row["domain"], dead[row["id"]])
    return reaped


def _why_dead(workers: list[dict[str, Any]], host: str) -> str:
    reasons = []
    for w in workers:
        if w["left"]:
            continue
        if w["host"] == host and w["pid"] and not _running(w["pid"]):
            reasons.append(f"process {w['pid']} on {host} is gone")
        else:
            reasons.append(f"no heartbeat from {w['host'] or 'its worker'} for "
                           f"{w['silent'] / 60:.0f} min")
    return "; ".join(reasons) or "all its workers left before closing it"


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
