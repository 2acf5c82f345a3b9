"""``/dir/index.html`` folded into ``/dir/`` when both serve the same document: one page, not two.

Which of the two addresses a crawl meets first depends on where it started, so the choice must
not: the directory form always wins. Index pages are held until every page is in (the first
end-of-crawl batch), then either folded (stored with ``canonical_url``, their findings dropped as
duplicates of the directory page's) or stored as pages of their own.
"""

from __future__ import annotations

from flawless_spider.canonical import directory_of
from flawless_spider.items import FindingsBatch, Page


class IndexFolder:
    """Holds index-file pages until the directory pages are known, then folds or releases them."""

    def __init__(self) -> None:
        self.held: list[Page] = []
        self.directories: dict[str, str] = {}
        """Directory URL → content hash of its 2xx HTML answer."""
        self.folded: dict[str, str] = {}
        self.done = False

    def take(self, page: Page) -> bool:
        """True when ``page`` is held back (an index file whose directory may be the same page)."""
        if page.url.endswith("/") and page.evidence:
            self.directories[page.url] = page.content_hash
        if self.done or not page.evidence or directory_of(page.url) is None:
            return False
        self.held.append(page)
        return True

    def release(self) -> list[Page]:
        """Every page is in: the held pages, folded ones marked with their canonical URL."""
        self.done = True
        pages, self.held = self.held, []
        for page in pages:
            directory = directory_of(page.url)
            if directory and self.directories.get(directory) == page.content_hash:
                self.folded[page.url] = directory
                page.canonical_url = directory
                page.findings = []  # the directory page has the very same ones
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
