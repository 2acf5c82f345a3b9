"""Header values go to PostgreSQL text columns, which refuse NUL: a page with one is stored."""

from __future__ import annotations

import json

from tests.crawlkit import make_site


def test_a_nul_in_a_header_does_not_lose_the_batch(serve, scrapy, db, tmp_path):
    site = make_site(tmp_path / "site", (
        '<html><title>Home</title><p>Hello.</p><a href="odd.dat">odd</a>'
        '<a href="about.html">about</a></html>'))
    (site / "about.html").write_text("<html><title>About</title><p>About us.</p></html>")
    (site / "odd.dat").write_bytes(b"odd")
    # Sent after the server's own Content-Type: the last one wins.
    (site / "_headers.json").write_text(json.dumps({"/odd.dat": {"Content-Type": "text/x\0evil"}}))
    srv = serve(site)
    scrapy("crawl", "site", "-a", f"url={srv.url}", "-s", "FLAWLESS_FOLLOW_SITEMAPS=false",
           "-s", "FLAWLESS_LANGUAGE_ENABLED=false")
    pages = {r["url"].removeprefix(srv.url): r for r in db.query("SELECT * FROM pages")}
    assert set(pages) == {"", "about.html", "odd.dat"}
    assert pages["odd.dat"]["content_type"] == "text/xevil"
    [crawl] = db.query("SELECT * FROM crawls")
    assert crawl["status"] == "complete", crawl["reason"]
