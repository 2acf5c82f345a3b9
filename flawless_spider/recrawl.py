"""Re-crawls: conditional requests, and the stored checks of pages that did not change.

Every page fetched 2xx HTML and checked by every stage leaves a state for the next crawl
(``page_states``, written by the store): its ETag and Last-Modified, its content hash, its links
and what the language stage made of it (its findings, and its share of the end-of-crawl
decisions: boilerplate, recurring words, words used in code). The next crawl asks for the page
with ``If-None-Match`` / ``If-Modified-Since``; on ``304 Not Modified``, or a 200 with the same
content, the page is *reused*:

- its stored links are followed, and checked again: their targets' statuses are this crawl's
  (a link from an unchanged page to a page deleted since is broken), external results come
  from the link cache as for any page;
- the language stage does not read it again: it restores the page's findings and adds its stored
  share to the end-of-crawl decisions, so a reused crawl reports exactly what a full one would.

A state is reused only on the same *basis*: the same code (a hash of its sources and the
installed dictionaries) and the same site settings, site words, dismissals and language
settings. Anything else, a page that failed or was only partly checked, and
``FLAWLESS_REUSE_UNCHANGED=false``, means a full check.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import pickle
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scrapy import Request, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

from flawless_spider.db import Database
from flawless_spider.items import Page
from flawless_spider.lifecycle import CrawlLifecycle

logger = logging.getLogger(__name__)

STATE_FORMAT = 2
BATCH = 100
"""States read in one query, at most (those of the pages whose requests are out)."""
MAX_HELD = 1000
"""States read ahead, and pages waiting to be read, kept at most (beyond: the oldest go)."""
CONDITIONAL = (b"If-None-Match", b"If-Modified-Since")
SOURCES = (Path(__file__).parent, Path(__file__).parent.parent / "pipelines")
DICTIONARIES = (Path("/usr/share/hunspell"), Path("/usr/share/myspell"))
SETTINGS = ("FLAWLESS_LANGUAGE_ENABLED", "FLAWLESS_SKIP_SELECTORS", "LANGUAGETOOL_URL",
            "FLAWLESS_LANGUAGETOOL_MAX_CHARS")
"""Settings that change what the language stage finds on a page (the links are checked anyway)."""


@functools.cache
def code_basis() -> str:
    """A hash of the code that checks pages and of the installed dictionaries: a page checked
    by other code (or against other dictionaries) is checked again."""
    digest = hashlib.sha256(str(STATE_FORMAT).encode())
    for root in SOURCES:
        for path in sorted(root.rglob("*")):
            if path.is_file() and path.suffix in (".py", ".txt") and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(root.parent)).encode() + b"\0")
                digest.update(path.read_bytes())
    for folder in DICTIONARIES:
        for path in sorted(folder.glob("*.dic")) if folder.is_dir() else ():
            stat = path.stat()
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    return digest.hexdigest()[:24]


def basis(site: Any, settings: Any, words: list[str], ignores: list[tuple[str, str, str]]) -> str:
    """What a page's checks depend on besides its content: code, settings, words, dismissals."""
    parts = {
        "code": code_basis(),
        "language": getattr(site, "language", ""),
        "site": getattr(site, "settings", None) or {},
        "settings": {name: str(settings.get(name)) for name in SETTINGS},
        "words": sorted(words),
        "ignores": sorted(ignores),
    }
    raw = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(raw).hexdigest()[:32]


@dataclass(slots=True)
class Known:
    """What the last check of a page answered with: enough to ask whether it changed."""

    etag: str | None
    last_modified: str | None
    content_hash: str


