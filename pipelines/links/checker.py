"""Fetch link targets through Scrapy's downloader: HEAD first (external), GET when HEAD is refused, retries
with backoff and Retry-After, per-host limits, and redirects followed by hand so the chain is kept.

Every URL is requested at most once per crawl (plus its retries): hop results are shared, so
two links whose redirects meet fetch the common part once.

Other people's hosts are asked politely and only as much as needed: a check takes its host's
slot before a global one (so the queue of one busy host never holds slots other hosts could
use), the first request to a host goes alone, a name that did not resolve is not looked up again
this crawl (its other URLs get the same answer), a host that refused or timed out
``host_failures`` times in a row is not asked again this crawl, and each host gets at most
``host_budget`` checks per crawl (the rest are *unverified*: skipped, never a finding).
"""

from __future__ import annotations

import asyncio
import email.utils
import heapq
import itertools
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

from scrapy import Request
from scrapy.exceptions import StopDownload
from w3lib.url import safe_url_string

from flawless_spider.errors import classify_exception
from pipelines.links.classify import (
    REDIRECT_STATUSES,
    TRANSIENT_ERRORS,
    TRANSIENT_STATUSES,
    is_bot_wall,
)
from pipelines.links.collect import target_key

logger = logging.getLogger(__name__)

CSS_MAXSIZE = 2 * 1024 * 1024
# A GET check reads a body of at most this size whole: stopping it early would cost the
# connection (a new TCP, or TLS, handshake for the host's next request) for a few kilobytes saved.
PEEK_WHOLE_BODY = 64 * 1024
# Failures after which HEAD is not worth repeating as GET.
FINAL_ERRORS = frozenset({"dns", "refused", "tls", "blocked", "robots", "timeout"})
# Failures to connect that count towards giving up on a host for the rest of the crawl.
HOST_FAILURES = frozenset({"refused", "timeout"})


@dataclass
class Hop:
    """The answer of one URL (after retries): a status or an error class, maybe a redirect."""

    status: int | None = None
    error: str | None = None
    location: str = ""
    reason: str = ""
    method: str = ""
    content_type: str = ""
    body: bytes = b""
    attempts: int = 0
    skip: str = ""
    """Not asked (``host_budget``, ``host_unresponsive``): the target stays unverified."""
    inferred: bool = False
    """Not asked: the host's earlier answer (no such name, refused) holds for this URL too."""


class Gate:
    """A semaphore that lets the waiter with the lowest priority in first (then the earliest).

    Per host, the priority is when the link was last checked (never: 0), so a host's budget
    goes to the links checked longest ago; for the global limit, it is minus the waiting
    host's queue, so the busiest host (the end of the external phase) never waits for it.
    """

    def __init__(self, limit: int):
        self.free = limit
        self._waiting: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    async def acquire(self, priority: float) -> None:
        if self.free > 0 and not self._waiting:
            self.free -= 1
            return
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (priority, next(self._order), future))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # handed the slot, then cancelled: pass it on
            raise

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def release(self) -> None:
        while self._waiting:
            _, _, future = heapq.heappop(self._waiting)
            if not future.done():
                future.set_result(None)
                return
        self.free += 1


