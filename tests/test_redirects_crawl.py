"""Redirected pages keep their findings on their final URL; meta refresh is a link, not a redirect.

Real crawls of one-off sites served by ``tests/sitesrv.py`` (``/__status/301?to=X`` answers a
301 to ``X``), read back with ``scrapy report --format jsonl`` like an operator would.
"""

from __future__ import annotations

import pytest

from flawless_spider.extract import refresh_target
from tests.crawlkit import FAST_LINKS, make_site, report_records

# Link checks and the language stage (FAST_LINKS switches the language stage off).
CHECK_ALL = (*FAST_LINKS, "-s", "FLAWLESS_LANGUAGE_ENABLED=true")
OLD = "__status/301?to=/docs/page-3.html"


def _by_type(records: list[dict]) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for record in records:
        found.setdefault(record["type"], []).append(record)
    return found


def test_findings_of_a_redirected_page_live_on_its_final_url(serve, scrapy, db, tmp_path):
    # The home page reaches page 3 only through the old URL; page 3 leads to a page that links
    # page 3 by its real URL (so that link is met after page 3 was fetched through the redirect).
    site = make_site(tmp_path / "site", (
        "<html><head><title>Home</title></head><body><p>Welcome home.</p>"
        f'<a href="/{OLD}">Page three</a></body></html>'
    ))
    (site / "docs").mkdir()
    (site / "docs" / "page-3.html").write_text(
        "<html><head><title>Page three</title></head><body>"
        "<p>We recieve many letters every week.</p>"
        "<p>This is the the best page of the site.</p>"
        '<img src="/missing-diagram.png" alt="Diagram">'
        '<a href="/other.html">Other</a></body></html>'
    )
    (site / "other.html").write_text(
        "<html><head><title>Other</title></head><body><p>Another page.</p>"
        '<a href="/docs/page-3.html">Page three again</a></body></html>'
    )
    srv = serve(site)
    scrapy("crawl", "site", "-a", f"url={srv.url}", *CHECK_ALL)
    final = srv.url + "docs/page-3.html"

    records = report_records(scrapy, srv.url)
    assert not [r for r in records if "__status" in r["page_url"]], records
    kinds = _by_type(records)
    [image] = [r for r in kinds.get("link", []) if r["url"].endswith("/missing-diagram.png")]
    assert (image["page_url"], image["status"]) == (final, 404)
    [word] = kinds.get("spelling", [])
    assert (word["word"], word["page_url"]) == ("recieve", final)
    [slip] = kinds.get("grammar", [])
    assert slip["page_url"] == final and "the the" in slip["text"].lower()

    # Only the old URL is a redirect; the page's own URL is an ordinary link.
    assert not [r for r in kinds["link"] if r["url"] == final], kinds["link"]
    [moved] = [r for r in kinds["link"] if r["url"].endswith(OLD)]
    assert (moved["severity"], moved["error"], moved["status"], moved["page_url"]) == (
        "warning", "permanent_redirect", 301, srv.url)
    assert moved["final_url"] == final

    # The page is stored (once) under its final URL, and fetched once.
    pages = {row["url"]: row for row in db.query("SELECT url, final_url, status FROM pages")}
    assert set(pages) == {srv.url, final, srv.url + "other.html"}, set(pages)
    assert pages[final]["status"] == 200
    assert srv.paths().count("/docs/page-3.html") == 1


def test_meta_refresh_off_site_on_the_start_page_is_a_warning_not_a_redirect(
        serve, scrapy, db, tmp_path):
    other = serve(make_site(tmp_path / "other", "<html><body><p>Elsewhere.</p></body></html>"),
                  host="127.0.0.2")
    site = make_site(tmp_path / "site", (
        "<html><head><title>Moving</title>"
        f"<meta http-equiv=\"Refresh\" content=\"5; URL='{other.url}'\">"
        "</head><body><p>We recieve visitors here for five more seconds.</p>"
        '<a href="/missing.html">Old notes</a></body></html>'
    ))
    srv = serve(site)
    scrapy("crawl", "site", "-a", f"url={srv.url}", *CHECK_ALL)

    [crawl] = db.query("SELECT status, reason FROM crawls")
    assert crawl["status"] == "complete", crawl["reason"]
    kinds = _by_type(report_records(scrapy, srv.url))
    links = {r["url"]: r for r in kinds.get("link", [])}
    assert (links[srv.url + "missing.html"]["severity"],
            links[srv.url + "missing.html"]["status"]) == ("error", 404)
    refresh = links[other.url]
    assert (refresh["severity"], refresh["error"], refresh["element"], refresh["page_url"]) == (
        "warning", "refresh_offsite", "meta", srv.url)
    assert [(r["word"], r["page_url"]) for r in kinds.get("spelling", [])] == [
        ("recieve", srv.url)]
    assert other.paths() == ["/"]  # checked as a link (HEAD), never crawled as a page
    text = scrapy("report", srv.url.split("/")[2]).stdout
    assert "refreshes to another site" in text, text


def test_same_site_meta_refresh_is_crawled_and_a_broken_one_is_a_broken_link(
        serve, scrapy, db, tmp_path):
    site = make_site(tmp_path / "site", (
        '<html><head><title>Home</title><meta http-equiv="refresh" content="0;url=next.html">'
        "</head><body><p>Redirecting you.</p></body></html>"
    ))
    (site / "next.html").write_text(
        "<html><head><title>Next</title>"
        '<META HTTP-EQUIV="refresh" CONTENT=" 3 ; url = gone.html ">'
        "</head><body><p>We recieve you on the next page.</p></body></html>"
    )
    srv = serve(site)
    scrapy("crawl", "site", "-a", f"url={srv.url}", *CHECK_ALL)

    pages = {row["url"]: row["status"] for row in db.query("SELECT url, status FROM pages")}
    assert pages == {srv.url: 200, srv.url + "next.html": 200, srv.url + "gone.html": 404}
    kinds = _by_type(report_records(scrapy, srv.url))
    assert [(r["word"], r["page_url"]) for r in kinds.get("spelling", [])] == [
        ("recieve", srv.url + "next.html")]
    [broken] = kinds.get("link", [])
    assert (broken["url"], broken["status"], broken["severity"], broken["element"],
            broken["page_url"]) == (srv.url + "gone.html", 404, "error", "meta", srv.url + "next.html")


@pytest.mark.parametrize(("content", "target"), [
    ("5; url=/next", "/next"),
    ("0;URL=/next", "/next"),
    ("  3 ,  Url = '/next page'  ", "/next page"),
    ('1; url="/next"; x', "/next"),
    ("2.5; url='/next", "/next"),
    ("0; /next", "/next"),
    ("0 /next", "/next"),
    ("5", ""),
    ("5;", ""),
    ("", ""),
    ("soon; url=/next", ""),
])
def test_refresh_content_is_read_like_a_browser(content: str, target: str) -> None:
    assert refresh_target(content) == target
