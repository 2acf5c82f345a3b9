"""A page's one address: `/dir/index.html` and `/dir/` are one page when they serve the same document."""

from __future__ import annotations

import re

INDEX_FILE = re.compile(r"/(?:index|default)\.(?:html?|php|aspx?|shtml)$", re.IGNORECASE)


def directory_of(url: str) -> str | None:
    """``https://a/b/`` for ``https://a/b/index.html`` (no query), else ``None``."""
    if "?" in url:
        return None
    match = INDEX_FILE.search(url)
    return url[: match.start() + 1] if match else None
