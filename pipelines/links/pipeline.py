"""LinkCheckPipeline: every link of every page checked once per crawl, findings on the right page.

Internal pages take their status from the crawl itself; everything else is fetched by the
:class:`~pipelines.links.checker.Checker`. External checks start as soon as a page names them;
internal resources wait for the end of the crawl, when it is certain the spider will not fetch
them as pages (so nothing is requested twice). Findings whose target was still unknown when
their page went by are emitted at the end of the crawl (the crawl lifecycle's finalizer) as one
``FindingsBatch``.

In a shared crawl (``REDIS_URL``) each target is checked by one worker (the first to claim it)
and its result is shared in Redis; what a page leaves open (its links to targets not known yet,
its own status as a target) is kept with the page, and the worker that finishes the crawl
merges what every worker kept and settles it, once.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from dataclasses import replace
from typing import Any
from urllib.parse import urljoin, urlsplit

import redis
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.http import Response
from w3lib.url import safe_url_string

from flawless_spider.db import Database
from flawless_spider.dismissals import Dismissals
from flawless_spider.extract import REFRESH, absolute
from flawless_spider.findings import finding
from flawless_spider.items import FindingsBatch, Link, Page
from flawless_spider.lifecycle import CrawlLifecycle
from pipelines.links.cache import LinkCache
from pipelines.links.checker import Checker, Result
from pipelines.links.classify import (
    REDIRECT_STATUSES,
    Verdict,
    has_anchor,
    is_bot_wall,
    is_client_route,
    judge,
    mailto_problem,
)
from pipelines.links.collect import (
    Kind,
    Ref,
    css_targets,
    is_insecure,
    is_stylesheet,
    kind_of,
    ref_for,
    request_url,
    target_key,
)

logger = logging.getLogger(__name__)

CACHE_FLUSH_SIZE = 200
NO_ANCHORS: frozenset[str] = frozenset()


class LinkCheckPipeline:
    """Checks the links of each Page item; see the module docstring for the flow."""

    def __init__(self, crawler: Crawler, *, check_external: bool, cache_hours: float,
                 checker_options: dict[str, Any]):
        self.crawler = crawler
        self.check_external = check_external
        self.cache_hours = cache_hours
        self.checker_options = checker_options
        self.crawled: dict[str, Result] = {}
        """Internal pages as the crawl saw them, by canonical URL (requested and final)."""
        self.hints: dict[str, tuple[int, str]] = {}
        """Redirects the crawl met, by canonical URL: ``(status, absolute location)``."""
        self.results: dict[str, Result] = {}
        self.pending: dict[str, list[Ref]] = {}
        self.kinds: dict[str, Kind] = {}
        self.urls: dict[str, str] = {}
        self.stylesheets: set[str] = set()
        self.tasks: dict[str, asyncio.Future[Any]] = {}
        self.out: list[dict[str, Any]] = []
        self.checked_places: list[str] = []
        """Internal stylesheets whose links were all checked (evidence for their findings)."""
        self._disallowed: tuple[int, set[str]] = (-1, set())
        self.active = False
        self.shared = False
        self.ignored = Dismissals()
        """Links the owner marked "not a mistake": never checked, never reported."""

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> LinkCheckPipeline:
        settings = crawler.settings
        if not settings.getbool("FLAWLESS_LINKS_ENABLED"):
            raise NotConfigured("link checks are off (FLAWLESS_LINKS_ENABLED)")
        options = {
            "timeout": settings.getfloat("FLAWLESS_LINK_TIMEOUT", 20.0),
            "retries": settings.getint("FLAWLESS_LINK_RETRIES", 2),
            "max_redirects": settings.getint("FLAWLESS_LINK_MAX_REDIRECTS", 10),
            "max_retry_after": settings.getfloat("FLAWLESS_LINK_MAX_RETRY_AFTER", 60.0),
            "retry_delay": settings.getfloat("FLAWLESS_LINK_RETRY_DELAY", 1.0),
            "concurrency": settings.getint("FLAWLESS_LINK_CONCURRENCY", 8),
            "host_concurrency": settings.getint("FLAWLESS_LINK_HOST_CONCURRENCY", 2),
            "host_budget": settings.getint("FLAWLESS_LINK_HOST_BUDGET", 0),
            "host_failures": settings.getint("FLAWLESS_LINK_HOST_FAILURES", 3),
        }
        return cls(crawler, check_external=settings.getbool("FLAWLESS_CHECK_EXTERNAL", True),
                   cache_hours=settings.getfloat("FLAWLESS_LINK_CACHE_HOURS", 168.0),
                   checker_options=options)

    async def open_spider(self) -> None:
        crawl = CrawlLifecycle.of(self.crawler)
        if crawl is None:
            logger.info("Link checks need a Flawless crawl: %s is left alone",
                        self.crawler.spider.name)
            return
        self.active = True
        self.crawl = crawl
        self.site = crawl.site
        self.shared = crawl.shared is not None
        self.scope = crawl.scope
        self.checker = Checker(self.crawler, is_same_site=self.site.is_same_site,
                               **self.checker_options)
        self.checker.known = self._known
        self.checker.hint = lambda url: self.hints.get(target_key(url))
        if self.shared:  # one budget per host for the crawl, whichever worker checks
            self.checker.take_check = self._take_shared_check
        db = Database.from_crawler(self.crawler)
        self.cache = LinkCache(db, self.cache_hours)
        self.ignored = await db.run(self._load_ignored, db)
        crawl.add_finalizer(self.finalize)
        self.crawler.signals.connect(self._downloaded, signal=signals.response_downloaded)
        self.crawler.signals.connect(Checker.headers_received, signal=signals.headers_received)
        self.crawler.signals.connect(Checker.bytes_received, signal=signals.bytes_received)

    async def process_item(self, item: Any) -> Any:
        if not isinstance(item, Page) or not self.active:
            return item
        crawled = self._record(item)
        external: list[str] = []
        deferred: list[tuple[str, Ref]] | None = [] if self.shared else None
        for link in item.links:
            self._add(link, item.url, item.final_url, item.findings, external, deferred)
        self._start_external(external)
        if self.shared and (crawled or deferred):
            # Kept with the page until the end of the crawl (the worker that finishes it
            # settles every worker's open links).
            item.held["links"] = {
                "crawled": crawled, "pending": deferred,
                "targets": {key: (self.urls[key], self.kinds[key], key in self.stylesheets)
                            for key, _ in deferred or ()},
            }
        return item

    async def close_spider(self) -> None:
        for task in self.tasks.values():
            task.cancel()
        if self.active:
            self.checker.cancel()
            await self.cache.flush()

    def _load_ignored(self, db: Database) -> Dismissals:
        with db.transaction() as cur:
            return Dismissals.load(cur, self.site.id)

    # -- what the crawl saw ---------------------------------------------------------------

    def _downloaded(self, response: Response, request: Any, spider: Any) -> None:
        """Remember every redirect the spider met (its redirects bypass our checks)."""
        if request.meta.get("flawless_link_check") or response.status not in REDIRECT_STATUSES:
            return
        location = response.headers.get("Location")
        if location:
            target = urljoin(request.url, safe_url_string(location.decode("latin-1")))
            key = target_key(request.url)
            self.hints[key] = (response.status, target)
            if self.shared:  # for the worker that checks what is left at the end
                try:
                    self.crawl.shared.put_hint(key, response.status, target)
                except redis.RedisError as exc:
                    self.crawl.redis_lost(exc)

    def _record(self, page: Page) -> dict[str, Result]:
        """A crawled page is the result of every link to it: with its redirect chain for links
        to the URL that was requested, as a plain answer for links to where it ended."""
        reason = ""
        if page.status in (401, 403, 405, 406, 503, 999) and is_bot_wall(
                page.status, page.headers, page.html[:65536].encode()):
            reason = "bot_wall"
        key = target_key(page.final_url)
        # Kept for every page of the crawl: strings shared where they can be (the key is the
        # page's URL as a rule, a content type is one of a few), one empty set for all.
        anchors = None
        if page.html or page.reused:
            anchors = frozenset(page.anchors) if page.anchors else NO_ANCHORS
        answer = Result(key if key == page.final_url else page.final_url, status=page.status,
                        error=page.error, reason=reason,
                        content_type=sys.intern(page.content_type), anchors=anchors)
        results = {key: answer}
        if page.redirects:
            chain = [[url, self.hints.get(target_key(url), (None,))[0]]
                     for url in [page.requested_url, *page.redirects[:-1]]]
            results[target_key(page.requested_url)] = replace(
                answer, url=page.requested_url, final_url=page.final_url, chain=chain)
        for key, result in results.items():
            if key not in self.crawled:
                self.crawled[key] = result
                self._settle(key, result)
        return results

    def _known(self, url: str) -> Result | None:
        key = target_key(url)
        if key in self.crawled:
            return self.crawled[key]
        if key in self._disallowed_keys():
            return Result(url, reason="robots", skipped=True)
        return None

    def _disallowed_keys(self) -> set[str]:
        urls = self.crawl.disallowed_urls()
        if self._disallowed[0] != len(urls):
            self._disallowed = (len(urls), {target_key(u) for u in urls})
        return self._disallowed[1]

    # -- links ------------------------------------------------------------------------------

    def _add(self, link: Link, page_url: str, shown_url: str, findings: list[dict[str, Any]],
             external: list[str], deferred: list[tuple[str, Ref]] | None = None) -> None:
        """Decide ``link`` now if possible (into ``findings``), else queue it for its target
        (into ``deferred``, when given: kept with the page for the end of the crawl)."""
        kind = kind_of(link, self.site.is_same_site)
        if kind is Kind.SKIP or (link.url and self.scope.excluded(link.url)):
            return  # excluded by the owner (sites set --exclude): not checked at all
        ref = ref_for(link, page_url)
        if self.ignored.link_ignored(link.url):
            return  # the owner said "not a mistake": not checked, not reported
        if kind is Kind.INVALID:
            ref.url = link.url or absolute(shown_url, link.raw) or link.raw.strip()
            if self.ignored.link_ignored(ref.url):
                return
            findings.append(self._finding(ref, Verdict("error", "invalid_url"), None))
            return
        if kind is Kind.MAILTO:
            problem = mailto_problem(link.url or link.raw.strip())
            if problem:
                ref.url = link.url or link.raw.strip()
                findings.append(self._finding(ref, Verdict("warning", "invalid_mailto", problem),
                                              None))
            return
        if is_insecure(link, shown_url):
            findings.append(self._finding(ref, Verdict("warning", "insecure"), None,
                                          key=f"insecure:{link.element}:{link.url}"))
        if kind is Kind.EXTERNAL and (link.element, link.attribute) == REFRESH:
            findings.append(self._finding(ref, Verdict("warning", "refresh_offsite"), None,
                                          key=f"refresh_offsite:{link.url}"))
        if kind is Kind.EXTERNAL and not self.check_external:
            return
        if is_client_route(ref.fragment):
            ref.fragment = ""
        key = target_key(link.url)
        result = self.results.get(key)
        if result is not None:
            findings.extend(self._decide(ref, result))
            return
        self.urls.setdefault(key, request_url(link.url))
        if kind is Kind.RESOURCE and is_stylesheet(link):
            self.stylesheets.add(key)
        if self.kinds.get(key) is not Kind.PAGE:
            self.kinds[key] = kind
        if deferred is not None:
            deferred.append((key, ref))
        else:
            # Waits for its target (the pages of a large site: thousands at once); the same
            # element names and link texts recur from page to page, and are held once.
            ref.element, ref.text = sys.intern(ref.element), sys.intern(ref.text)
            self.pending.setdefault(key, []).append(ref)
        if kind is Kind.EXTERNAL and key not in self.tasks:
            external.append(key)
            self.tasks[key] = asyncio.get_running_loop().create_future()  # claimed

    def _start_external(self, keys: list[str]) -> None:
        if keys:
            task = asyncio.ensure_future(self._check_external(keys))
            for key in keys:
                self.tasks[key] = task

    async def _check_external(self, keys: list[str]) -> None:
        if self.shared:  # one worker checks each target
            keys = await self._claim(keys)
        try:
            cached, checked = await self.cache.get_many(keys)
        except Exception:
            logger.exception("Could not read the link cache")
            cached, checked = {}, {}
        self.crawler.stats.inc_value("flawless/links/cache_hits", len(cached))
        for key, result in cached.items():
            self._settle(key, result)
        await self._share(cached)
        # Links never checked go first, then those checked longest ago (a host's budget rotates).
        waiting = sorted((key for key in keys if key not in cached),
                         key=lambda key: checked.get(key, 0.0))
        await asyncio.gather(*(self._check(key, checked.get(key, 0.0)) for key in waiting))

    async def _take_shared_check(self, host: str) -> bool:
        shared = self.crawl.shared
        assert shared is not None
        budget = self.checker.host_budget
        if not budget:
            return True
        try:
            return await asyncio.to_thread(shared.take_host_check, host) <= budget
        except Exception as exc:
            self.crawl.redis_lost(exc)
            return False

    async def _claim(self, keys: list[str]) -> list[str]:
        """The targets among ``keys`` this worker is the one to check (the first to ask)."""
        shared = self.crawl.shared
        assert shared is not None
        try:
            return [key for key, mine in zip(keys, await asyncio.to_thread(
                lambda: [shared.claim_link(k) for k in keys]), strict=True) if mine]
        except Exception as exc:  # Redis is away: the lifecycle stops the crawl
            self.crawl.redis_lost(exc)
            return []

    async def _share(self, results: dict[str, Result]) -> None:
        """Results of this worker's checks, for every worker (and the end of the crawl)."""
        if not self.shared or not results:
            return
        shared = self.crawl.shared
        assert shared is not None
        try:
            await asyncio.to_thread(shared.put_links, results)
        except Exception as exc:
            self.crawl.redis_lost(exc)

    async def _check(self, key: str, priority: float = 0.0) -> None:
        url = self.urls[key]
        try:
            result = await self.checker.check(url, want_body=key in self.stylesheets,
                                              priority=priority)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("Checking %s failed", url)
            result = Result(url, skipped=True, reason="checker_error")
        self.crawler.stats.inc_value("flawless/links/checked")
        self._settle(key, result)
        await self._share({key: result})
        if not self.site.is_same_site(url):
            self.cache.put(key, result)
            if len(self.cache) >= CACHE_FLUSH_SIZE:
                await self.cache.flush()

    def _settle(self, key: str, result: Result) -> None:
        """The target's answer is known: decide every link that waited for it."""
        if key not in self.stylesheets:
            result.body = b""
            # Decided from now on by ``results``: what it took to check it is not kept.
            self.urls.pop(key, None)
            self.kinds.pop(key, None)
        self.results[key] = result
        for ref in self.pending.pop(key, ()):
            self.out.extend(self._decide(ref, result))

    def _decide(self, ref: Ref, result: Result) -> list[dict[str, Any]]:
        if result.skipped:
            # Not checked this time (budget, robots, an error): an open finding for this link
            # stays open rather than being taken for fixed.
            return [{**finding("link", ref.page_url, "error", f"{ref.element}:{ref.url}",
                               url=ref.url), "unverified": True}]
        verdict = judge(result.status, result.error, result.reason, result.first_hop)
        if (ref.fragment and result.anchors is not None and result.status is not None
                and result.status < 300 and (verdict is None or verdict.severity == "warning")
                and not has_anchor(ref.fragment, result.anchors)):
            verdict = Verdict("error", "missing_fragment")
        return [] if verdict is None else [self._finding(ref, verdict, result)]

    def _finding(self, ref: Ref, verdict: Verdict, result: Result | None,
                 key: str | None = None) -> dict[str, Any]:
        status = result.status if result else None
        if result is not None and verdict.error == "permanent_redirect":
            status = result.first_hop
        # The target without its fragment: one broken page linked as page#a and page#b is
        # one broken target (the report can group on it; missing fragments differ by fragment).
        extra: dict[str, Any] = {"target": ref.url.partition("#")[0]}
        if verdict.reason:
            extra["reason"] = verdict.reason
        if result is not None and result.chain:
            extra["redirects"] = result.chain
            extra["final_status"] = result.status
        if verdict.error == "missing_fragment":
            extra["fragment"] = ref.fragment
        if ref.url.startswith(("http://", "https://")) and not self.site.is_same_site(ref.url):
            extra["external"] = True  # fixed only by a crawl that checked external links
        self.crawler.stats.inc_value(f"flawless/links/{verdict.severity}s")
        return finding(
            "link", ref.page_url, verdict.severity, key or f"{ref.element}:{ref.url}",
            url=ref.url, status=status, error=verdict.error, element=ref.element,
            text=ref.text, final_url=(result.final_url or None) if result else None,
            position=ref.position, **extra,
        )

    # -- the end of the crawl -------------------------------------------------------------

    async def finalize(self) -> list[FindingsBatch]:
        """Called by the crawl lifecycle when every page is in: settle every link still waiting."""
        try:
            if self.shared:
                await self._merge()
            await self._finish()
        except Exception:
            logger.exception("Link checks could not be finished")
        else:
            # Evidence for "fixed": this crawl checked every link it met (external ones too?).
            self.crawler.stats.set_value("flawless/checked/link", True)
            if self.check_external:
                self.crawler.stats.set_value("flawless/checked/link:external", True)
        findings, self.out = self.out, []
        places, self.checked_places = self.checked_places, []
        self.crawler.stats.set_value("flawless/links/targets", len(self.results))
        if not findings and not places:
            return []
        return [FindingsBatch(site_id=self.site.id, crawl_id=self.crawl.crawl_id,
                              findings=findings, source="links", checked_places=places)]

    async def _merge(self) -> None:
        """A shared crawl: take in what every worker kept, and the results they shared."""
        shared = self.crawl.shared
        assert shared is not None
        self.hints.update(await asyncio.to_thread(shared.hints))
        # Every worker's robots.txt refusals as of now (a fast crawl ends within the 2 s the
        # frontier keeps them), so no link to one is fetched here.
        await asyncio.to_thread(self.crawl.disallowed_urls, True)
        for held in await self.crawl.held("links"):
            for key, (url, kind, stylesheet) in held["targets"].items():
                self.urls.setdefault(key, url)
                if self.kinds.get(key) is not Kind.PAGE:
                    self.kinds[key] = kind
                if stylesheet:
                    self.stylesheets.add(key)
            for key, ref in held["pending"]:
                self.pending.setdefault(key, []).append(ref)
            for key, result in held["crawled"].items():
                if key not in self.crawled:
                    self.crawled[key] = result
                    self._settle(key, result)
        unknown = [key for key in self.pending if key not in self.results]
        for key, result in (await asyncio.to_thread(shared.get_links, unknown)).items():
            self._settle(key, result)
        for key in list(self.pending):
            if key in self.results:
                self._settle(key, self.results[key])
            elif key in self.tasks and self.tasks[key].done():
                del self.tasks[key]  # claimed by a worker that never answered: check it here

    async def _finish(self) -> None:
        while True:
            running = [t for t in dict.fromkeys(self.tasks.values()) if not t.done()]
            if running:
                await asyncio.gather(*running, return_exceptions=True)
                continue
            waiting = [key for key in self.pending if key not in self.tasks]
            if not waiting:
                break
            jobs: dict[str, asyncio.Future[Any]] = {}
            for key in waiting:
                known = self._known(self.urls[key])
                if known is not None:
                    self._settle(key, known)
                elif (self.kinds[key] is Kind.PAGE and self.crawl.budget_exhausted
                      and not self.crawl.was_seen(key)):
                    self._settle(key, Result(self.urls[key], reason="budget", skipped=True))
                elif key in self.crawl.trapped:
                    # A trap's next URL is not worth a request as a link either (nor 600 of them).
                    self._settle(key, Result(self.urls[key], reason="trap", skipped=True))
                else:
                    jobs[key] = asyncio.ensure_future(self._check_resource(key))
            self.tasks.update(jobs)
        for key in [k for k in self.pending]:  # nothing can answer these any more
            self._settle(key, Result(self.urls[key], skipped=True, reason="unresolved"))
        await self.cache.flush()

    async def _check_resource(self, key: str) -> None:
        await self._check(key)
        if key in self.stylesheets:
            self._parse_stylesheet(key)

    def _parse_stylesheet(self, key: str) -> None:
        """Queue the ``url()`` and ``@import`` targets of an internal stylesheet we fetched."""
        result = self.results.get(key)
        if result is None or not result.body or result.status != 200:
            return
        url = result.final_url or self.urls[key]
        body, result.body = result.body, b""
        if "css" not in result.content_type and not urlsplit(url).path.endswith(".css"):
            return
        external: list[str] = []
        text = body.decode("utf-8", "replace")
        for raw, line in css_targets(text):
            link = Link(url=absolute(url, raw), raw=raw, element="css", attribute="url()",
                        position=line)
            self._add(link, url, url, self.out, external)
        self._start_external(external)
        self.checked_places.append(url)
