"""``scrapy report`` output is read in terminals and spreadsheets: page text must not drive them."""

from __future__ import annotations

import csv
import io

from flawless_spider.report import to_csv


def test_the_text_report_prints_no_terminal_control_sequences(serve, scrapy, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_bytes(
        b"<html><title>Home</title><body><p>Hello.</p>"
        b'<a href="/gone\x1b[2J.html">\x1b]0;owned\x07click \x1b[31mhere\x9b0m</a>'
        b"</body></html>"
    )
    srv = serve(site)
    scrapy("crawl", "site", "-a", f"url={srv.url}", "-s", "FLAWLESS_FOLLOW_SITEMAPS=false",
           "-s", "FLAWLESS_LANGUAGE_ENABLED=false")
    text = scrapy("report", srv.url.split("/")[2]).stdout
    assert "gone" in text, text
    assert not any((ord(c) < 32 and c != "\n") or 0x7F <= ord(c) < 0xA0 for c in text), repr(text)


def test_csv_cells_never_start_a_formula():
    records = [{"type": "grammar", "page_url": "https://example.com/", "severity": "error",
                "state": "new", "text": "\t=1+1", "message": "\r=2+2",
                "suggestions": ['=HYPERLINK("https://evil.example/","x")', "b"],
                "context": "-3+3", "rule": "@SUM(A1)", "word": "ok\r=1+1\r\n@2"}]
    # One row, whichever line ends the reader honours (a lone CR must not start a row).
    [row] = list(csv.DictReader(io.StringIO(to_csv(records), newline="")))
    assert row["word"] == "ok\n=1+1\n@2"
    for name in ("text", "message", "suggestions", "context", "rule"):
        assert row[name].startswith("'"), (name, row[name])
    assert row["page_url"] == "https://example.com/"
