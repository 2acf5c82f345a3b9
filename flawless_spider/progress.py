"""What an operator sees while a crawl runs, and the summary when it ends.

On a terminal, one live line drawn by tqdm (pages done and queued, links checked, findings so
far, rate), with log lines printed above it; otherwise (a log file, cron) a plain line every
``FLAWLESS_PROGRESS_INTERVAL`` seconds through the log. When the crawl's record is closed, a
summary on stdout: pages, broken links, misspellings, grammar, new and fixed, the crawl's
status and reason, and the command that prints the full list.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import sys
import time
from typing import Any, TextIO

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

from flawless_spider.db import Database
from flawless_spider.items import FindingsBatch, Page
from flawless_spider.lifecycle import CrawlLifecycle

logger = logging.getLogger(__name__)


class CrawlProgress:
    """Scrapy extension: live progress (or periodic lines) and the end-of-crawl summary.

    Settings: ``FLAWLESS_PROGRESS`` (off: neither), ``FLAWLESS_PROGRESS_INTERVAL`` (seconds
    between plain lines when the output is not a terminal).
    """

    def __init__(self, crawler: Crawler, interval: float, stream: TextIO, live: bool):
        self.crawler = crawler
        self.interval = interval
        self.stream = stream
        self.live = live
        self.pages = 0
        self.findings = 0
        self.started = time.monotonic()
        self.bar: Any = None
        self._swapped: list[tuple[logging.StreamHandler, Any]] = []
        self._task: asyncio.Task[None] | None = None
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.item_scraped, signal=signals.item_scraped)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)
        # After every spider_closed handler, so the crawl record is closed when we read it.
        crawler.signals.connect(self.engine_stopped, signal=signals.engine_stopped)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CrawlProgress:
        if not crawler.spidercls or crawler.spidercls.name != "site":
            raise NotConfigured
        if not crawler.settings.getbool("FLAWLESS_PROGRESS"):
            raise NotConfigured  # silently: cron turns it off for every crawl
        stream = sys.stderr
        return cls(crawler, crawler.settings.getfloat("FLAWLESS_PROGRESS_INTERVAL"), stream,
                   live=stream.isatty())

    # -- while it runs ---------------------------------------------------------------------

    def spider_opened(self, spider: Spider) -> None:
        self.started = time.monotonic()
        if self.live:
            from tqdm import tqdm

            crawl = CrawlLifecycle.of(self.crawler)
            site = crawl.site.domain if crawl is not None else ""
            # A terminal that reports no size (0x0, as some containers do) would get no line.
            columns, rows = shutil.get_terminal_size((100, 24))
            self.bar = tqdm(total=0, file=self.stream, desc=f"Crawling {site}", unit=" pages",
                            ncols=columns if columns >= 20 else 100, nrows=max(rows, 24),
                            leave=False, mininterval=0.2,
                            bar_format="{desc} {n_fmt}/{total_fmt} pages{postfix} "
                                       "[{elapsed}, {rate_noinv_fmt}]")
            # Log lines go above the live line instead of through it (each handler keeps its
            # level and format: tqdm's own redirect would show DEBUG lines too).
            for handler in logging.getLogger().handlers:
                if type(handler) is logging.StreamHandler and handler.stream in (sys.stderr,
                                                                                  sys.stdout):
                    self._swapped.append((handler, handler.setStream(_AboveTheBar(
                        handler.stream))))
        self._task = asyncio.ensure_future(self._tick())

    def item_scraped(self, item: Any) -> None:
        if isinstance(item, Page):
            self.pages += 1
        if isinstance(item, Page | FindingsBatch):
            self.findings += sum(not f.get("unverified") for f in item.findings)
        if self.bar is not None:
            self._draw()

    def counts(self) -> dict[str, int]:
        stats = self.crawler.stats
        engine = self.crawler.engine
        downloading = len(engine.downloader.active) if engine is not None else 0
        queued = (stats.get_value("scheduler/enqueued", 0)
                  - stats.get_value("scheduler/dequeued", 0) + downloading)
        return {"pages": self.pages, "queued": max(0, queued),
                "links": stats.get_value("flawless/links/checked", 0),
                "findings": self.findings}

    def line(self) -> str:
        """``164 pages done, 12 queued, 530 links checked, 17 findings so far (2.7 pages/s)``."""
        c = self.counts()
        rate = c["pages"] / max(time.monotonic() - self.started, 0.001)
        return (f"{c['pages']} pages done, {c['queued']} queued, {c['links']} links checked, "
                f"{c['findings']} findings so far ({rate:.1f} pages/s)")

    def _draw(self) -> None:
        c = self.counts()
        self.bar.total = c["pages"] + c["queued"]
        self.bar.n = c["pages"]
        self.bar.set_postfix_str(f"{c['queued']} queued, {c['links']} links checked, "
                                 f"{c['findings']} findings", refresh=False)
        self.bar.refresh()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(0.5 if self.bar is not None else self.interval)
            if self.bar is not None:
                self._draw()
            else:
                logger.info("Progress: %s", self.line())

    def spider_closed(self, spider: Spider) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if self.bar is not None:
            self.bar.close()
            self.bar = None
            for handler, stream in self._swapped:
                handler.setStream(stream)
            self._swapped = []
        else:
            logger.info("Done: %s", self.line())

    # -- the summary -----------------------------------------------------------------------

    async def engine_stopped(self) -> None:
        crawl = CrawlLifecycle.of(self.crawler)
        if crawl is None or not crawl.summary:
            return
        db = Database.from_crawler(self.crawler)
        try:
            text = await db.run(summary, db, crawl.site, crawl.crawl_id)
        except Exception as exc:  # the database is away: the record says what happened
            logger.warning("No summary: %s", exc)
            return
        finally:
            db.close()
        with contextlib.suppress(BrokenPipeError):
            print(text, flush=True)


class _AboveTheBar:
    """A stream for log handlers that writes above tqdm's live line, then redraws it."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def write(self, text: str) -> None:
        from tqdm import tqdm

        tqdm.write(text, file=self.stream, end="")

    def flush(self) -> None:
        self.stream.flush()


