"""Operator experience of the commands: help as written, mistakes as one line, honest exit codes."""

from __future__ import annotations


def test_help_keeps_the_examples_on_their_own_lines(scrapy):
    sites = scrapy("sites", "--help").stdout
    assert "\n  scrapy sites list\n" in sites
    assert "\n  scrapy sites words list example.com\n" in sites
    crawl = scrapy("crawl", "--help").stdout
    assert "\n  scrapy crawl site -a site=example.com " in crawl
    assert "Crawl a site" in scrapy("-h").stdout


def test_crawl_mistakes_are_one_line_before_any_start_up_log(scrapy):
    for args, message in [
        (("crawl", "nosuchspider"), "no spider named 'nosuchspider'"),
        (("crawl", "site"), "give exactly one of -a url=URL or -a site=ID_OR_DOMAIN"),
        (("crawl", "site", "-a", "site=nowhere.example"), "no such site: 'nowhere.example'"),
    ]:
        result = scrapy(*args, check=False)
        assert result.returncode == 2, result
        assert message in result.stderr
        assert "Traceback" not in result.stderr
        assert "Scrapy 2." not in result.stderr and "Versions" not in result.stderr
    bare = scrapy("crawl", check=False)
    assert bare.returncode == 2 and "scrapy crawl site -a url=" in bare.stdout
    assert "Versions" not in bare.stderr


def test_a_blocked_start_page_says_which_setting_allows_it(serve, scrapy, db):
    srv = serve("basic")
    result = scrapy("crawl", "site", "-a", f"url={srv.url}", "-s", "LOG_LEVEL=WARNING",
                    check=False, FLAWLESS_ALLOW_PRIVATE_NETWORKS="false")
    assert result.returncode == 1
    [crawl] = db.query("SELECT status, reason FROM crawls")
    assert crawl["status"] == "failed"
    assert "FLAWLESS_ALLOW_PRIVATE_NETWORKS=true" in crawl["reason"]
    assert "FLAWLESS_ALLOW_PRIVATE_NETWORKS=true" in result.stderr
    ok = scrapy("crawl", "site", "-a", f"url={srv.url}", "-s", "LOG_LEVEL=WARNING")
    assert ok.returncode == 0


def test_report_says_when_the_latest_crawl_is_not_the_one_shown(serve, scrapy):
    never = scrapy("report", "127.0.0.1:9", check=False)
    assert never.returncode == 1 and "no such site" in never.stderr
    scrapy("crawl", "site", "-a", "url=http://127.0.0.1:9/", "-s", "LOG_LEVEL=WARNING", check=False)
    failed = scrapy("report", "127.0.0.1:9", check=False)
    assert failed.returncode == 1
    assert "no completed crawl yet: crawl 1 failed (the start page could not be fetched" in \
        failed.stderr
    srv = serve("basic")
    scrapy("crawl", "site", "-a", f"url={srv.url}", "-s", "LOG_LEVEL=WARNING")
    scrapy("crawl", "site", "-a", f"url={srv.url}", "-s", "LOG_LEVEL=WARNING", check=False,
           FLAWLESS_ALLOW_PRIVATE_NETWORKS="false")
    result = scrapy("report", srv.url, "--format", "jsonl")
    assert "note: the latest crawl, 3, is failed" in result.stderr
    assert "this is crawl 2, the latest complete one" in result.stderr
    assert all(line.startswith("{") for line in result.stdout.splitlines())


def test_cron_dry_run_says_when_nothing_is_due(scrapy, scrapy_env):
    import subprocess
    import sys

    from tests.conftest import PROJECT

    def dry_run() -> str:
        result = subprocess.run([sys.executable, "-m", "flawless_spider.cron", "--dry-run"],
                                cwd=PROJECT, env=scrapy_env, capture_output=True, text=True,
                                timeout=60)
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert dry_run().startswith("no site is due")
    scrapy("sites", "add", "example.com", "--email", "a@example.com")
    header, row = dry_run().splitlines()[:2]
    assert header.split() == ["ID", "SITE", "EVERY", "LAST", "FULL", "CRAWL", "DUE", "SINCE"]
    assert row.split() == ["1", "example.com", "daily", "never", "now"]
