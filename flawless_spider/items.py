"""The item the ``site`` spider yields: one fetched page, with everything the pipelines check."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Link:
    """One link found on a page: where it points and where on the page it stands."""

    url: str
    """Target made absolute against the page (or its ``<base href>``), fragment kept.

    ``""`` when the value cannot be a URL at all (an ``invalid_url`` finding)."""
    raw: str
    """The attribute value exactly as written in the HTML."""
    element: str
    """Tag name: ``a``, ``img``, ``script``, ``link``, ``iframe``, ``source``, ``style`` (CSS), ..."""
    attribute: str = "href"
    text: str = ""
    """Link text (``a``), ``alt`` (``img``) or ``title``; whitespace collapsed."""
    position: int = 0
    """Source line of the element, so owners can find the link on the page."""
    rel: str = ""


@dataclass
class Page:
    """One fetched URL of a site. Non-HTML responses carry only their status and headers."""

    url: str
    """The page's identity: its final URL after redirects within the site, canonicalised as the
    spider de-duplicates (fragment dropped). Findings on the page are stored under it."""
    final_url: str
    """The URL that answered, as the server gave it (off-site when a redirect left the site)."""
    status: int | None
    site_id: int
    crawl_id: int
    depth: int = 0
    content_type: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    """Headers that matter to the checks: content-language, last-modified, location, retry-after, ..."""
    title: str = ""
    html: str = ""
    """Decoded HTML body; empty for non-HTML responses and failures."""
    lang: str = ""
    """Page language from ``<html lang>`` or ``Content-Language`` (BCP 47 as written, may be empty)."""
    links: list[Link] = field(default_factory=list)
    anchors: list[str] = field(default_factory=list)
    """Every ``id`` and ``a[name]`` on the page: the targets of ``#fragment`` links."""
    content_hash: str = ""
    size: int = 0
    error: str | None = None
    """Error class when the page could not be fetched (``dns``, ``refused``, ``timeout``, ``tls``, ...)."""
    redirects: list[str] = field(default_factory=list)
    """Redirect chain, first hop first, when the request was redirected."""
    requested_url: str = ""
    """The URL as requested, before redirects (``url`` when empty)."""
    referer: str = ""
    findings: list[dict[str, Any]] = field(default_factory=list)
    """Findings added by the check pipelines; see ``flawless_spider.findings``."""
    declared_canonical: str = ""
    """The page's ``rel=canonical``, when it names another page of the site."""
    canonical_url: str = ""
    """The page this URL serves the same document as (``/index.html`` → ``/``), when folded."""
    check_failed: list[str] = field(default_factory=list)
    """Stages that failed on this page: it is then no evidence that its old findings are fixed."""

    reused: bool = False
    """Unchanged since a crawl that checked it (304 Not Modified, or the same content): its
    stored links are checked again, its language findings are the stored ones."""
    recrawl: dict[str, Any] = field(default_factory=dict, repr=False)
    """What a later crawl may reuse if the page does not change, by stage (the language stage's
    findings and its share of the end-of-crawl decisions); a reused page arrives with its
    stored one. See :mod:`flawless_spider.recrawl`."""

    checked: bool | None = None
    """Set by the store (which drops the HTML): whether this fetch was :attr:`evidence`."""
    held: dict[str, Any] = field(default_factory=dict, repr=False)
    """What each stage keeps from this page for the end of the crawl, by stage (shared crawls
    only): stored with the page, merged by the worker that finishes the crawl."""

    @property
    def evidence(self) -> bool:
        """Whether this fetch proves what is (not) on the page: 2xx HTML of the site, fully checked."""
        if self.checked is not None:
            return self.checked
        return bool(self.html or self.reused) and self.status is not None and 200 <= self.status < 300 and (
            not self.check_failed)

    def __post_init__(self) -> None:
        self.requested_url = self.requested_url or self.url


@dataclass
class FindingsBatch:
    """Findings that belong to no single page fetch, emitted when the crawl has fetched everything.

    Pipelines that can only decide at the end (internal link targets, boilerplate text seen on
    many pages) return these from their ``finalize()`` hook; the store pipeline saves them.
    """

    site_id: int
    crawl_id: int
    findings: list[dict[str, Any]] = field(default_factory=list)
    source: str = ""
    checked_places: list[str] = field(default_factory=list)
    """Non-page places the stage checked in full (internal stylesheets): evidence for their findings."""