def crawl_counts(db: Database, site: Any, crawl_id: int) -> dict[str, Any]:
    """The closed record of ``crawl_id`` with its problems counted the way the report counts
    them: ``crawl`` (the row), ``took`` (``"12 s"``), and for a crawl that saw the site
    ``broken``, ``questionable``, ``spelling``, ``grammar``, ``new``, ``fixed``, ``open``."""
    from flawless_spider import report

    [crawl] = db.query("SELECT * FROM crawls WHERE id = %s", (crawl_id,))
    counts: dict[str, Any] = {"crawl": crawl, "took": ""}
    if crawl["finished_at"] is not None:
        seconds = (crawl["finished_at"] - crawl["started_at"]).total_seconds()
        counts["took"] = f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"
    if crawl["status"] in ("complete", "incomplete"):
        counts.update(report.crawl_problem_counts(db, site, crawl_id))
    return counts


def summary(db: Database, site: Any, crawl_id: int) -> str:
    """The end-of-crawl summary of ``crawl_id``, from its closed record (see the module doc)."""
    from flawless_spider.report import _printable

    c = crawl_counts(db, site, crawl_id)
    crawl = c["crawl"]
    status = crawl["status"] if crawl["status"] != "running" else "not recorded"
    took = f" in {c['took']}" if c["took"] else ""
    reason = f": {crawl['reason']}" if crawl["reason"] else ""
    lines = [f"Crawl {crawl_id} of {site.domain} {status}{took}{reason}"]
    if "open" in c:
        lines += [
            f"  {crawl['pages']} pages checked",
            f"  {c['broken']} broken links"
            + (f" ({c['questionable']} more questionable)" if c["questionable"] else ""),
            f"  {c['spelling']} misspelt words",
            f"  {c['grammar']} grammar problems",
            f"  {c['new']} new, {c['fixed']} fixed, {c['open']} open in all",
            f"Full list: scrapy report {site.domain} --crawl {crawl_id}",
        ]
    return "\n".join(_printable(line) for line in lines)


def one_line(db: Database, site: Any, crawl_id: int) -> str:
    """The summary as one log line (cron): ``example.com: complete, 42 pages, 3 broken links,
    5 misspelt words, 1 grammar, 4 new, 2 fixed (crawl 7, 12 s)``."""
    from flawless_spider.report import _printable

    c = crawl_counts(db, site, crawl_id)
    crawl = c["crawl"]
    reason = f" ({crawl['reason']})" if crawl["reason"] else ""
    line = f"{site.domain}: {crawl['status']}{reason}"
    if "open" in c:
        line += (f", {crawl['pages']} pages, {c['broken']} broken links, {c['spelling']} "
                 f"misspelt words, {c['grammar']} grammar, {c['new']} new, {c['fixed']} fixed")
    took = f", {c['took']}" if c["took"] else ""
    return _printable(f"{line} (crawl {crawl_id}{took})")
