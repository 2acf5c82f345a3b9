"""A page with a link no two URL parsers agree on is still stored, and the crawl goes on."""

from __future__ import annotations

from tests.crawlkit import FAST_LINKS, make_site, report_records


def test_a_link_no_url_parser_agrees_on_does_not_lose_the_page(serve, scrapy, db, tmp_path):
    site = make_site(tmp_path / "site", "")
    (site / "about.html").write_text("<html><title>About</title><p>About us.</p></html>")
    srv = serve(site)
    host = srv.url.split("/")[2]
    # urllib reads the host after "@"; w3lib, like a browser, reads "\\" as "/" and fails.
    (site / "index.html").write_text(
        "<html><head><title>Home</title></head><body><p>Hello.</p>"
        '<a href="http://:x\\@example.com/">odd</a>'
        f'<a href="http://:y\\@{host}/">odd and same-site</a>'
        '<a href="about.html">About</a></body></html>'
    )
    result = scrapy("crawl", "site", "-a", f"url={srv.url}", *FAST_LINKS)
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    pages = {r["url"] for r in db.query("SELECT url FROM pages")}
    assert pages == {srv.url, srv.url + "about.html"}
    [crawl] = db.query("SELECT * FROM crawls")
    assert crawl["status"] == "complete", crawl["reason"]
    invalid = [r for r in report_records(scrapy, srv.url) if r.get("error") == "invalid_url"]
    assert len(invalid) == 2, invalid
