"""The ``site`` spider end to end: real HTTP server, real PostgreSQL, the real ``scrapy`` command."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
from collections import Counter

import pytest

from tests.conftest import PROJECT, PYTHON, SITES


def crawl_rows(db, site_id=None):
    return db.query("SELECT * FROM crawls ORDER BY id")


def test_crawls_every_page_once_and_obeys_robots(serve, scrapy, db):
    srv = serve("basic")
    result = scrapy("crawl", "site", "-a", f"url={srv.url}")
    paths = srv.paths()
    counts = Counter(paths)
    assert [p for p, n in counts.items() if n > 1] == [], f"fetched twice: {counts}"
    # every page, the sitemap-only page included; robots.txt read once; nothing private
    for path in ("/robots.txt", "/", "/about.html", "/docs/", "/docs/guide.html",
                 "/docs/orphan.html", "/missing.html", "/sitemap.xml"):
        assert path in counts, f"{path} not fetched: {paths}"
    assert not any(p.startswith("/private/") for p in paths)
    # the crawler says who it is and where to learn more
    assert all(entry["ua"].startswith("Flawless/") and "+http" in entry["ua"] for entry in srv.log())
    pages = {r["url"].removeprefix(srv.url.rstrip("/")): r for r in db.query(
        "SELECT * FROM pages WHERE content_type <> 'text/css'")}  # stylesheets: link stage
    assert set(pages) == {"/", "/about.html", "/docs/", "/docs/guide.html", "/docs/orphan.html",
                          "/missing.html"}
    assert pages["/missing.html"]["status"] == 404
    assert pages["/"]["title"] == "Basic site"
    assert pages["/about.html"]["anchors"] == ["team"]
    [crawl] = crawl_rows(db)
    assert crawl["status"] == "complete" and crawl["reason"] is None
    # pages: the site's HTML pages fetched (not /missing.html, a broken link's target)
    assert crawl["pages"] == 5 and crawl["finished_at"] is not None
    assert crawl["stats"]["finish_reason"] == "finished"
    assert "Crawl 1 of 127.0.0.1" in result.stderr


def test_report_formats_after_a_crawl(serve, scrapy):
    srv = serve("basic")
    scrapy("crawl", "site", "-a", f"url={srv.url}")
    domain = srv.url.split("/")[2]
    text = scrapy("report", domain).stdout
    assert f"Flawless report for {srv.url}" in text
    assert "complete, 5 pages" in text
    lines = [json.loads(line) for line in scrapy("report", domain, "--format", "jsonl").stdout
             .splitlines()]
    broken = [r for r in lines if r["type"] == "link" and r["url"].endswith("/missing.html")]
    assert len(broken) == 1, lines
    [missing] = broken
    assert missing["status"] == 404 and missing["severity"] == "error"
    assert missing["state"] == "new" and missing["element"] == "a"
    assert missing["text"] == "old page" and missing["page_url"] == srv.url
    for record in lines:
        assert {"type", "page_url", "severity", "state"} <= set(record)
    csv_out = scrapy("report", domain, "--format", "csv").stdout.splitlines()
    assert csv_out[0].startswith("type,page_url,severity,state,url,status,error,element,text")
    assert any("/missing.html" in row for row in csv_out[1:])


def test_page_budget_makes_the_crawl_incomplete(serve, scrapy, db):
    srv = serve("basic")
    scrapy("crawl", "site", "-a", f"url={srv.url}", "-s", "FLAWLESS_MAX_PAGES=2")
    [crawl] = crawl_rows(db)
    assert crawl["status"] == "incomplete"
    assert crawl["reason"].startswith("the page budget of 2 pages was reached (")
    assert crawl["left_out"]["budget"] >= 1
    assert crawl["pages"] == 2


def test_settings_come_from_the_environment_and_s_wins(serve, scrapy, db):
    srv = serve("basic")
    scrapy("crawl", "site", "-a", f"url={srv.url}", FLAWLESS_MAX_PAGES="1",
           FLAWLESS_CONTACT_URL="https://ops.example/crawler")
    assert {e["ua"] for e in srv.log()} == {
        "Flawless/0.1.0 (+https://ops.example/crawler; link and spelling checker)"}
    scrapy("crawl", "site", "-a", f"url={srv.url}", "-s", "FLAWLESS_MAX_PAGES=3",
           FLAWLESS_MAX_PAGES="1")
    assert [c["pages"] for c in crawl_rows(db)] == [1, 3]


def test_crawl_delay_from_robots_txt_is_obeyed(serve, scrapy, tmp_path):
    site = tmp_path / "slow"
    shutil.copytree(SITES / "basic", site)
    (site / "robots.txt").write_text("User-agent: *\nCrawl-delay: 1\nDisallow: /private/\n")
    srv = serve(site)
    scrapy("crawl", "site", "-a", f"url={srv.url}", "-s", "FLAWLESS_FOLLOW_SITEMAPS=false")
    times = [entry["t"] for entry in srv.log() if entry["path"] != "/robots.txt"]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(times) >= 5
    # One request at a time, at least a second apart, link checks of the host's resources included.
    assert min(gaps) >= 0.95, gaps


def test_the_address_guard_blocks_private_networks_by_default(serve, scrapy, db):
    srv = serve("basic")
    result = scrapy("crawl", "site", "-a", f"url={srv.url}", check=False,
                    FLAWLESS_ALLOW_PRIVATE_NETWORKS="false")
    assert result.returncode == 1  # a failed crawl is a failed command (cron counts it)
    assert srv.paths() == []
    [crawl] = crawl_rows(db)
    assert crawl["status"] == "failed"
    assert "blocked" in crawl["reason"]


def test_an_unreachable_site_is_a_failed_crawl(scrapy, db):
    result = scrapy("crawl", "site", "-a", "url=http://127.0.0.1:9/", check=False)
    assert result.returncode == 1
    [crawl] = crawl_rows(db)
    assert crawl["status"] == "failed"
    assert crawl["reason"] == "the start page could not be fetched (connection refused)"
    assert "Traceback" not in result.stderr


def test_bad_crawl_arguments_are_clear_errors(scrapy):
    for args, message in [
        ((), "give exactly one of -a url=URL or -a site=ID_OR_DOMAIN"),
        (("-a", "site=nowhere.example"), "no such site: 'nowhere.example'"),
        (("-a", "url=ftp://example.com/"), "only http:// and https:// sites can be crawled"),
        (("-a", "url=http://example.com:99999/"), "not a valid URL"),
    ]:
        result = scrapy("crawl", "site", *args, check=False)
        assert result.returncode == 2, result
        assert message in result.stderr
        assert "Traceback" not in result.stderr


def test_www_and_bare_domain_are_one_site():
    from flawless_spider.sites import Site, normalize_root, site_domain

    assert site_domain("https://www.Example.com/a") == site_domain("http://example.com") == "example.com"
    assert site_domain("http://127.0.0.1:8080/x") == "127.0.0.1:8080"
    assert normalize_root("example.com") == "https://example.com/"
    site = Site(1, "https://example.com/", "example.com")
    assert site.is_same_site("HTTPS://WWW.example.com/a") and site.is_same_site("http://example.com")
    assert not site.is_same_site("mailto:webmaster@example.com")
    assert not site.is_same_site("https://example.com:8443/")
    assert not site.is_same_site("https://evil.test/?next=//example.com/")


def test_local_state_is_written_where_git_ignores_it():
    """By default the embedded database and the outbox (owners' e-mail) live in the checkout:
    ``git add -A`` must not pick them up, wherever the code puts them."""
    if subprocess.run(["git", "rev-parse", "--is-inside-work-tree"], cwd=PROJECT,
                      capture_output=True).returncode != 0:
        pytest.skip("not a git checkout")
    env = {k: v for k, v in os.environ.items()
           if k not in ("FLAWLESS_STATE_DIR", "FLAWLESS_OUTBOX_DIR", "DATABASE_URL")}
    where = subprocess.run(
        [PYTHON, "-c", "from scrapy.utils.project import get_project_settings\n"
         "from flawless_spider.db import state_dir\n"
         "from pipelines.digest.send import outbox_folder\n"
         "settings = get_project_settings()\n"
         "print(state_dir(settings) / 'postgres' / 'PG_VERSION')\n"
         "print(outbox_folder(settings) / '1-example.com.eml')"],
        cwd=PROJECT, env=env, capture_output=True, text=True, check=True,
    ).stdout.split()
    assert len(where) == 2 and all(path.startswith(str(PROJECT) + os.sep) for path in where)
    for path in where:
        ignored = subprocess.run(["git", "check-ignore", "--no-index", "-q", path], cwd=PROJECT)
        assert ignored.returncode == 0, f"{path} would be committed"


def test_crawler_traps_are_not_followed_forever(serve, scrapy, tmp_path, db):
    site = tmp_path / "trap"
    site.mkdir()
    (site / "index.html").write_text('<html><body><a href="/__trap/">calendar</a></body></html>')
    srv = serve(site)
    scrapy("crawl", "site", "-a", f"url={srv.url}", "-s", "FLAWLESS_FOLLOW_SITEMAPS=false")
    trap = [p for p in srv.paths() if p.startswith("/__trap/")]
    assert trap[:4] == ["/__trap/", "/__trap/x/", "/__trap/x/x/", "/__trap/x/x/x/"]
    # The link stage checks the first skipped URL as a link target once, and nothing deeper.
    assert trap[4:] in ([], ["/__trap/x/x/x/x/"])
    [crawl] = db.query("SELECT status, reason FROM crawls")
    assert crawl["status"] == "incomplete"  # the site was not all seen: say so
    assert crawl["reason"] == ("1 URL that looked like a crawler trap not fetched: repeated path"
                               " segments (/__trap/x/x/...) (1 URL)")


def test_an_unreachable_database_is_one_clear_line(scrapy):
    for args in (("crawl", "site", "-a", "url=http://127.0.0.1:9/"), ("sites", "list"),
                 ("report", "example.com")):
        result = scrapy(*args, check=False, DATABASE_URL="postgresql://nobody@127.0.0.1:9/none")
        assert result.returncode in (1, 2), result
        assert "cannot connect to the database" in result.stderr
        assert "Traceback" not in result.stderr
