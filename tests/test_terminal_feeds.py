"""Scrapy's own feed exports write findings, in the schema of `scrapy report --format jsonl`."""

from __future__ import annotations

import csv
import json

from tests.crawlkit import FAST_LINKS, make_site


def test_feed_exports_write_the_findings_of_the_report(serve, scrapy, tmp_path):
    site = make_site(tmp_path / "s", '<p>Hello.</p><a href="/a.html">a</a><a href="/gone">x</a>')
    (site / "a.html").write_text('<p>A.</p><a href="/gone">again</a>')
    srv = serve(site)
    out, listing = tmp_path / "findings.jsonl", tmp_path / "findings.csv"
    (tmp_path / "findings.jsonl").write_text("old content\n")
    scrapy("crawl", "site", "-a", f"url={srv.url}", *FAST_LINKS, "-O", str(out))
    exported = [json.loads(line) for line in out.read_text().splitlines()]
    report = scrapy("report", srv.url.split("/")[2], "--format", "jsonl").stdout
    scrapy("crawl", "site", "-a", f"url={srv.url}", *FAST_LINKS, "-o", str(listing))
    assert exported == [json.loads(line) for line in report.splitlines()]
    [gone] = exported
    assert gone["type"] == "link" and gone["url"] == srv.url + "gone" and gone["state"] == "new"
    assert "old content" not in out.read_text()  # -O overwrites, as Scrapy's does
    assert gone["pages"] == [srv.url, srv.url + "a.html"]
    assert "html" not in gone
    rows = list(csv.DictReader(listing.read_text().splitlines()))
    assert [(r["url"], r["state"]) for r in rows] == [(srv.url + "gone", "open")]  # 2nd crawl
    assert "word" in rows[0]  # every type's columns
