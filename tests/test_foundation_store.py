"""The store stage against the real database: idempotent upserts, and one bad page loses only itself."""

from __future__ import annotations

import psycopg2
import pytest

from flawless_spider.crawls import start_crawl
from flawless_spider.findings import finding
from flawless_spider.items import Page
from flawless_spider.sites import SiteRegistry
from pipelines.store.pipeline import write_batch, write_one_by_one


@pytest.fixture
def crawl(db):
    site, _ = SiteRegistry(db).add("https://example.com/", "owner@example.com")
    return site.id, start_crawl(db, site.id)


def page(site_id, crawl_id, path, **kwargs):
    return Page(url=f"https://example.com{path}", final_url=f"https://example.com{path}",
                status=200, site_id=site_id, crawl_id=crawl_id, **kwargs)


def test_writes_are_idempotent(db, crawl):
    site_id, crawl_id = crawl
    item = page(site_id, crawl_id, "/", title="Home\x00", findings=[
        finding("spelling", "https://example.com/", "error", "recieve", word="recieve")])
    write_batch(db, [item], [])
    write_batch(db, [item], [])
    assert db.query("SELECT url, title FROM pages") == [{"url": "https://example.com/", "title": "Home"}]
    assert len(db.query("SELECT id FROM findings")) == 1
    assert len(db.query("SELECT * FROM crawl_findings")) == 1


def test_one_page_the_database_refuses_does_not_lose_the_batch(db, crawl):
    site_id, crawl_id = crawl
    good = [page(site_id, crawl_id, f"/{n}") for n in range(3)]
    bad = page(site_id, crawl_id, "/deep", depth=2**40)  # out of range for the integer column
    with pytest.raises(psycopg2.DataError):
        write_batch(db, [*good, bad], [])
    assert db.query("SELECT count(*) AS n FROM pages") == [{"n": 0}]
    assert write_one_by_one(db, [*good, bad], []) == (3, 1)
    assert db.query("SELECT count(*) AS n FROM pages") == [{"n": 3}]