class Recrawl:
    """Scrapy extension: the stored states of the site's pages on this crawl's basis.

    Settings: ``FLAWLESS_REUSE_UNCHANGED`` (default true). Off, every page is checked in full;
    states are still stored, so the next crawl can reuse them.
    """

    def __init__(self, crawler: Crawler, reuse: bool):
        self.crawler = crawler
        self.reuse = reuse
        self.basis = ""
        """This crawl's basis; states are stored under it (empty until the spider opens)."""
        self.known: dict[str, Known] = {}
        """Pages with a state on this basis, by URL (empty when reuse is off)."""
        self.site_id = 0
        self._reader: Database | None = None
        self._wanted: dict[str, None] = {}
        """Pages whose conditional requests went out, in order, their states not read yet."""
        self._states: dict[str, bytes | None] = {}
        """States read ahead for pages whose answers have not come back yet (compressed)."""
        self._batch: asyncio.Future[None] | None = None
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Recrawl:
        return cls(crawler, crawler.settings.getbool("FLAWLESS_REUSE_UNCHANGED", True))

    @classmethod
    def of(cls, crawler: Crawler) -> Recrawl | None:
        try:
            return crawler.get_extension(cls)
        except RuntimeError:
            return None

    def spider_opened(self) -> None:
        """Work out the basis and read which pages have a state on it (before any request)."""
        crawl = CrawlLifecycle.of(self.crawler)
        if crawl is None:
            return
        self.site_id = crawl.site.id
        db = Database.from_crawler(self.crawler)
        with db.transaction() as cur:
            cur.execute("SELECT word FROM site_words WHERE site_id = %s", (self.site_id,))
            words = [row["word"] for row in cur.fetchall()]
            cur.execute("SELECT kind, rule, value FROM site_ignores WHERE site_id = %s",
                        (self.site_id,))
            ignores = [(row["kind"], row["rule"], row["value"]) for row in cur.fetchall()]
            self.basis = basis(crawl.site, self.crawler.settings, words, ignores)
            if self.reuse:
                cur.execute("SELECT url, etag, last_modified, content_hash FROM page_states"
                            " WHERE site_id = %s AND basis = %s", (self.site_id, self.basis))
                self.known = {row["url"]: Known(row["etag"], row["last_modified"],
                                                row["content_hash"]) for row in cur.fetchall()}
        self.crawler.stats.set_value("flawless/recrawl/known", len(self.known))

    def spider_closed(self) -> None:
        if self._reader is not None:
            self._reader.close()

    # -- asking -----------------------------------------------------------------------------

    def validators(self, url: str) -> dict[bytes, str]:
        """Conditional request headers for the page ``url`` (none when there is no state)."""
        known = self.known.get(url)
        headers: dict[bytes, str] = {}
        if known is not None:
            if self.reuse:  # its state is read with others' before the answer comes back
                self._wanted[url] = None
                while len(self._wanted) > MAX_HELD:
                    del self._wanted[next(iter(self._wanted))]
            if known.etag:
                headers[b"If-None-Match"] = known.etag
            if known.last_modified:
                headers[b"If-Modified-Since"] = known.last_modified
        return headers

    def unchanged(self, page: Page) -> bool:
        """Whether ``page`` (fetched in full) is the content its state was checked on."""
        known = self.known.get(page.url)
        return (known is not None and bool(page.html) and page.status is not None
                and 200 <= page.status < 300 and known.content_hash == page.content_hash)

    async def reuse_state(self, page: Page, not_modified: bool) -> bool:
        """Give ``page`` its stored state when it may be reused: after a 304 (the page is then
        filled in from the state) or when :meth:`unchanged`. False when there is none."""
        if not (not_modified and page.url in self.known) and not self.unchanged(page):
            self._states.pop(page.url, None)
            return False
        state = await self._load(page.url)
        if state is None:
            return False
        if not_modified:
            for name, value in state["page"].items():
                setattr(page, name, value)
            self.crawler.stats.inc_value("flawless/recrawl/not_modified")
        else:
            self.crawler.stats.inc_value("flawless/recrawl/same_content")
        page.reused = True
        page.recrawl = state["stages"]
        return True

    async def _load(self, url: str) -> dict[str, Any] | None:
        """The stored state of ``url``: read with the states of the other pages whose
        conditional requests are out (one query for many pages, not one per page)."""
        while url not in self._states:
            if self._batch is None:
                self._batch = asyncio.ensure_future(self._read_batch(url))
            await asyncio.shield(self._batch)
        raw = self._states.pop(url)
        try:
            return pickle.loads(zlib.decompress(raw)) if raw is not None else None
        except Exception:  # a state that cannot be read is a page to check in full
            logger.exception("Could not read the stored state of %s", url)
            return None

    async def _read_batch(self, url: str) -> None:
        """Read the states of ``url`` and of up to ``BATCH`` pages asked for since the last read
        into ``_states`` (None: no state, or it could not be read)."""
        urls = [url]
        while self._wanted and len(urls) < BATCH:
            wanted = next(iter(self._wanted))
            del self._wanted[wanted]
            if wanted != url and wanted not in self._states:
                urls.append(wanted)
        self.crawler.stats.inc_value("flawless/recrawl/state_reads")
        if self._reader is None:  # its own connection: not queued behind the store's writes
            self._reader = Database.from_settings(self.crawler.settings)
        reader = self._reader

        def read() -> dict[str, bytes]:
            with reader.transaction() as cur:
                cur.execute("SELECT url, state FROM page_states WHERE site_id = %s"
                            " AND basis = %s AND url = ANY(%s)", (self.site_id, self.basis, urls))
                return {row["url"]: bytes(row["state"]) for row in cur.fetchall()}

        try:
            rows = await reader.run(read)
        except Exception:  # pages without their state are checked in full
            logger.exception("Could not read the stored states of %d pages", len(urls))
            rows = {}
        finally:
            self._batch = None
        for name in urls:
            self._states[name] = rows.get(name)
        while len(self._states) > MAX_HELD:  # asked for, then redirected or failed: dropped
            del self._states[next(iter(self._states))]


