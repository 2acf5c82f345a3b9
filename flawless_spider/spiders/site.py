"""The ``site`` spider: crawls one site from its root and sitemaps, one Page item per fetched URL."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request, Spider, signals
from scrapy.exceptions import DontCloseSpider, IgnoreRequest, NotConfigured
from scrapy.http import Response, TextResponse
from scrapy.utils.gz import gunzip
from scrapy.utils.sitemap import Sitemap
from twisted.python.failure import Failure
from w3lib.url import canonicalize_url

from flawless_spider.canonical import directory_of
from flawless_spider.crawls import start_crawl
from flawless_spider.db import Database
from flawless_spider.errors import QuietNetworkErrors, classify_exception
from flawless_spider.extract import extract, is_page_link
from flawless_spider.items import FindingsBatch, Page
from flawless_spider.scope import UrlScope
from flawless_spider.sites import Site, SiteRegistry
from flawless_spider.throttle import apply_crawl_delay
from flawless_spider.traps import TrapGuard

logger = logging.getLogger(__name__)
logging.getLogger("scrapy.downloadermiddlewares.robotstxt").addFilter(QuietNetworkErrors())

HTML_TYPES = ("text/html", "application/xhtml+xml")
KEPT_HEADERS = ("content-type", "content-language", "last-modified", "location", "retry-after",
                "x-robots-tag", "server")
Finalizer = Callable[[], Awaitable[list[FindingsBatch]]]


class SiteSpider(Spider):
    """Crawl one site: ``-a url=URL`` (registered without an owner if new) or ``-a site=ID_OR_DOMAIN``.

    Follows same-site links only (``www.`` and the bare domain count as one site), obeys
    robots.txt (with its Crawl-delay, capped) and the site's page budget.
    """

    name = "site"

    def __init__(self, url: str | None = None, site: str | None = None,
                 verify: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        if bool(url) + bool(site) + bool(verify) != 1:
            raise NotConfigured("give exactly one of -a url=URL or -a site=ID_OR_DOMAIN")
        self.url_arg = url or verify
        self.site_arg = site
        self.verify = bool(verify)
        """``scrapy verify``: a throwaway site row, no summary (the command prints findings)."""
        self.summary = not verify
        self.site: Site
        self.crawl_id: int
        self.seen: set[str] = set()
        self.disallowed: set[str] = set()
        self.budget_exhausted = False
        self.left_out: dict[str, int] = {"budget": 0, "depth": 0, "trap": 0}
        """URLs the crawl's limits kept it from fetching, by limit: such a crawl is incomplete."""
        self._left_seen: set[str] = set()
        self.traps = TrapGuard(self.seen)
        self.trapped: set[str] = set()
        """URLs cut as a trap: the link stage does not fetch them either."""
        self.scope = UrlScope()
        self.root_error: str | None = None
        """Why the start page failed (``HTTP 503``, ``robots``, ``dns``, ...): the crawl failed."""
        self.root_detail: str = ""
        self._closing: asyncio.Future[None] | None = None
        self.partial_start = False
        """Started on a page other than the site's root: no sitemaps (only what it leads to)."""
        self.finalizers: list[Finalizer] = []
        self._finalized = False
        self.crawl_delays: dict[str, float] = {}
        """robots.txt Crawl-delay per host (capped); honoured by ``CrawlDelayAutoThrottle``."""

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> SiteSpider:
        spider: SiteSpider = super().from_crawler(crawler, *args, **kwargs)
        settings = crawler.settings
        spider.max_pages = settings.getint("FLAWLESS_MAX_PAGES")
        spider.max_crawl_delay = settings.getfloat("FLAWLESS_MAX_CRAWL_DELAY")
        spider.max_url_length = settings.getint("FLAWLESS_MAX_URL_LENGTH")
        spider.depth_limit = settings.getint("DEPTH_LIMIT")
        spider.follow_sitemaps = settings.getbool("FLAWLESS_FOLLOW_SITEMAPS")
        spider.traps.run_limit = settings.getint("FLAWLESS_TRAP_RUN")
        db = Database.from_crawler(crawler)
        registry = SiteRegistry(db)
        if spider.verify:
            spider.site = registry.create_verify(spider.url_arg)
        else:
            spider.site = registry.ensure(spider.url_arg) if spider.url_arg else registry.get(
                spider.site_arg
            )
        # -a url= checks a page and what it leads to: never a digest, never the schedule.
        spider.crawl_id = start_crawl(db, spider.site.id, "partial" if spider.url_arg else "full")
        spider.scope = UrlScope.from_site(spider.site)
        crawler.signals.connect(spider._robots_parsed, signal=signals.robots_parsed)
        crawler.signals.connect(spider._idle, signal=signals.spider_idle)
        return spider

    # -- starting -----------------------------------------------------------------------

    async def start(self) -> AsyncIterator[Request]:
        root = self.url_arg and self.site.is_same_site(self.url_arg) and self.url_arg
        root = root or self.site.url
        self.partial_start = root != self.site.url
        if len(root) > self.max_url_length:
            self.root_error = "too_long"
            self.root_detail = f"{len(root)} characters, the limit is {self.max_url_length}"
            return
        request = self.page_request(root, depth=0)
        if request is not None:
            request.meta["flawless_root"] = True
            yield request
        # A crawl from one page checks that page and what it leads to, not the whole sitemap.
        if self.follow_sitemaps and root == self.site.url:
            sitemap = self.site.url.split("/", 3)
            yield self.sitemap_request("/".join(sitemap[:3]) + "/sitemap.xml", optional=True)

    def page_request(self, url: str, depth: int, referer: str = "") -> Request | None:
        """A request for a page of this site, or None when seen, off-site or over budget."""
        if (not url.startswith(("http://", "https://")) or len(url) > self.max_url_length
                or not self.site.is_same_site(url)):
            return None
        key = canonicalize_url(url, keep_fragments=False)
        if key in self.seen:
            return None
        if depth and not self.scope.crawls(url):
            self.crawler.stats.inc_value("flawless/out_of_scope")
            return None  # the owner's choice (sites set --exclude/--include): no limit
        trap = self.traps.check(key, referer)
        if trap:
            self.crawler.stats.inc_value("flawless/trap_skipped")
            self._leave("trap", key, trap)
            return None
        if self.depth_limit and depth > self.depth_limit:
            self._leave("depth", key)
            return None
        if len(self.seen) >= self.max_pages:
            if not self.budget_exhausted:
                logger.warning("Page budget of %d pages reached: not following more links",
                               self.max_pages)
                self.crawler.stats.set_value("flawless/budget_exhausted", True)
            self.budget_exhausted = True
            self._leave("budget", key)
            return None
        self.seen.add(key)
        self.traps.accept(key, referer)
        meta: dict[str, Any] = {"depth": depth, "flawless_referer": referer}
        return Request(key, callback=self.parse, errback=self.failed, meta=meta)

    def _stop(self) -> None:
        """The start page failed: the crawl is over (it will be recorded as failed)."""
        if self._closing is None:
            logger.warning("The start page failed (%s): stopping the crawl", self.root_error)
            self._closing = asyncio.ensure_future(
                self.crawler.engine.close_spider_async(reason="start_page_failed"))

    def _leave(self, limit: str, key: str, pattern: str = "") -> None:
        """Count a URL a limit kept out, once per URL (the set is capped; counts stay exact-ish).

        ``pattern``: for a trap, which one (counted per pattern for the crawl's reason)."""
        if key in self._left_seen:
            return
        if len(self._left_seen) < 200_000:
            self._left_seen.add(key)
        self.left_out[limit] += 1
        self.crawler.stats.set_value(f"flawless/left_out/{limit}", self.left_out[limit])
        if pattern:
            if len(self.trapped) < 200_000:
                self.trapped.add(key)
            self.traps.cut[pattern] += 1
            if self.traps.cut[pattern] == 1:
                logger.warning("Crawler trap: not following %s", pattern)

    def sitemap_request(self, url: str, optional: bool = False) -> Request:
        return Request(url, callback=self.parse_sitemap, errback=self.sitemap_failed,
                       meta={"flawless_sitemap": True, "flawless_optional": optional})

    # -- pages ----------------------------------------------------------------------------

    async def parse(self, response: Response) -> AsyncIterator[Page | Request]:
        page = self.page_item(response)
        self.seen.add(page.url)  # reached through a redirect: a link to it is no new page
        if response.meta.get("flawless_root") and self.root_error is None and not (
                self.site.is_same_site(response.url)):
            self.root_error, self.root_detail = "offsite", response.url
        if response.meta.get("flawless_root") and self.root_error:
            self._stop()
            yield page
            return
        if page.html and self.site.is_same_site(response.url):
            result = extract(response.selector.root, response.url)
            page.title, page.lang, page.links, page.anchors = (
                result.title, result.lang or page.lang, result.links, result.anchors,
            )
            depth = response.meta.get("depth", 0) + 1
            page.declared_canonical = self.canonical_of(result.links)
            other = directory_of(page.url) or page.declared_canonical
            if other and other != page.url:
                # Is /dir/index.html (or this rel=canonical) the same page? Fetch both, so the
                # answer does not depend on which one the crawl met first.
                request = self.page_request(other, depth, referer=response.url)
                if request is not None:
                    yield request
            for link in result.links:
                if is_page_link(link) and link.url.startswith(("http://", "https://")):
                    request = self.page_request(link.url, depth, referer=response.url)
                    if request is not None:
                        yield request
        yield page

    def canonical_of(self, links: list[Any]) -> str:
        """The page's ``<link rel=canonical>`` when it is on this site, canonicalised, else ``""``."""
        for link in links:
            if link.element == "link" and "canonical" in link.rel.lower().split():
                if link.url.startswith(("http://", "https://")) and self.site.is_same_site(link.url):
                    return canonicalize_url(link.url, keep_fragments=False)
                return ""
        return ""

    def page_item(self, response: Response) -> Page:
        request_url = response.meta.get("redirect_urls", [response.request.url])[0]
        ctype = response.headers.get("Content-Type", b"").decode("latin-1").split(";")[0].strip()
        headers = {
            name: response.headers.get(name, b"").decode("latin-1")
            for name in KEPT_HEADERS if name in response.headers
        }
        html = ""
        if isinstance(response, TextResponse) and ctype.lower() in (*HTML_TYPES, ""):
            html = response.text if ctype.lower() in HTML_TYPES or _looks_html(response) else ""
        if not self.site.is_same_site(response.url):
            html = ""  # redirected off-site: we only check our owner's pages
        if response.meta.get("flawless_root") and response.status >= 400:
            self.root_error = f"HTTP {response.status}"
        # A page is where its redirects ended (while they stay on the site), not where they began.
        url = response.url if self.site.is_same_site(response.url) else request_url
        return Page(
            url=canonicalize_url(url, keep_fragments=False),
            requested_url=request_url,
            final_url=response.url,
            status=response.status,
            site_id=self.site.id,
            crawl_id=self.crawl_id,
            depth=response.meta.get("depth", 0),
            content_type=ctype,
            headers=headers,
            html=html,
            lang=headers.get("content-language", "").split(",")[0].strip(),
            content_hash=hashlib.sha256(response.body).hexdigest()[:32],
            size=len(response.body),
            redirects=list(response.meta.get("redirect_urls", []))[1:] + (
                [response.url] if response.meta.get("redirect_urls") else []
            ),
            referer=response.meta.get("flawless_referer", ""),
        )

    def failed(self, failure: Failure) -> Page | None:
        """A page that could not be fetched is a result too (unless robots.txt forbids it)."""
        request = failure.request
        error = classify_exception(failure)
        root = request.meta.get("flawless_root")
        if error == "robots":
            self.disallowed.add(request.url)
            if root:
                self.root_error = "robots"
                self._stop()
            return None
        if isinstance(failure.value, IgnoreRequest) and error == "ignored" and not root:
            return None
        logger.info("Could not fetch %s: %s (%s)", request.url, error, failure.getErrorMessage())
        page = Page(
            url=request.url, final_url=request.url, status=None, site_id=self.site.id,
            crawl_id=self.crawl_id, depth=request.meta.get("depth", 0), error=error,
            referer=request.meta.get("flawless_referer", ""),
        )
        if root:
            self.root_error = error
            if error == "blocked":
                self.root_detail = failure.getErrorMessage()
            self._stop()
        return page

    # -- sitemaps -------------------------------------------------------------------------

    def parse_sitemap(self, response: Response) -> list[Request]:
        if response.status >= 400:
            if not response.meta.get("flawless_optional"):
                logger.warning("Sitemap %s answered HTTP %d", response.url, response.status)
            return []
        body = response.body
        if body[:2] == b"\x1f\x8b":
            try:
                body = gunzip(body, max_size=self.crawler.settings.getint("DOWNLOAD_MAXSIZE"))
            except OSError:
                logger.warning("Sitemap %s is not valid gzip", response.url)
                return []
        try:
            sitemap = Sitemap(body)
        except Exception:  # lxml raises several kinds for garbage
            logger.warning("Sitemap %s is not a valid sitemap", response.url)
            return []
        requests: list[Request] = []
        for entry in sitemap:
            loc = (entry.get("loc") or "").strip()
            if not loc or not self.site.is_same_site(loc):
                continue
            if sitemap.type == "sitemapindex":
                requests.append(self.sitemap_request(loc))
            elif sitemap.type == "urlset":
                request = self.page_request(loc, depth=1)
                if request is not None:
                    requests.append(request)
        return requests

    def sitemap_failed(self, failure: Failure) -> None:
        if not failure.request.meta.get("flawless_optional"):
            logger.warning("Could not fetch sitemap %s: %s", failure.request.url,
                           classify_exception(failure))

    # -- robots.txt, politeness, the end of the crawl --------------------------------------

    def _robots_parsed(self, robotparser: Any, request: Request) -> None:
        host = urlsplit(request.url).hostname or ""  # the downloader's slot key
        if not self.site.is_same_site(request.url):
            return
        user_agent = self.crawler.settings.get("USER_AGENT")
        delay = robotparser.crawl_delay(user_agent) if hasattr(robotparser, "crawl_delay") else None
        if delay:
            delay = min(float(delay), self.max_crawl_delay)
            self.crawl_delays[host] = delay
            apply_crawl_delay(self.crawler, host, delay)
            logger.info("robots.txt asks for a Crawl-delay of %.1fs on %s", delay, host)
        if self.follow_sitemaps and not self.partial_start:
            for url in getattr(getattr(robotparser, "rp", None), "sitemaps", []) or []:
                if self.site.is_same_site(url):
                    self.crawler.engine.crawl(self.sitemap_request(url))

    def _idle(self) -> None:
        """When every page is fetched, give the pipelines one chance to emit held-back findings."""
        if self._finalized or not self.finalizers:
            return
        self._finalized = True
        self.crawler.engine.crawl(Request(
            "data:,", callback=self._finalize, dont_filter=True,
            meta={"dont_obey_robotstxt": True, "flawless_trusted": True},
        ))
        raise DontCloseSpider

    async def _finalize(self, response: Response) -> AsyncIterator[FindingsBatch]:
        for finalizer in self.finalizers:
            for batch in await finalizer():
                yield batch



def _looks_html(response: TextResponse) -> bool:
    head = response.body[:512].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html"))
