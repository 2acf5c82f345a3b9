"""Which URLs of a site a crawl covers: the site's ``exclude`` and ``include`` patterns.

Set with ``scrapy sites set SITE --exclude REGEX --include REGEX`` and kept in the site's
settings. Patterns are Python regular expressions searched in the absolute URL (like lychee's
``--exclude``):

- a URL matching an ``exclude`` pattern is neither crawled nor checked as a link;
- with ``include`` patterns, only pages matching one of them are crawled (the start page
  always is); links to other pages are still checked.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

logger = logging.getLogger(__name__)


def compile_patterns(patterns: Iterable[str]) -> list[re.Pattern[str]]:
    """Compile ``patterns``; ``ValueError`` naming the first one that is no regular expression."""
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern))
        except re.error as exc:
            raise ValueError(f"not a regular expression: {pattern!r} ({exc})") from None
    return compiled


class UrlScope:
    """The exclude and include patterns of one site, ready to match URLs."""

    def __init__(self, exclude: Iterable[str] = (), include: Iterable[str] = ()):
        self.exclude = compile_patterns(exclude)
        self.include = compile_patterns(include)

    @classmethod
    def from_site(cls, site: Any) -> UrlScope:
        settings = getattr(site, "settings", None) or {}
        try:
            return cls(_strings(settings.get("exclude")), _strings(settings.get("include")))
        except ValueError as exc:  # stored by hand, not through `sites set`
            logger.warning("Ignoring the site's URL patterns: %s", exc)
            return cls()

    def excluded(self, url: str) -> bool:
        """True when ``url`` must be neither crawled nor checked."""
        return any(p.search(url) for p in self.exclude)

    def crawls(self, url: str) -> bool:
        """True when ``url`` may be crawled as a page (not excluded, and included if asked)."""
        if self.excluded(url):
            return False
        return not self.include or any(p.search(url) for p in self.include)


def _strings(value: Any) -> list[str]:
    if not value:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]