@dataclass
class Host:
    """What this crawl learnt of one external ``host:port``."""

    gate: Gate
    first: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Held by the first request to the host: the others wait for its answer."""
    answered: bool = False
    failures: int = 0
    """Connection failures (refused, timeout) in a row."""
    down: str = ""
    """The failure the host is given up for (``refused``, ``timeout``), after ``failures``."""


@dataclass(slots=True)
class Result:
    """Where a target ends up: final status or error, the redirect chain, what we know of it."""

    url: str
    status: int | None = None
    error: str | None = None
    final_url: str = ""
    """Where redirects ended; ``""`` when the target answered itself."""
    chain: list[list[Any]] = field(default_factory=list)
    """Each redirect as ``[url, status]``, first hop first."""
    reason: str = ""
    """Detail of a warning: ``bot_wall``, ``rate_limited``, ``robots``, ..."""
    anchors: frozenset[str] | None = None
    """Ids and ``a[name]`` of the target page (internal HTML pages only)."""
    content_type: str = ""
    body: bytes = b""
    skipped: bool = False
    """True when we may not (robots.txt) or chose not to check it: never a finding."""
    cached: bool = False

    @property
    def first_hop(self) -> int | None:
        return self.chain[0][1] if self.chain else None

    def to_cache(self) -> dict[str, Any]:
        return {"chain": self.chain, "reason": self.reason, "content_type": self.content_type}


Known = Callable[[str], "Result | None"]


class Checker:
    """Checks URLs with the crawler's engine, within the crawl's politeness rules."""

    def __init__(self, crawler: Any, *, timeout: float, retries: int, max_redirects: int,
                 max_retry_after: float, retry_delay: float, concurrency: int,
                 host_concurrency: int, is_same_site: Callable[[str], bool],
                 host_budget: int = 0, host_failures: int = 3):
        self.crawler = crawler
        self.timeout = timeout
        self.retries = max(0, retries)
        self.max_redirects = max_redirects
        self.max_retry_after = max_retry_after
        self.retry_delay = retry_delay
        self.is_same_site = is_same_site
        self.known: Known = lambda url: None
        """What the crawl knows of an internal URL (its page, or robots.txt forbade it)."""
        self.hint: Callable[[str], tuple[int, str] | None] = lambda url: None
        """A redirect the crawl met for an internal URL, as ``(status, location)``."""
        self._all = Gate(max(1, concurrency))
        self._host_limit = max(1, host_concurrency)
        self._hosts: dict[str, Host] = {}
        self.host_budget = max(0, host_budget)
        self.host_failures = max(1, host_failures)
        self._unresolved: set[str] = set()
        """Host names whose lookup failed this crawl: not looked up again."""
        self._checks: Counter[str] = Counter()
        self.take_check: Callable[[str], Awaitable[bool]] = self._take_check
        """Whether a host (by name) has budget for one more check; shared crawls count in Redis."""
        self._paused_until: dict[str, float] = {}
        self._hops: dict[str, asyncio.Task[Hop]] = {}
        self.requests = 0

    # -- one target, following redirects ------------------------------------------------

    async def check(self, url: str, want_body: bool = False, priority: float = 0.0) -> Result:
        """Follow ``url`` through its redirects to a final answer; ``priority`` orders the
        checks waiting for one host (lower first: when the target was last checked, or 0)."""
        chain: list[list[Any]] = []
        visited = {target_key(url)}
        current = url
        while True:
            hinted = None
            if self.is_same_site(current):
                known = self.known(current)
                if known is not None:
                    return _joined(url, chain, current, known)
                hinted = self.hint(current)
            if hinted is not None:  # the crawl saw this redirect already: don't ask again
                hop = Hop(status=hinted[0], location=hinted[1])
            else:
                hop = await self.hop(current, want_body, priority)
            if hop.error == "robots":
                return Result(url, error=None, reason="robots", skipped=True, chain=chain)
            if hop.skip:
                return Result(url, reason=hop.skip, skipped=True, chain=chain)
            if hop.status in REDIRECT_STATUSES and hop.location:
                chain.append([current, hop.status])
                if urlsplit(hop.location).scheme not in ("http", "https"):
                    # file:, ftp:, data:, ...: a browser would not follow it, and our
                    # downloader must not read local files or reach hosts the guard never sees.
                    return Result(url, status=hop.status, error="invalid_url",
                                  final_url=hop.location, chain=chain)
                key = target_key(hop.location)
                if key in visited:
                    return Result(url, status=hop.status, error="redirect_loop",
                                  final_url=hop.location, chain=chain)
                if len(chain) > self.max_redirects:
                    return Result(url, status=hop.status, error="too_many_redirects",
                                  final_url=hop.location, chain=chain)
                visited.add(key)
                current = hop.location
                continue
            return Result(url, status=hop.status, error=hop.error,
                          final_url=current if chain else "", chain=chain, reason=hop.reason,
                          content_type=hop.content_type, body=hop.body)

    # -- one URL, with retries ------------------------------------------------------------

    def hop(self, url: str, want_body: bool = False, priority: float = 0.0) -> asyncio.Task[Hop]:
        """The (shared) answer of one URL: requested once, whoever asks."""
        key = target_key(url)
        task = self._hops.get(key)
        if task is None:
            task = self._hops[key] = asyncio.ensure_future(self._fetch(url, want_body, priority))
        return task

    async def _fetch(self, url: str, want_body: bool, priority: float = 0.0) -> Hop:
        internal = self.is_same_site(url)
        # Other people's servers get HEAD (cheap for them); the owner's server gets one GET,
        # cut after the first chunk: as cheap, and what a browser does, so never a false alarm.
        method = "GET" if want_body or internal else "HEAD"
        parts = urlsplit(url)
        host, name = parts.netloc.lower(), (parts.hostname or "").lower()
        state = self._host(host)
        attempt = 0
        tries = 0
        while True:
            await self._wait_for_host(host)
            # The host's slot first, then a global one: a busy host's queue holds no global slot.
            await state.gate.acquire(priority)
            try:
                if internal:
                    await self._all.acquire(0.0)
                    try:
                        hop = await self._request(url, method, internal, want_body)
                    finally:
                        self._all.release()
                elif state.answered:
                    hop = await self._external(url, method, want_body, name, state, tries == 0)
                else:
                    async with state.first:  # first contact: one request until the host answers
                        hop = await self._external(url, method, want_body, name, state, tries == 0)
            finally:
                state.gate.release()
            if hop.skip or hop.inferred:
                return hop  # settled from what the host did before: no request made
            tries += 1
            hop.attempts = tries
            if method == "HEAD" and _head_refused(hop):
                method = "GET"  # HEAD refused or mishandled: ask the way a browser does
                continue
            wait = self._retry_wait(hop, attempt, host)
            if wait is None or attempt >= self.retries:
                if hop.status == 429 and wait is None:
                    hop.reason = "retry_after_too_long"
                return hop
            attempt += 1
            self.crawler.stats.inc_value("flawless/links/retries")
            await asyncio.sleep(wait)

    async def _external(self, url: str, method: str, want_body: bool, name: str, state: Host,
                        first: bool) -> Hop:
        """One request to another site's host, unless what the host did already answers it."""
        if first:
            if name in self._unresolved:
                self.crawler.stats.inc_value("flawless/links/dns_failures_cached")
                return Hop(error="dns", method=method, inferred=True)  # same lookup, same answer
            if state.down == "refused":  # nothing listens: every URL of it meets the same refusal
                self.crawler.stats.inc_value("flawless/links/host_failures_cached")
                return Hop(error="refused", method=method, inferred=True)
            if state.down:  # timed out: its other URLs may answer; we just do not know
                self.crawler.stats.inc_value("flawless/links/host_failures_cached")
                return Hop(skip="host_unresponsive", method=method)
            if not await self.take_check(name):
                self.crawler.stats.inc_value("flawless/links/host_budget_skipped")
                return Hop(skip="host_budget", method=method)
        await self._all.acquire(-state.gate.waiting)
        try:
            hop = await self._request(url, method, False, want_body)
        finally:
            self._all.release()
        state.answered = True
        if hop.error == "dns":
            self._unresolved.add(name)
        elif hop.error in HOST_FAILURES:
            state.failures += 1
            if state.failures >= self.host_failures:
                state.down = hop.error
        elif hop.status is not None or hop.error not in ("tls", "blocked", "network"):
            state.failures = 0
        return hop

    async def _take_check(self, name: str) -> bool:
        self._checks[name] += 1
        return not self.host_budget or self._checks[name] <= self.host_budget

    async def _request(self, url: str, method: str, internal: bool, want_body: bool) -> Hop:
        meta: dict[str, Any] = {
            "dont_redirect": True, "handle_httpstatus_all": True, "dont_retry": True,
            "download_timeout": self.timeout, "flawless_link_check": True,
        }
        if not internal:
            meta["dont_obey_robotstxt"] = True
        if want_body:
            meta["download_maxsize"] = CSS_MAXSIZE
        elif method == "GET":
            meta["flawless_link_peek"] = True
        request = Request(url, method=method, meta=meta, dont_filter=True)
        self.requests += 1
        self.crawler.stats.inc_value("flawless/links/requests")
        try:
            response = await self.crawler.engine.download_async(request)
        except Exception as exc:  # every download failure is a result
            error = classify_exception(exc)
            logger.debug("Link check %s %s failed: %s (%s)", method, url, error, exc)
            return Hop(error=error, method=method)
        headers = response.headers.to_unicode_dict()
        lower = {k.lower(): v for k, v in headers.items()}
        hop = Hop(status=response.status, method=method,
                  content_type=lower.get("content-type", "").split(";")[0].strip().lower(),
                  body=response.body if want_body else b"")
        if response.status in REDIRECT_STATUSES and lower.get("location"):
            hop.location = urljoin(url, safe_url_string(lower["location"]))
        if is_bot_wall(response.status, lower, response.body):
            hop.reason = "bot_wall"
        if response.status in (429, 503) and "retry-after" in lower:
            hop.reason = hop.reason or "retry_after:" + lower["retry-after"]
        return hop

    def _retry_wait(self, hop: Hop, attempt: int, host: str) -> float | None:
        """Seconds to wait before trying again, or None when the answer is final."""
        transient = hop.status in TRANSIENT_STATUSES or hop.error in TRANSIENT_ERRORS
        if not transient or hop.reason == "bot_wall":
            return None
        backoff = self.retry_delay * (2 ** attempt)
        if hop.reason.startswith("retry_after:"):
            after = parse_retry_after(hop.reason.split(":", 1)[1])
            hop.reason = ""
            if after is not None:
                if after > self.max_retry_after:
                    return None
                backoff = max(after, 0.0)
                # The whole host asked us to wait, not just this URL.
                until = time.monotonic() + backoff
                self._paused_until[host] = max(self._paused_until.get(host, 0.0), until)
        return backoff

    async def _wait_for_host(self, host: str) -> None:
        while (delay := self._paused_until.get(host, 0.0) - time.monotonic()) > 0:
            await asyncio.sleep(delay)

    def _host(self, host: str) -> Host:
        state = self._hosts.get(host)
        if state is None:
            state = self._hosts[host] = Host(Gate(self._host_limit))
        return state

    # -- the downloader side --------------------------------------------------------------

    @staticmethod
    def headers_received(headers: Any, body_length: Any, request: Request, spider: Any) -> None:
        """Read a small body whole: the connection then stays open for the host's next request."""
        if (request.meta.get("flawless_link_peek") and isinstance(body_length, int)
                and 0 <= body_length <= PEEK_WHOLE_BODY):
            request.meta["flawless_link_peek"] = False

    @staticmethod
    def bytes_received(data: bytes, request: Request, spider: Any) -> None:
        """Stop GET checks after the first chunk: the status and a peek at the body suffice."""
        if request.meta.get("flawless_link_peek"):
            raise StopDownload(fail=False)

    def cancel(self) -> None:
        for task in self._hops.values():
            task.cancel()


def _head_refused(hop: Hop) -> bool:
    if hop.error:
        return hop.error not in FINAL_ERRORS
    return hop.status is not None and hop.status >= 400 and hop.status != 429


def _joined(url: str, chain: list[list[Any]], current: str, known: Result) -> Result:
    """Our own redirect hops followed by what the crawl knows of where they led."""
    if not chain:
        return Result(url, status=known.status, error=known.error, final_url=known.final_url,
                      chain=list(known.chain), reason=known.reason, anchors=known.anchors,
                      content_type=known.content_type, skipped=known.skipped)
    return Result(url, status=known.status, error=known.error,
                  final_url=known.final_url or current, chain=chain + list(known.chain),
                  reason=known.reason, anchors=known.anchors, content_type=known.content_type,
                  skipped=known.skipped)


def parse_retry_after(value: str) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
