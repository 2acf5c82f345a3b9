"""How ``scrapy report`` groups and writes findings."""

from __future__ import annotations

from flawless_spider.dismissals import dismiss
from flawless_spider.findings import count_problems, finding
from flawless_spider.progress import crawl_counts
from flawless_spider.report import crawl_findings, group_links, to_csv
from flawless_spider.sites import SiteRegistry
from tests.test_digest_support import add_site, crawl, word
from tests.test_digest_support import link as link_finding


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


def export_counts(records):
    """The summary's counts as the export's records give them (grouped, then counted)."""
    def present(kind, severity=None):
        return count_problems([r for r in records if r["type"] == kind and (
            severity is None or r["severity"] == severity)])["present"]

    total = count_problems(records)
    return {"broken": present("link", "error"), "questionable": present("link", "warning"),
            "spelling": present("spelling"), "grammar": present("grammar"),
            "new": total["new"], "fixed": total["fixed"], "open": total["present"]}


def test_the_crawl_summary_counts_what_the_export_lists(db):
    # The end-of-crawl summary reads the findings a batch at a time and keeps only problem keys;
    # its counts must be those of the export (records grouped by link target, then counted).
    def grammar(page, text):
        return finding("grammar", page, "warning", key=f"agreement:{text}", rule="agreement",
                       message="Use 'are' here.", text=text, context=f"They {text} home.")

    def moved(page, url):
        return finding("link", page, "warning", key=url, url=url, status=301, error=None,
                       element="a", text="moved", error_kind="permanent_redirect")

    site_id = add_site(db)
    pages = [f"https://example.com/p{n}" for n in range(6)]
    first = [link_finding(p, "https://example.com/gone#part") for p in pages[:4]]
    first += [link_finding(pages[0], "https://example.com/gone#other"),
              link_finding(pages[1], "https://example.com/old"),
              link_finding(pages[2], "https://example.com/doc#nowhere", status=200,
                           error="missing_fragment"),
              moved(pages[5], "https://example.com/moved")]
    first += [word(p, "recieve") for p in pages] + [word(pages[0], "Flawlesss")]
    first += [grammar(p, "is going") for p in pages[:3]]
    crawls = [crawl(db, site_id, first)]
    # The second crawl: /old fixed, the broken target new on two more pages and gone from one,
    # a new misspelling, one grammar slip fixed, and a word dismissed ("not a mistake").
    second = [f for f in first if f.get("url") != "https://example.com/old"
              and f["page_url"] != pages[3] and f.get("text") != "is going"]
    second += [link_finding(p, "https://example.com/gone") for p in pages[4:]]
    second += [word(pages[5], "accomodate"), grammar(pages[0], "is going")]
    with db.transaction() as cur:
        dismiss(cur, site_id, "spelling", {"word": "Flawlesss"})
    crawls.append(crawl(db, site_id, second))
    site = SiteRegistry(db).get("example.com")
    for crawl_id in crawls:
        expected = export_counts(crawl_findings(db, site, crawl_id))
        counts = crawl_counts(db, site, crawl_id)
        assert {name: counts[name] for name in expected} == expected, crawl_id
    # Not a trivial agreement: the second crawl has new, open and fixed problems of each kind.
    assert expected == {"broken": 2, "questionable": 1, "spelling": 2, "grammar": 1,
                        "new": 1, "fixed": 1, "open": 6}
