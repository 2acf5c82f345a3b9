"""Crawl records: one row per crawl of a site, opened when the spider starts."""

from __future__ import annotations

from flawless_spider.db import Database


def start_crawl(db: Database, site_id: int) -> int:
    """Open a crawl record (status ``running``) and return its id."""
    with db.transaction() as cur:
        cur.execute("INSERT INTO crawls (site_id) VALUES (%s) RETURNING id", (site_id,))
        return cur.fetchone()["id"]
