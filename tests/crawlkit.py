"""Small helpers for tests that crawl a one-off site written into ``tmp_path``."""

from __future__ import annotations

import json
from pathlib import Path

# Short timeouts and only the stage under test, so a crawl takes a few seconds.
FAST_LINKS = ("-s", "FLAWLESS_LINK_TIMEOUT=2", "-s", "FLAWLESS_LINK_RETRY_DELAY=0.1",
              "-s", "FLAWLESS_LANGUAGE_ENABLED=false", "-s", "AUTOTHROTTLE_ENABLED=false",
              "-s", "FLAWLESS_FOLLOW_SITEMAPS=false")


def make_site(folder: Path, index: str) -> Path:
    """A site folder with ``index`` as its home page and a robots.txt that allows everything."""
    folder.mkdir()
    (folder / "index.html").write_text(index)
    (folder / "robots.txt").write_text("User-agent: *\nDisallow:\n")
    return folder


def report_records(scrapy, url: str) -> list[dict]:
    """``scrapy report --format jsonl`` for the site at ``url``, parsed."""
    out = scrapy("report", url.split("/")[2], "--format", "jsonl").stdout
    return [json.loads(line) for line in out.splitlines()]
