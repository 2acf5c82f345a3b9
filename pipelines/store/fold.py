"""Two addresses of one document are one page: ``/dir/index.html`` folds into ``/dir/``, and a page
whose ``rel=canonical`` names another page of the site folds into it, when both serve the same
document (a wrong canonical on a different page never hides that page's findings).

Which address a crawl meets first depends on where it started, so the choice must not: the
directory or canonical form always wins. Candidates are held until every page is in (the first
end-of-crawl batch), then either folded (stored with ``canonical_url``, their findings dropped as
duplicates of the canonical page's) or stored as pages of their own.
"""

from __future__ import annotations

from flawless_spider.canonical import directory_of
from flawless_spider.items import FindingsBatch, Page


def candidate(page: Page) -> str | None:
    """The address ``page`` may be another form of: its directory, or its ``rel=canonical``."""
    if page.declared_canonical and page.declared_canonical != page.url:
        return page.declared_canonical
    return directory_of(page.url)


class IndexFolder:
    """Holds pages that may be another address of a page until all are in, then folds them."""

    def __init__(self) -> None:
        self.held: list[Page] = []
        self.hashes: dict[int, int] = {}
        """Every 2xx HTML page of the crawl: its URL's ``hash()`` → its content hash (64 bits),
        as numbers, not strings, so that it stays small however large the site (see :meth:`add`)."""
        self.folded: dict[str, str] = {}
        self.done = False

    def would_hold(self, page: Page) -> bool:
        """True when :meth:`take` would hold ``page`` back."""
        return page.evidence and not self.done and bool(candidate(page))

    def take(self, page: Page) -> bool:
        """True when ``page`` is held back (it may be another address of a page of the site)."""
        if not page.evidence:
            return False
        self.add(page.url, page.content_hash)
        if self.done or not candidate(page):
            return False
        self.held.append(page)
        return True

    def add(self, url: str, content_hash: str) -> None:
        """Remember that ``url`` is a 2xx HTML page with this content (its 16 first hex digits)."""
        self.hashes[hash(url)] = _content(content_hash)

    def release(self) -> list[Page]:
        """Every page is in: the held pages, folded ones marked with their canonical URL."""
        self.done = True
        pages, self.held = self.held, []
        for page in pages:
            target = candidate(page)
            if target and self.hashes.get(hash(target)) == _content(page.content_hash):
                self.folded[page.url] = target
                page.canonical_url = target
                page.findings = []  # the canonical page has the very same ones
        return pages

    def remap(self, batch: FindingsBatch) -> FindingsBatch:
        """End-of-crawl findings of a folded page belong to its directory page."""
        if not self.folded:
            return batch
        for item in batch.findings:
            item["page_url"] = self.folded.get(item["page_url"], item["page_url"])
            if "page_list" in item:
                item["page_list"] = sorted({self.folded.get(u, u) for u in item["page_list"]})
                item["pages"] = len(item["page_list"])
        return batch


def _content(content_hash: str) -> int:
    try:
        return int(content_hash[:16] or "0", 16)
    except ValueError:  # not the spider's hex digest
        return hash(content_hash[:16])