# The page fields a 304 answer leaves to the stored state (it has no body).
PAGE_FIELDS = ("status", "content_type", "content_hash", "size", "title", "lang", "links",
               "anchors", "declared_canonical")


def state_row(page: Page, basis: str) -> tuple | None:
    """The ``page_states`` row a checked page leaves for the next crawl, or None."""
    if not basis or page.reused or not page.evidence or page.error:
        return None
    state = {"page": {name: getattr(page, name) for name in PAGE_FIELDS}, "stages": page.recrawl}
    return (page.site_id, page.url, page.crawl_id, basis, page.headers.get("etag") or None,
            page.headers.get("last-modified") or None, page.content_hash,
            zlib.compress(pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL), 1))


class ConditionalRequests:
    """Downloader middleware: page requests carry the validators of the page's stored state.

    Redirected requests carry none (a redirect's target is another page, with validators of
    its own); a request marked ``flawless_full`` asks for the whole page.
    """

    def __init__(self, crawler: Crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ConditionalRequests:
        if not crawler.settings.getbool("FLAWLESS_REUSE_UNCHANGED", True):
            raise NotConfigured("re-crawls check every page in full (FLAWLESS_REUSE_UNCHANGED)")
        return cls(crawler)

    @functools.cached_property
    def recrawl(self) -> Recrawl | None:
        """The crawl's :class:`Recrawl` (looked up once: it is asked for every page request)."""
        return Recrawl.of(self.crawler)

    def process_request(self, request: Request) -> None:
        if not request.meta.get("flawless_page"):
            return
        if request.meta.get("redirect_urls") or request.meta.get("flawless_full"):
            for name in CONDITIONAL:
                request.headers.pop(name, None)
            request.meta.pop("flawless_validated", None)
            return
        headers = self.recrawl.validators(request.url) if self.recrawl is not None else {}
        for name, value in headers.items():
            request.headers[name] = value
        if headers:
            request.meta["flawless_validated"] = request.url
