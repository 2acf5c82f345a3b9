"""The ``site`` spider: crawls one site from its root and sitemaps, one Page item per fetched URL."""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from scrapy import Request, Spider, signals
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.http import Response, TextResponse
from scrapy.selector import Selector
from scrapy.utils.gz import gunzip
from scrapy.utils.sitemap import Sitemap
from twisted.python.failure import Failure
from w3lib.url import canonicalize_url

from flawless_spider.canonical import directory_of, url_key
from flawless_spider.errors import QuietNetworkErrors, classify_exception
from flawless_spider.extract import extract, is_page_link
from flawless_spider.items import Page
from flawless_spider.lifecycle import CrawlLifecycle
from flawless_spider.recrawl import Recrawl
from flawless_spider.sites import Site

logger = logging.getLogger(__name__)
logging.getLogger("scrapy.downloadermiddlewares.robotstxt").addFilter(QuietNetworkErrors())

HTML_TYPES = ("text/html", "application/xhtml+xml")
KEPT_HEADERS = ("content-type", "content-language", "last-modified", "etag", "location",
                "retry-after", "x-robots-tag", "server")


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
        self.url = url or verify
        """``-a url=``: crawl from this page (the site is registered without an owner if new)."""
        self.verify = bool(verify)
        """``scrapy verify``: a throwaway site row, no summary (the command prints findings)."""
        self.site = site
        """``-a site=``: the registered site to crawl, by id or domain."""
        self.partial_start = False
        """Started on a page other than the site's root: no sitemaps (only what it leads to)."""

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> SiteSpider:
        spider: SiteSpider = super().from_crawler(crawler, *args, **kwargs)
        settings = crawler.settings
        spider.max_url_length = settings.getint("FLAWLESS_MAX_URL_LENGTH")
        spider.depth_limit = settings.getint("DEPTH_LIMIT")
        spider.follow_sitemaps = settings.getbool("FLAWLESS_FOLLOW_SITEMAPS")
        crawler.signals.connect(spider._robots_parsed, signal=signals.robots_parsed)
        return spider

    @functools.cached_property
    def lifecycle(self) -> CrawlLifecycle:
        """The crawl this spider makes requests for: its site, record and frontier (looked up
        once: it is asked for every link of every page)."""
        lifecycle = CrawlLifecycle.of(self.crawler)
        if lifecycle is None:
            raise NotConfigured("the site spider needs the CrawlLifecycle extension")
        return lifecycle

    @functools.cached_property
    def recrawl(self) -> Recrawl | None:
        """The re-crawl extension (stored states of unchanged pages), when it is on."""
        return Recrawl.of(self.crawler)

    @property
    def crawl_site(self) -> Site:
        return self.lifecycle.site

    # -- starting -----------------------------------------------------------------------

    async def start(self) -> AsyncIterator[Request]:
        site = self.crawl_site
        root = self.url and site.is_same_site(self.url) and self.url
        root = root or site.url
        self.partial_start = root != site.url
        if len(root) > self.max_url_length:
            self.lifecycle.root_failed(
                "too_long", f"{len(root)} characters, the limit is {self.max_url_length}")
            return
        request = self.page_request(root, depth=0)
        if request is not None:
            request.meta["flawless_root"] = True
            yield request
        # A crawl from one page checks that page and what it leads to, not the whole sitemap.
        if self.follow_sitemaps and root == site.url:
            sitemap = site.url.split("/", 3)
            yield self.sitemap_request("/".join(sitemap[:3]) + "/sitemap.xml", optional=True)

    def page_request(self, url: str, depth: int, referer: str = "") -> Request | None:
        """A request for a page of this site, or None when seen, off-site or over a limit."""
        crawl = self.lifecycle
        if (not url.startswith(("http://", "https://")) or len(url) > self.max_url_length
                or not crawl.site.is_same_site(url)):
            return None
        key = url_key(url)
        if crawl.was_seen(key):
            return None
        if depth and not crawl.scope.crawls(url):
            self.crawler.stats.inc_value("flawless/out_of_scope")
            return None  # the owner's choice (sites set --exclude/--include): no limit
        trap = crawl.traps.check(key, referer)
        if trap:
            self.crawler.stats.inc_value("flawless/trap_skipped")
            crawl.leave("trap", key, trap)
            return None
        if self.depth_limit and depth > self.depth_limit:
            crawl.leave("depth", key)
            return None
        if not crawl.admit(key):  # over the page budget (counted), or taken meanwhile
            return None
        crawl.traps.accept(key, referer)
        meta: dict[str, Any] = {"depth": depth, "flawless_referer": referer, "flawless_page": True}
        return Request(key, callback=self.parse, errback=self.failed, meta=meta)

    def sitemap_request(self, url: str, optional: bool = False) -> Request:
        return Request(url, callback=self.parse_sitemap, errback=self.sitemap_failed,
                       meta={"flawless_sitemap": True, "flawless_optional": optional})

    # -- pages ----------------------------------------------------------------------------

    async def parse(self, response: Response) -> AsyncIterator[Page | Request]:
        crawl = self.lifecycle
        page = self.page_item(response)
        crawl.add_seen(page.url)  # reached through a redirect: a link to it is no new page
        if response.meta.get("flawless_root") and crawl.root_error is None and not (
                crawl.site.is_same_site(response.url)):
            crawl.root_failed("offsite", response.url)
        if response.meta.get("flawless_root") and crawl.root_error:
            yield page
            return
        recrawl = self.recrawl
        if response.status == 304 and response.meta.get("flawless_validated"):
            # Not modified: the page is as the stored state says (else ask for all of it).
            if recrawl is None or not await recrawl.reuse_state(page, not_modified=True):
                yield response.request.replace(
                    dont_filter=True, meta={**response.meta, "flawless_full": True})
                return
        elif page.html and crawl.site.is_same_site(response.url):
            # A selector of our own, not the response's cached one: the page's tree is freed
            # now, not when the pipelines are done with the page's item.
            result = extract(Selector(response).root, response.url)
            page.title, page.lang, page.links, page.anchors = (
                result.title, result.lang or page.lang, result.links, result.anchors,
            )
            page.declared_canonical = self.canonical_of(result.links)
            if recrawl is not None:
                await recrawl.reuse_state(page, not_modified=False)  # the same content?
        if (page.html or page.reused) and crawl.site.is_same_site(response.url):
            depth = response.meta.get("depth", 0) + 1
            other = directory_of(page.url) or page.declared_canonical
            if other and other != page.url:
                # Is /dir/index.html (or this rel=canonical) the same page? Fetch both, so the
                # answer does not depend on which one the crawl met first.
                request = self.page_request(other, depth, referer=response.url)
                if request is not None:
                    yield request
            for link in page.links:
                if is_page_link(link) and link.url.startswith(("http://", "https://")):
                    request = self.page_request(link.url, depth, referer=response.url)
                    if request is not None:
                        yield request
        yield page

    def canonical_of(self, links: list[Any]) -> str:
        """The page's ``<link rel=canonical>`` when it is on this site, canonicalised, else ``""``."""
        for link in links:
            if link.element == "link" and "canonical" in link.rel.lower().split():
                if link.url.startswith(("http://", "https://")) and self.crawl_site.is_same_site(
                        link.url):
                    return canonicalize_url(link.url, keep_fragments=False)
                return ""
        return ""

    def page_item(self, response: Response) -> Page:
        crawl = self.lifecycle
        request_url = response.meta.get("redirect_urls", [response.request.url])[0]
        ctype = response.headers.get("Content-Type", b"").decode("latin-1").split(";")[0].strip()
        headers = {
            name: response.headers.get(name, b"").decode("latin-1")
            for name in KEPT_HEADERS if name in response.headers
        }
        html = ""
        if isinstance(response, TextResponse) and ctype.lower() in (*HTML_TYPES, ""):
            html = response.text if ctype.lower() in HTML_TYPES or _looks_html(response) else ""
        if not crawl.site.is_same_site(response.url):
            html = ""  # redirected off-site: we only check our owner's pages
        if response.meta.get("flawless_root") and response.status >= 400:
            crawl.root_failed(f"HTTP {response.status}")
        # A page is where its redirects ended (while they stay on the site), not where they began.
        url = response.url if crawl.site.is_same_site(response.url) else request_url
        return Page(
            url=canonicalize_url(url, keep_fragments=False),
            requested_url=request_url,
            final_url=response.url,
            status=response.status,
            site_id=crawl.site.id,
            crawl_id=crawl.crawl_id,
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
        crawl = self.lifecycle
        request = failure.request
        error = classify_exception(failure)
        root = request.meta.get("flawless_root")
        if error == "robots":
            crawl.disallow(request.url)
            if root:
                crawl.root_failed("robots")
            return None
        if isinstance(failure.value, IgnoreRequest) and error == "ignored" and not root:
            return None
        logger.info("Could not fetch %s: %s (%s)", request.url, error, failure.getErrorMessage())
        page = Page(
            url=request.url, final_url=request.url, status=None, site_id=crawl.site.id,
            crawl_id=crawl.crawl_id, depth=request.meta.get("depth", 0), error=error,
            referer=request.meta.get("flawless_referer", ""),
            requested_url=request.meta.get("redirect_urls", [request.url])[0],
        )
        if root:
            crawl.root_failed(error, failure.getErrorMessage() if error == "blocked" else "")
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
            if not loc or not self.crawl_site.is_same_site(loc):
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

    # -- robots.txt ------------------------------------------------------------------------

    def _robots_parsed(self, robotparser: Any, request: Request) -> None:
        """Crawl the sitemaps robots.txt names (unless the crawl started on an inner page)."""
        site = self.crawl_site
        if not site.is_same_site(request.url) or not self.follow_sitemaps or self.partial_start:
            return
        for url in getattr(getattr(robotparser, "rp", None), "sitemaps", []) or []:
            if site.is_same_site(url):
                self.crawler.engine.crawl(self.sitemap_request(url))


def _looks_html(response: TextResponse) -> bool:
    head = response.body[:512].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html"))
