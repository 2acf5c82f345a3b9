"""`scrapy verify URL`: a one-off check for CI that keeps nothing and exits by what it found."""

from __future__ import annotations

import json

from tests.crawlkit import FAST_LINKS, make_site


def test_verify_prints_findings_exits_1_and_keeps_nothing(serve, scrapy, tmp_path, db):
    site = make_site(tmp_path / "s", '<p>Hello.</p><a href="/a.html">a</a><a href="/gone">x</a>')
    (site / "a.html").write_text("<p>A.</p>")
    srv = serve(site)
    result = scrapy("verify", srv.url, "--format", "jsonl", *FAST_LINKS, check=False)
    assert result.returncode == 1, result.stderr
    [gone] = [json.loads(line) for line in result.stdout.splitlines()]
    assert (gone["type"], gone["url"], gone["severity"], gone["state"]) == (
        "link", srv.url + "gone", "error", "new")
    assert gone["pages"] == [srv.url]
    for table in ("sites", "crawls", "pages", "findings", "outbox"):
        assert db.query(f"SELECT count(*) AS n FROM {table}") == [{"n": 0}], table
    assert "No sites yet" in scrapy("sites", "list").stdout
    text = scrapy("verify", srv.url, *FAST_LINKS, check=False)
    assert text.returncode == 1 and "Flawless report for" in text.stdout
    assert "[new] error: " + srv.url + "gone" in text.stdout


def test_verify_leaves_a_registered_site_alone_and_fails_on_warnings_if_asked(serve, scrapy,
                                                                             tmp_path, db):
    site = make_site(tmp_path / "s", '<p>Hi.</p><a href="/__status/301?to=/a.html">moved</a>')
    (site / "a.html").write_text("<p>A.</p>")
    srv = serve(site)
    host = srv.url.split("/")[2]
    scrapy("sites", "add", srv.url, "--email", "owner@example.com")
    scrapy("crawl", "site", "-a", f"site={host}", *FAST_LINKS)
    before = db.query("SELECT id, first_crawl_id, last_crawl_id, fixed_at FROM findings")
    assert before
    ok = scrapy("verify", srv.url, "--format", "jsonl", *FAST_LINKS)
    [moved] = [json.loads(line) for line in ok.stdout.splitlines()]
    assert moved["severity"] == "warning" and moved["state"] == "new"
    strict = scrapy("verify", srv.url, "--fail-on", "warning", *FAST_LINKS, check=False)
    assert strict.returncode == 1
    assert db.query("SELECT id, first_crawl_id, last_crawl_id, fixed_at FROM findings") == before
    assert [r["domain"] for r in db.query("SELECT domain FROM sites")] == [host]
    assert len(db.query("SELECT id FROM crawls")) == 1
    assert db.query("SELECT count(*) AS n FROM outbox") == [{"n": 1}]  # the owner's one digest


def test_verify_usage_mistakes_exit_2_and_unreachable_sites_exit_1(scrapy, db):
    for args in ((), ("not a url",), ("example.com",), ("http://127.0.0.1:9/", "--fail-on", "x"),
                 ("http://127.0.0.1:9/", "--formt", "csv")):
        result = scrapy("verify", *args, check=False)
        assert result.returncode == 2, (args, result)
        assert "Traceback" not in result.stderr
    down = scrapy("verify", "http://127.0.0.1:9/", *FAST_LINKS, check=False)
    assert down.returncode == 1
    assert down.stderr.strip().splitlines()[-1].startswith(
        "error: could not check http://127.0.0.1:9/: the start page could not be fetched")
    assert db.query("SELECT count(*) AS n FROM sites") == [{"n": 0}]
