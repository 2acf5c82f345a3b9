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

With ``REDIS_URL`` the crawl is *shared*: each ``scrapy crawl site -a site=X`` started while a
full crawl of X runs joins it as one more worker (on this machine or another), and the
frontier lives in Redis (:class:`~flawless_spider.shared.SharedCrawl`). Each stage keeps what
it holds for the end of the crawl with the page, in Redis, when the page is stored. When no
request is queued or taken by any worker, the crawl is drained: one worker (the first to claim
it) merges what every worker kept, runs the end-of-crawl work once, and closes the record with
the stats of all workers. A worker that dies leaves nothing behind: the requests it took go
back to the queue once its lease expires (``FLAWLESS_WORKER_LEASE``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import pickle
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import redis
from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DontCloseSpider, NotConfigured
from scrapy.http import Response
from w3lib.url import canonicalize_url

from flawless_spider.crawls import leave_crawl, start_crawl
from flawless_spider.db import Database, DatabaseUnavailableError
from flawless_spider.items import FindingsBatch, Page
from flawless_spider.scope import UrlScope
from flawless_spider.shared import SharedCrawl
from flawless_spider.sites import Site, SiteRegistry
from flawless_spider.throttle import apply_crawl_delay
from flawless_spider.traps import TrapGuard

logger = logging.getLogger(__name__)

Finalizer = Callable[[], Awaitable[list[FindingsBatch]]]
Flusher = Callable[[], Awaitable[None]]
LIMITS = ("budget", "depth", "trap")
LEFT_SEEN_CAP = 200_000
MEMO_CAP = 500_000
IDLE_POLL = 0.3
"""Seconds between looks at the shared crawl while this worker waits for the others."""
TOUCH_EVERY = 60.0
REDIS_LOST = "redis_lost"


class LocalFrontier:
    """The crawl's seen-set, budget and left-out counts in this process's memory (one worker)."""

    def __init__(self, max_pages: int):
        self.max_pages = max_pages
        self.seen: set[int] = set()
        """The ``hash()`` of each URL key taken (numbers, not strings: a large site's URLs are
        not held twice; 64 bits, so two keys of one crawl never collide in practice)."""
        self.disallowed: set[str] = set()
        self.left_out: dict[str, int] = dict.fromkeys(LIMITS, 0)
        self._left_seen: set[str] = set()
        self.budget_exhausted = False

    def was_seen(self, key: str) -> bool:
        return hash(key) in self.seen

    def admit(self, key: str) -> str:
        """``"new"`` (now seen), ``"seen"`` or ``"budget"`` (over the page budget)."""
        number = hash(key)
        if number in self.seen:
            return "seen"
        if len(self.seen) >= self.max_pages:
            self.budget_exhausted = True
            return "budget"
        self.seen.add(number)
        return "new"

    def add_seen(self, key: str) -> None:
        self.seen.add(hash(key))

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

    def disallowed_urls(self, fresh: bool = False) -> set[str]:
        return self.disallowed

    def counts(self) -> dict[str, int]:
        return dict(self.left_out)


class SharedFrontier:
    """The crawl's seen-set, budget and left-out counts in Redis, shared by its workers.

    Answers that cannot change (a URL was taken, a URL was counted as left out) are memoised,
    so a navigation link repeated on every page is asked about once per worker.
    """

    def __init__(self, shared: SharedCrawl, max_pages: int):
        self.shared = shared
        self.max_pages = max_pages
        self.admitting: set[str] = set()
        """Keys :meth:`admit` let through: the scheduler takes them, atomically with queueing
        their requests (see :meth:`SharedCrawl.admit_and_schedule`)."""
        self._taken: set[str] = set()
        self._left: set[str] = set()
        self._budget = False
        self._disallowed: tuple[float, set[str]] = (0.0, set())

    def _memo(self, memo: set[str], key: str) -> None:
        if len(memo) >= MEMO_CAP:
            memo.clear()
        memo.add(key)

    def was_seen(self, key: str) -> bool:
        if key in self._taken:
            return True
        if self.shared.was_seen(key):
            self._memo(self._taken, key)
            return True
        return False

    def admit(self, key: str) -> str:
        """``new`` for now: the scheduler decides, when it queues the request (``scheduled``)."""
        if key in self._taken:
            return "seen"
        self.admitting.add(key)
        return "new"

    def scheduled(self, key: str, verdict: str) -> None:
        """What the shared crawl said when the scheduler queued ``key``'s request."""
        if verdict.startswith("budget"):
            self._budget = True
        else:
            self._memo(self._taken, key)

    def add_seen(self, key: str) -> None:
        if key not in self._taken:
            self.shared.add_seen(key)
            self._memo(self._taken, key)

    def leave(self, limit: str, key: str) -> bool:
        if key in self._left:
            return False
        self._memo(self._left, key)
        return self.shared.leave_out(limit, key)

    @property
    def budget_exhausted(self) -> bool:
        return self._budget or self.shared.left_out()["budget"] > 0

    def disallow(self, url: str) -> None:
        self.shared.disallow(url)

    def disallowed_urls(self, fresh: bool = False) -> set[str]:
        """What every worker found robots.txt forbids (re-read at most every 2 s, or now)."""
        fetched, urls = self._disallowed
        if fresh or time.monotonic() - fetched > 2.0:
            urls = self.shared.disallowed()
            self._disallowed = (time.monotonic(), urls)
        return urls

    def counts(self) -> dict[str, int]:
        return self.shared.left_out()


class _Taken:
    """The frontier's seen-set as a container (``key in taken``), for :class:`TrapGuard`."""

    def __init__(self, frontier: LocalFrontier | SharedFrontier):
        self.frontier = frontier

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.frontier.was_seen(key)


class CrawlLifecycle:
    """Scrapy extension: one crawl of one site, from opening its record to closing it."""

    def __init__(self, crawler: Crawler, site: Site, crawl_id: int, kind: str,
                 shared: SharedCrawl | None = None, summary: bool = True):
        self.crawler = crawler
        self.site = site
        self.crawl_id = crawl_id
        self.kind = kind
        self.summary = summary
        """Print the crawl's summary at the end (not for ``scrapy verify``, which prints findings)."""
        settings = crawler.settings
        self.max_pages = settings.getint("FLAWLESS_MAX_PAGES")
        self.depth_limit = settings.getint("DEPTH_LIMIT")
        self.max_crawl_delay = settings.getfloat("FLAWLESS_MAX_CRAWL_DELAY")
        self.shared = shared
        """The crawl's state in Redis when it is shared (``REDIS_URL``), else None."""
        self.frontier: LocalFrontier | SharedFrontier = (
            SharedFrontier(shared, self.max_pages) if shared else LocalFrontier(self.max_pages))
        self.scope = UrlScope.from_site(site)
        """The owner's exclude/include patterns (``sites set``): what this crawl may follow."""
        self.traps = TrapGuard(_Taken(self.frontier), settings.getint("FLAWLESS_TRAP_RUN"))
        self.trapped: set[str] = set()
        """URLs cut as a trap (capped): the link stage does not fetch them either."""
        self.leases: dict[str, bytes] = {}
        """Requests this worker took from the shared queue and has not finished, by URL."""
        self.role = ""
        """Shared crawls: ``final`` (does the end-of-crawl work), ``done`` (drained, another
        worker finishes the crawl), or ``""`` (still crawling)."""
        self.stopping = False
        self.redis_error: str | None = None
        self.flushers: list[Flusher] = []
        self._tasks: list[asyncio.Future[Any]] = []
        self._step: asyncio.Future[None] | None = None
        self._renewing: threading.Event | None = None
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
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CrawlLifecycle:
        spider = crawler.spider
        url, site_arg = getattr(spider, "url", None), getattr(spider, "site", None)
        if not isinstance(url, str | None) or not isinstance(site_arg, str | None) or not (
                url or site_arg):
            raise NotConfigured("the spider takes neither -a url= nor -a site=")
        settings = crawler.settings
        db = Database.from_crawler(crawler)
        registry = SiteRegistry(db)
        verify = bool(getattr(spider, "verify", False)) and bool(url)
        if verify:
            site = registry.create_verify(url)  # type: ignore[arg-type]
        else:
            site = registry.ensure(url) if url else registry.get(site_arg)
        # -a url= checks a page and what it leads to: never a digest, never the schedule.
        kind = "partial" if url else "full"
        redis_url = settings.get("REDIS_URL")
        if not redis_url or verify:
            return cls(crawler, site, start_crawl(db, site.id, kind), kind, summary=not verify)
        server = redis.Redis.from_url(redis_url, socket_timeout=30, socket_connect_timeout=10,
                                      health_check_interval=30)
        server.ping()  # unreachable: fail before a crawl record exists
        # Workers started for the same full crawl join it; a partial crawl is its own.
        crawl_id = start_crawl(db, site.id, kind, join=kind == "full")
        shared = SharedCrawl(server, site.domain, crawl_id,
                             lease=settings.getfloat("FLAWLESS_WORKER_LEASE"),
                             expiry=settings.getfloat("FLAWLESS_REDIS_EXPIRY"))
        logger.info("Worker %s of crawl %d of %s (shared through Redis)", shared.worker, crawl_id,
                    site.domain)
        return cls(crawler, site, crawl_id, kind, shared)

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
        """Take ``key`` for fetching: False when it was taken already or the budget is spent.

        In a shared crawl the answer is final only when the request is queued: the scheduler
        takes the key and queues its request in one step (:meth:`schedule_page`).
        """
        verdict = self.frontier.admit(key)
        if verdict == "budget":
            self._over_budget()
            self.leave("budget", key)
        return verdict == "new"

    def _over_budget(self) -> None:
        stats = self.crawler.stats
        if not stats.get_value("flawless/budget_exhausted"):
            logger.warning("Page budget of %d pages reached: not following more links",
                           self.max_pages)
            stats.set_value("flawless/budget_exhausted", True)

    def schedule_page(self, request: Request, fingerprint: str, data: bytes) -> bool | None:
        """Queue a page request :meth:`admit` let through, taking its URL in the same step;
        None when ``request`` is no such request. (Shared crawls.)"""
        frontier = self.frontier
        assert isinstance(frontier, SharedFrontier) and self.shared is not None
        key = canonicalize_url(request.url, keep_fragments=False)
        if key not in frontier.admitting:
            return None
        frontier.admitting.discard(key)
        verdict = self.shared.admit_and_schedule(key, self.max_pages, fingerprint, data,
                                                 request.priority)
        frontier.scheduled(key, verdict)
        if verdict.startswith("budget"):
            self._over_budget()
            if verdict == "budget":  # counted now (once per URL)
                self.crawler.stats.inc_value("flawless/left_out/budget")
        return verdict == "new"

    def add_seen(self, key: str) -> None:
        """A page reached another way (a redirect's target): a link to it is no new page."""
        self.frontier.add_seen(key)

    def leave(self, limit: str, key: str, pattern: str = "") -> None:
        """Count a URL that ``limit`` (budget, depth, trap) kept out: such a crawl is incomplete.

        ``pattern``: for a trap, which one (counted per pattern for the crawl's reason)."""
        if not self.frontier.leave(limit, key):
            return
        self.crawler.stats.inc_value(f"flawless/left_out/{limit}")
        if pattern:
            if len(self.trapped) < LEFT_SEEN_CAP:
                self.trapped.add(key)
            self.traps.cut[pattern] += 1
            if self.traps.cut[pattern] == 1:
                logger.warning("Crawler trap: not following %s", pattern)

    @property
    def budget_exhausted(self) -> bool:
        return self.frontier.budget_exhausted

    @property
    def left_out(self) -> dict[str, int]:
        return self.frontier.counts()

    def disallow(self, url: str) -> None:
        """robots.txt forbids ``url``: links to it are reported as not checked (robots)."""
        self.frontier.disallow(url)

    def disallowed_urls(self, fresh: bool = False) -> set[str]:
        return self.frontier.disallowed_urls(fresh)

    # -- shared crawls: leases and what the stages keep -----------------------------------

    def leased(self, request: Request, data: bytes) -> None:
        """This worker took ``request`` from the shared queue (``data``: as queued)."""
        self.leases[request.url] = data
        request.meta["flawless_lease"] = request.url

    async def pages_done(self, pages: Iterable[Page], parked: Iterable[Page] = ()) -> None:
        """Pages are stored (``parked``: kept in Redis to be folded at the end): keep what the
        stages hold for them, and release the requests they came from."""
        if self.shared is None:
            return
        pages, parked = list(pages), list(parked)
        held: dict[str, dict[str, Any]] = {}
        hashes: dict[str, str] = {}
        leases: list[bytes] = []
        for page in pages + parked:
            for stage, value in page.held.items():
                held.setdefault(stage, {})[page.url] = value
            if page.evidence:
                hashes[page.url] = page.content_hash[:16]
            lease = self.leases.pop(page.requested_url, None)
            if lease is not None:
                leases.append(lease)
        parked_data = {p.url: pickle.dumps(dataclasses.replace(p, held={})) for p in parked}
        await self._redis(self.shared.pages_done, held, hashes, parked_data, leases)

    async def held(self, stage: str) -> list[Any]:
        """What every worker kept for ``stage`` (for the worker that finishes the crawl)."""
        return await self._redis(self.shared.held, stage) if self.shared else []

    async def parked_pages(self) -> tuple[list[Page], dict[str, str]]:
        """Every worker's parked pages, and the content hashes of all pages of the crawl."""
        if self.shared is None:
            return [], {}
        data = await self._redis(self.shared.parked)
        hashes = await self._redis(self.shared.page_hashes)
        return [pickle.loads(d) for d in data], hashes

    async def _redis(self, func: Callable[..., Any], *args: Any) -> Any:
        """``func(*args)`` on a thread (bulk Redis work must not stall the reactor)."""
        try:
            return await asyncio.to_thread(func, *args)
        except redis.RedisError as exc:
            self.redis_lost(exc)
            raise

    def redis_lost(self, exc: Exception) -> None:
        """Redis went away: this worker stops, and the crawl is recorded as incomplete."""
        if self.redis_error is None:
            self.redis_error = str(exc).strip() or type(exc).__name__
            logger.error("Lost the connection to Redis (%s): stopping the crawl",
                         self.redis_error)
            self._stop_crawl(REDIS_LOST)

    # -- the start page -------------------------------------------------------------------

    def root_failed(self, error: str, detail: str = "") -> None:
        """The start page is unusable: the crawl is over and will be recorded as failed."""
        if self.root_error is None:
            self.root_error, self.root_detail = error, detail
        if self._closing is None:
            logger.warning("The start page failed (%s): stopping the crawl", self.root_error)
            if self.shared is not None:
                with contextlib.suppress(redis.RedisError):  # it stops anyway
                    self.shared.set_root_error(self.root_error, self.root_detail)
                    self.shared.request_stop("start_page_failed")
            self._stop_crawl("start_page_failed")

    def _stop_crawl(self, reason: str) -> None:
        self.stopping = True
        slot = getattr(self.crawler.engine, "_slot", None)
        if self._closing is None and slot is not None and slot.closing is None:
            self._closing = asyncio.ensure_future(
                self.crawler.engine.close_spider_async(reason=reason))

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

    def add_flusher(self, flush: Flusher) -> None:
        """``flush()`` writes what a stage buffers; called before a shared worker says it is idle."""
        self.flushers.append(flush)

    def _idle(self, spider: Spider) -> None:
        """When every page is fetched, give the stages one turn to emit held-back findings.

        They go through the item pipelines like any item, as the output of one local
        ``data:`` request (never shared with other workers). A worker of a shared crawl
        first waits until the whole crawl is drained, and only one of them does this.
        """
        if self.shared is not None and not self.stopping and self.role == "":
            if self._step is None or self._step.done():
                self._step = asyncio.ensure_future(self._shared_idle())
            raise DontCloseSpider
        if (self._finalized or not self.finalizers or self.root_error or self.stopping
                or self.role == "done"):
            return
        self._finalized = True
        self.crawler.engine.crawl(Request(
            "data:,", callback=self._finalize, dont_filter=True,
            meta={"dont_obey_robotstxt": True, "flawless_trusted": True, "flawless_local": True},
        ))
        raise DontCloseSpider

    async def _shared_idle(self) -> None:
        """This worker has nothing to do: is the whole crawl drained, and who finishes it?"""
        shared = self.shared
        assert shared is not None
        try:
            before = set(self.leases)
            for flush in self.flushers:
                await flush()
            # Requests that made no page (robots.txt said no, a sitemap) are done by now.
            done = [self.leases.pop(url) for url in before if url in self.leases]
            await self._redis(shared.release, done)
            await self._reclaim()
            reason = await self._redis(shared.stop_requested)
            if reason:
                await self._obey_stop(reason)
                return
            if await self._redis(shared.drained):
                await self._redis(shared.push_stats, self._own_stats())
                if await self._redis(shared.claim_final):
                    await self._wait_for_workers()
                    self.role = "final"
                    logger.info("Crawl %d of %s is drained: this worker finishes it",
                                self.crawl_id, self.site.domain)
                else:
                    self.role = "done"
                    logger.info("Crawl %d of %s is drained: another worker finishes it",
                                self.crawl_id, self.site.domain)
            else:
                await asyncio.sleep(IDLE_POLL)
        except redis.RedisError:
            return  # redis_lost() stops the crawl
        self._wake()

    async def _wait_for_workers(self) -> None:
        """Before finishing the crawl, let every live worker hand in its stats."""
        assert self.shared is not None
        deadline = time.monotonic() + 2 * self.shared.lease_ms / 1000
        while time.monotonic() < deadline:
            await self._reclaim()
            others = await self._redis(self.shared.workers)
            stats = await self._redis(self.shared.all_stats)
            if others <= set(stats):
                return
            await asyncio.sleep(IDLE_POLL / 3)

    async def _reclaim(self) -> None:
        """Requests taken by workers that died go back to the queue."""
        assert self.shared is not None
        back = await self._redis(self.shared.reclaim)
        if back:
            logger.warning("%d requests taken by a worker that died are back in the queue", back)
            self._wake()

    def _wake(self) -> None:
        """Have the engine look at the queue and its idleness again now, not in 5 s."""
        slot = getattr(self.crawler.engine, "_slot", None)
        if slot is not None and slot.closing is None:
            slot.nextcall.schedule()

    def _own_stats(self) -> dict[str, Any]:
        return json.loads(json.dumps(self.crawler.stats.get_stats(), default=str))

    # -- shared crawls: this worker's heartbeat in Redis --------------------------------------

    def spider_opened(self, spider: Spider) -> None:
        if self.shared is not None:
            try:
                self.shared.join()
            except redis.RedisError as exc:
                self.redis_lost(exc)
                return
            # The lease is renewed on a thread of its own: a busy reactor (a page that takes
            # seconds to check) is no dead worker; a killed process renews nothing.
            self._renewing = threading.Event()
            threading.Thread(target=self._renew, args=(self.shared, self._renewing),
                             name="flawless-lease", daemon=True).start()
            self._tasks.append(asyncio.ensure_future(self._keep_alive()))

    @staticmethod
    def _renew(shared: SharedCrawl, stop: threading.Event) -> None:
        every = shared.lease_ms / 1000 / 4
        while not stop.wait(every):
            try:
                shared.renew()
            except redis.RedisError as exc:  # the reactor side notices and stops the crawl
                logger.debug("Could not renew the lease: %s", exc)

    async def _keep_alive(self) -> None:
        """Return dead workers' requests to the queue, keep the keys alive, obey a stop request."""
        assert self.shared is not None
        every = self.shared.lease_ms / 1000 / 4
        touched = 0.0
        while True:
            try:
                await self._reclaim()
                if time.monotonic() - touched > TOUCH_EVERY:
                    await self._redis(self.shared.touch)
                    touched = time.monotonic()
                reason = await self._redis(self.shared.stop_requested)
                if reason:
                    await self._obey_stop(reason)
            except redis.RedisError:
                return
            await asyncio.sleep(every)

    async def _obey_stop(self, reason: str) -> None:
        """Another worker stopped the crawl (its start page failed): stop too."""
        if self.stopping:
            return
        assert self.shared is not None
        self.root_error, self.root_detail = await self._redis(self.shared.root_error)
        logger.warning("Another worker stopped the crawl (%s)", reason)
        self._stop_crawl(reason)

    async def _finalize(self, response: Response) -> AsyncIterator[FindingsBatch]:
        for finalizer in self.finalizers:
            for batch in await finalizer():
                yield batch

    def _item_error(self, item: Any, response: Any, spider: Spider, failure: Any) -> None:
        self.item_errors += 1
        self.crawler.stats.inc_value("flawless/item_errors")

    async def spider_closed(self, spider: Spider, reason: str) -> None:
        """Close the crawl record: status, reason, stats, fixed findings and the digest.

        A worker of a shared crawl closes the record only when it finished the crawl, or when
        it is the last worker to leave a crawl that stopped early; otherwise it only leaves.
        """
        if self._renewing is not None:
            self._renewing.set()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        db = Database.from_crawler(self.crawler)
        stats = self._own_stats()
        left_out = self.left_out if self.shared is None else None
        if self.shared is not None and self.redis_error is None:
            try:
                recorder, stats, left_out = await self._leave_shared(reason, stats)
            except redis.RedisError:
                recorder = True
            if not recorder:
                await self._left(db)
                return
        if self.redis_error is not None:
            reason = REDIS_LOST
        await self._record(db, reason, stats, left_out or dict.fromkeys(LIMITS, 0))
        await self._left(db)

    async def _leave_shared(self, reason: str, stats: dict[str, Any]
                            ) -> tuple[bool, dict[str, Any], dict[str, int] | None]:
        """Leave the shared crawl; ``(records it?, stats of all workers, left-out counts)``."""
        assert self.shared is not None
        shared = self.shared
        if self.role == "done":
            await self._redis(shared.leave)
            return False, stats, None
        if self.role != "final":
            await self._reclaim()
            await self._redis(shared.push_stats, stats)
            if await self._redis(shared.leave):
                return False, stats, None  # the others go on (they take its requests)
            if self.root_error is None:
                self.root_error, self.root_detail = await self._redis(shared.root_error)
        others = await self._redis(shared.all_stats)
        others.pop(shared.worker, None)
        merged = merge_stats([*others.values(), stats])
        left_out = await self._redis(shared.left_out)
        self.item_errors = int(merged.get("flawless/item_errors", 0))
        await self._redis(shared.delete)
        return True, merged, left_out

    async def _left(self, db: Database) -> None:
        try:
            await db.run(leave_crawl, db, self.crawl_id)
        except Exception as exc:  # the reaper tells a left worker by its pid anyway
            logger.debug("Could not record that this worker left crawl %d: %s", self.crawl_id, exc)
        db.close()

    async def _record(self, db: Database, reason: str, stats: dict[str, Any],
                      left_out: dict[str, int]) -> None:
        from pipelines.store.recorder import checked_kinds, crawl_outcome, finish_crawl

        if reason == REDIS_LOST:
            status: str = "incomplete"
            why: str | None = f"lost the connection to Redis ({self.redis_error})"
        else:
            status, why = crawl_outcome(
                reason, self.root_error, self.root_detail, left_out, self.item_errors, stats,
                max_pages=self.max_pages, depth_limit=self.depth_limit, trap_cut=self.traps.cut)
        checked = checked_kinds(stats) if status != "failed" else []
        left = {k: v for k, v in left_out.items() if v}
        try:
            # Waits out a database outage; finish_crawl is one transaction, safe to run again.
            await db.run_retrying("closing the crawl record", finish_crawl, db, self.site.id,
                                  self.crawl_id, status, why, stats, self.crawler.settings,
                                  checked, left)
        except DatabaseUnavailableError as exc:
            logger.error("Crawl %d of %s could not be recorded as %s: %s. It stays 'running' "
                         "until the next command closes it as incomplete (worker died)",
                         self.crawl_id, self.site.domain, status, exc)
            return
        log = logger.info if status == "complete" else logger.warning
        log("Crawl %d of %s: %s%s", self.crawl_id, self.site.domain, status,
            f" ({why})" if why else "")


def merge_stats(all_stats: list[dict[str, Any]]) -> dict[str, Any]:
    """The stats of a crawl's workers as one: counts added up (maxima as the maximum), the
    rest from the last one (the worker that closes the crawl)."""
    merged: dict[str, Any] = {}
    for stats in all_stats:
        for key, value in stats.items():
            old = merged.get(key)
            if _number(value) and _number(old):
                merged[key] = max(old, value) if key.endswith("max") else old + value
            else:
                merged[key] = value
    merged["flawless/workers"] = len(all_stats)
    return merged


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
