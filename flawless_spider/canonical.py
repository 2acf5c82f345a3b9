"""A page's one address: `/dir/index.html` and `/dir/` are one page when they serve the same document."""

from __future__ import annotations

import re
from functools import lru_cache

from w3lib.url import canonicalize_url

INDEX_FILE = re.compile(r"/(?:index|default)\.(?:html?|php|aspx?|shtml)$", re.IGNORECASE)


def directory_of(url: str) -> str | None:
    """``https://a/b/`` for ``https://a/b/index.html`` (no query), else ``None``."""
    if "?" in url:
        return None
    match = INDEX_FILE.search(url)
    return url[: match.start() + 1] if match else None


def url_key(url: str) -> str:
    """The identity of a URL the crawl de-duplicates on: canonical, without its fragment
    (``canonicalize_url(url, keep_fragments=False)``), remembered for the navigation links
    every page repeats."""
    return _canonical(url.partition("#")[0])


@lru_cache(maxsize=16384)
def _canonical(url: str) -> str:
    return canonicalize_url(url, keep_fragments=False)
