"""Per-site URL patterns: excluded URLs are neither crawled nor checked; include limits pages."""

from __future__ import annotations

from tests.crawlkit import FAST_LINKS, make_site, report_records


def test_exclude_and_include_are_honoured_by_the_crawl_and_the_link_checks(serve, scrapy,
                                                                          tmp_path, db):
    site = make_site(tmp_path / "s", '<a href="/calendar/2024.html">cal</a>'
                     '<a href="/gone.html">gone</a><a href="/docs/a.html">docs</a>'
                     '<a href="/blog/b.html">blog</a><a href="/docs/missing.html">m</a>')
    (site / "calendar").mkdir()
    (site / "calendar" / "2024.html").write_text("<p>2024</p>")
    (site / "docs").mkdir()
    (site / "docs" / "a.html").write_text('<p>Docs</p><a href="/blog/c.html">c</a>')
    (site / "blog").mkdir()
    for name in ("b", "c"):
        (site / "blog" / f"{name}.html").write_text('<p>Blog</p><a href="/blog/d.html">d</a>')
    srv = serve(site)
    host = srv.url.split("/")[2]
    scrapy("sites", "add", srv.url, "--email", "owner@example.com")
    scrapy("sites", "set", host, "--exclude", "/calendar/", "--exclude", r"gone\.html$",
           "--include", "/docs/")
    scrapy("crawl", "site", "-a", f"site={host}", *FAST_LINKS)
    fetched = set(srv.paths())
    assert not {"/calendar/2024.html", "/gone.html"} & fetched  # not even checked as links
    pages = {r["url"].removeprefix(srv.url) for r in db.query("SELECT url FROM pages")}
    assert pages == {"", "docs/a.html", "docs/missing.html"}  # only /docs/ pages are crawled
    assert "/blog/b.html" in fetched and "/blog/d.html" not in fetched  # checked, not crawled
    broken = {r["url"].removeprefix(srv.url) for r in report_records(scrapy, srv.url)}
    assert broken == {"docs/missing.html"}
    [crawl] = db.query("SELECT status FROM crawls")
    assert crawl["status"] == "complete"  # the owner's choice is no limit
