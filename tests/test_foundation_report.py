"""How ``scrapy report`` groups and writes findings."""

from __future__ import annotations

from flawless_spider.report import group_links, to_csv


def link(page, url, status=404, error=None, state="new", **extra):
    return {"type": "link", "page_url": page, "severity": "error", "state": state, "url": url,
            "status": status, "error": error, **extra}


def test_a_broken_target_is_listed_once_whatever_fragment_each_page_adds():
    records = group_links([
        link("https://s/a", "https://s/gone.html#intro"),
        link("https://s/b", "https://s/gone.html#usage", state="open"),
        link("https://s/c", "https://s/gone.html"),
        link("https://s/a", "https://s/ok.html#nope", status=200, error="missing_fragment"),
        link("https://s/b", "https://s/ok.html#other", status=200, error="missing_fragment"),
        link("https://s/d", "https://s/old.html", state="fixed"),
    ])
    gone = [r for r in records if r["url"] == "https://s/gone.html"]
    assert len(gone) == 1
    assert gone[0]["pages"] == ["https://s/a", "https://s/b", "https://s/c"]
    assert gone[0]["page_url"] == "https://s/a" and gone[0]["state"] == "open"
    anchors = sorted(r["url"] for r in records if r["error"] == "missing_fragment")
    assert anchors == ["https://s/ok.html#nope", "https://s/ok.html#other"]
    assert [r["state"] for r in records if r["url"] == "https://s/old.html"] == ["fixed"]


def test_csv_cells_cannot_become_spreadsheet_formulas():
    rows = to_csv([{"type": "spelling", "page_url": "https://s/", "severity": "error",
                    "state": "new", "word": "=HYPERLINK(\"http://evil\")", "suggestions": ["a", "b"]}])
    assert "'=HYPERLINK" in rows and "a | b" in rows


def test_text_report_says_what_is_wrong_in_words(serve, scrapy):
    srv = serve("basic")
    scrapy("crawl", "site", "-a", f"url={srv.url}")
    text = scrapy("report", srv.url.split("/")[2]).stdout
    assert f"[new] error: {srv.url}missing.html (404 Not Found)" in text
    assert f"    on {srv.url}\n" in text + "\n"
