"""Crawl records: one row per crawl of a site, opened when the spider starts."""

from __future__ import annotations

from flawless_spider.db import Database


def start_crawl(db: Database, site_id: int, kind: str = "full") -> int:
    """Open a crawl record (status ``running``) and return its id.

    ``kind``: ``full`` (scheduled or ``-a site=``) or ``partial`` (``-a url=``: a page and what
    it leads to; never a digest, never counted by the schedule).
    """
    with db.transaction() as cur:
        cur.execute("INSERT INTO crawls (site_id, kind) VALUES (%s, %s) RETURNING id",
                    (site_id, kind))
        return cur.fetchone()["id"]
