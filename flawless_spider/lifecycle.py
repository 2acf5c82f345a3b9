"""The lifecycle of one crawl, outside the spider: a Scrapy extension that owns the crawl.

:class:`CrawlLifecycle` resolves the site from the spider's arguments (``-a url=`` or
``-a site=``), opens the crawl record, holds the crawl's frontier state (seen-set, page budget,
limits and what they left out, URLs robots.txt disallowed), remembers why the start page failed,
honours robots.txt ``Crawl-delay``, gives the stages their end-of-crawl turn when every page is
in (``spider_idle``), and closes the record with the crawl's outcome.

The spider only makes requests and yields :class:`~flawless_spider.items.Page` items; pipelines
and extensions find the lifecycle with ``CrawlLifecycle.of(crawler)``
(``crawler.get_extension``). Any spider that takes ``-a url=`` or ``-a site=`` and yields
``Page`` items gets the same lifecycle.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DontCloseSpider, NotConfigured
from scrapy.http import Response

from flawless_spider.crawls import start_crawl
from flawless_spider.db import Database, DatabaseUnavailableError
from flawless_spider.items import FindingsBatch
from flawless_spider.sites import Site, SiteRegistry
from flawless_spider.throttle import apply_crawl_delay

logger = logging.getLogger(__name__)

Finalizer = Callable[[], Awaitable[list[FindingsBatch]]]
LIMITS = ("budget", "depth", "trap")
LEFT_SEEN_CAP = 200_000


class LocalFrontier:
    """The crawl's seen-set, budget and left-out counts in this process's memory (one worker)."""

    def __init__(self, max_pages: int):
        self.max_pages = max_pages
        self.seen: set[str] = set()
        self.disallowed: set[str] = set()
        self.left_out: dict[str, int] = dict.fromkeys(LIMITS, 0)
        self._left_seen: set[str] = set()
        self.budget_exhausted = False

    def was_seen(self, key: str) -> bool:
        return key in self.seen

    def admit(self, key: str) -> str:
        """``"new"`` (now seen), ``"seen"`` or ``"budget"`` (over the page budget)."""
        if key in self.seen:
            return "seen"
        if len(self.seen) >= self.max_pages:
            self.budget_exhausted = True
            return "budget"
        self.seen.add(key)
        return "new"

    def add_seen(self, key: str) -> None:
        self.seen.add(key)

    def leave(self, limit: str, key: str) -> bool:
        """Count ``key`` as left out by ``limit``, once per URL; True when it was new."""
        if key in self._left_seen:
            return False
        if len(self._left_seen) < LEFT_SEEN_CAP:
            self._left_seen.add(key)
        self.left_out[limit] += 1
        return True

    def disallow(self, url: str) -> None:
        self.disallowed.add(url)

    def disallowed_urls(self) -> set[str]:
        return self.disallowed

    def counts(self) -> dict[str, int]:
        return dict(self.left_out)


class CrawlLifecycle:
    """Scrapy extension: one crawl of one site, from opening its record to closing it."""

    def __init__(self, crawler: Crawler, site: Site, crawl_id: int, kind: str):
        self.crawler = crawler
        self.site = site
        self.crawl_id = crawl_id
        self.kind = kind
        settings = crawler.settings
        self.max_pages = settings.getint("FLAWLESS_MAX_PAGES")
        self.depth_limit = settings.getint("DEPTH_LIMIT")
        self.max_crawl_delay = settings.getfloat("FLAWLESS_MAX_CRAWL_DELAY")
        self.frontier = LocalFrontier(self.max_pages)
        self.root_error: str | None = None
        """Why the start page failed (``HTTP 503``, ``robots``, ``dns``, ...): the crawl failed."""
        self.root_detail = ""
        self.crawl_delays: dict[str, float] = {}
        """robots.txt Crawl-delay per host (capped); honoured by ``CrawlDelayAutoThrottle``."""
        self.finalizers: list[Finalizer] = []
        self.item_errors = 0
        self._finalized = False
        self._closing: asyncio.Future[None] | None = None
        crawler.signals.connect(self._robots_parsed, signal=signals.robots_parsed)
        crawler.signals.connect(self._idle, signal=signals.spider_idle)
        crawler.signals.connect(self._item_error, signal=signals.item_error)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CrawlLifecycle:
        spider = crawler.spider
        url, site_arg = getattr(spider, "url", None), getattr(spider, "site", None)
        if not isinstance(url, str | None) or not isinstance(site_arg, str | None) or not (
                url or site_arg):
            raise NotConfigured("the spider takes neither -a url= nor -a site=")
        db = Database.from_crawler(crawler)
        registry = SiteRegistry(db)
        site = registry.ensure(url) if url else registry.get(site_arg)
        # -a url= checks a page and what it leads to: never a digest, never the schedule.
        kind = "partial" if url else "full"
        return cls(crawler, site, start_crawl(db, site.id, kind), kind)

    @classmethod
    def of(cls, crawler: Crawler) -> CrawlLifecycle | None:
        """The crawl's lifecycle, or None when the spider is not a Flawless crawl."""
        try:
            return crawler.get_extension(cls)
        except RuntimeError:  # no extension manager yet (a bare test crawler)
            return None

    # -- the frontier ---------------------------------------------------------------------

    def was_seen(self, key: str) -> bool:
        """Whether the crawl already took ``key`` (a canonical URL) for fetching."""
        return self.frontier.was_seen(key)

    def admit(self, key: str) -> bool:
        """Take ``key`` for fetching: False when it was taken already or the budget is spent."""
        verdict = self.frontier.admit(key)
        if verdict == "budget":
            stats = self.crawler.stats
            if not stats.get_value("flawless/budget_exhausted"):
                logger.warning("Page budget of %d pages reached: not following more links",
                               self.max_pages)
                stats.set_value("flawless/budget_exhausted", True)
            self.leave("budget", key)
        return verdict == "new"

    def add_seen(self, key: str) -> None:
        """A page reached another way (a redirect's target): a link to it is no new page."""
        self.frontier.add_seen(key)

    def leave(self, limit: str, key: str) -> None:
        """Count a URL that ``limit`` (budget, depth, trap) kept out: such a crawl is incomplete."""
        if self.frontier.leave(limit, key):
            self.crawler.stats.inc_value(f"flawless/left_out/{limit}")

    @property
    def budget_exhausted(self) -> bool:
        return self.frontier.budget_exhausted

    @property
    def left_out(self) -> dict[str, int]:
        return self.frontier.counts()

    def disallow(self, url: str) -> None:
        """robots.txt forbids ``url``: links to it are reported as not checked (robots)."""
        self.frontier.disallow(url)

    def disallowed_urls(self) -> set[str]:
        return self.frontier.disallowed_urls()

    # -- the start page -------------------------------------------------------------------

    def root_failed(self, error: str, detail: str = "") -> None:
        """The start page is unusable: the crawl is over and will be recorded as failed."""
        if self.root_error is None:
            self.root_error, self.root_detail = error, detail
        if self._closing is None:
            logger.warning("The start page failed (%s): stopping the crawl", self.root_error)
            self._closing = asyncio.ensure_future(
                self.crawler.engine.close_spider_async(reason="start_page_failed"))

    # -- robots.txt -----------------------------------------------------------------------

    def _robots_parsed(self, robotparser: Any, request: Request) -> None:
        if not self.site.is_same_site(request.url):
            return
        host = urlsplit(request.url).hostname or ""  # the downloader's slot key
        user_agent = self.crawler.settings.get("USER_AGENT")
        delay = robotparser.crawl_delay(user_agent) if hasattr(robotparser, "crawl_delay") else None
        if delay:
            delay = min(float(delay), self.max_crawl_delay)
            self.crawl_delays[host] = delay
            apply_crawl_delay(self.crawler, host, delay)
            logger.info("robots.txt asks for a Crawl-delay of %.1fs on %s", delay, host)

    # -- the end of the crawl -------------------------------------------------------------

    def add_finalizer(self, finalizer: Finalizer) -> None:
        """``finalizer()`` runs once every page is in; it returns the stage's held-back findings."""
        self.finalizers.append(finalizer)

    def _idle(self, spider: Spider) -> None:
        """When every page is fetched, give the stages one turn to emit held-back findings.

        They go through the item pipelines like any item, as the output of one local
        ``data:`` request (never shared with other workers).
        """
        if self._finalized or not self.finalizers or self.root_error:
            return
        self._finalized = True
        self.crawler.engine.crawl(Request(
            "data:,", callback=self._finalize, dont_filter=True,
            meta={"dont_obey_robotstxt": True, "flawless_trusted": True, "flawless_local": True},
        ))
        raise DontCloseSpider

    async def _finalize(self, response: Response) -> AsyncIterator[FindingsBatch]:
        for finalizer in self.finalizers:
            for batch in await finalizer():
                yield batch

    def _item_error(self, item: Any, response: Any, spider: Spider, failure: Any) -> None:
        self.item_errors += 1

    async def spider_closed(self, spider: Spider, reason: str) -> None:
        """Close the crawl record: status, reason, stats, fixed findings and the digest."""
        from pipelines.store.recorder import checked_kinds, crawl_outcome, finish_crawl

        status, why = crawl_outcome(
            reason, self.root_error, self.root_detail, self.left_out, self.item_errors,
            self.crawler.stats.get_stats(), max_pages=self.max_pages,
            depth_limit=self.depth_limit)
        stats = json.loads(json.dumps(self.crawler.stats.get_stats(), default=str))
        checked = checked_kinds(stats) if status != "failed" else []
        left = {k: v for k, v in self.left_out.items() if v}
        db = Database.from_crawler(self.crawler)
        try:
            # Waits out a database outage; finish_crawl is one transaction, safe to run again.
            await db.run_retrying("closing the crawl record", finish_crawl, db, self.site.id,
                                  self.crawl_id, status, why, stats, self.crawler.settings,
                                  checked, left)
        except DatabaseUnavailableError as exc:
            logger.error("Crawl %d of %s could not be recorded as %s: %s. It stays 'running' "
                         "until the next command closes it as incomplete (worker died)",
                         self.crawl_id, self.site.domain, status, exc)
            db.close()
            return
        log = logger.info if status == "complete" else logger.warning
        log("Crawl %d of %s: %s%s", self.crawl_id, self.site.domain, status,
            f" ({why})" if why else "")
        db.close()
