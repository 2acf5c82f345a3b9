"""External link checks bound only by politeness: a dead host costs one DNS lookup, a host that
refuses is given up, a busy host holds no global slot, and a per-host budget rotates through
the link cache without losing a finding (issue 8)."""

from __future__ import annotations

import socket
from pathlib import Path

from flawless_spider.db import Database
from tests.crawlkit import FAST_LINKS, make_site, report_records

COUNTING = ("-s", "TWISTED_DNS_RESOLVER=tests.countingresolver.CountingResolver")


def stats(db: Database) -> dict:
    return db.query("SELECT stats FROM crawls ORDER BY id DESC LIMIT 1")[0]["stats"]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.3", 0))
        return sock.getsockname()[1]  # nothing listens once it is closed: connections refused


def test_a_dead_host_costs_one_lookup_and_a_refusing_host_a_few_requests(
        scrapy, serve, db: Database, tmp_path: Path) -> None:
    refused = f"http://127.0.0.3:{closed_port()}"
    pages = 5
    for_page = [
        "".join(f'<a href="http://dead-host.invalid/p{n}/{i}">dead</a>'
                f' <a href="{refused}/p{n}/{i}">refused</a> ' for i in range(6))
        for n in range(pages)]
    root = make_site(tmp_path / "site", "<html><body>"
                     + "".join(f'<a href="/p{n}.html">p{n}</a>' for n in range(1, pages))
                     + for_page[0] + "</body></html>")
    for n in range(1, pages):
        (root / f"p{n}.html").write_text(f"<html><body>{for_page[n]}</body></html>")
    site = serve(root)
    lookups = tmp_path / "lookups.txt"
    scrapy("crawl", "site", "-a", f"url={site.url}", *FAST_LINKS, *COUNTING,
           TEST_DNS_LOG=str(lookups))
    found = stats(db)
    # 30 URLs on a name that does not resolve: one lookup, the others answered from it.
    assert lookups.read_text().split().count("dead-host.invalid") == 1
    # 30 URLs on a port nothing listens on: given up after 3 refusals (+1 already in flight).
    assert found["flawless/links/requests"] <= 1 + 3 + 1, found
    errors = {r["url"]: r["error"] for r in report_records(scrapy, site.url) if r["type"] == "link"}
    assert len(errors) == 60  # every link is reported, with its host's answer
    assert {e for u, e in errors.items() if "dead-host" in u} == {"dns"}
    assert {e for u, e in errors.items() if "127.0.0.3" in u} == {"refused"}


def test_a_busy_host_holds_no_global_slot(scrapy, serve, tmp_path: Path) -> None:
    busy = serve(make_site(tmp_path / "busy", "<p>busy</p>"), host="127.0.0.2")
    others = [serve(make_site(tmp_path / f"o{n}", "<p>ok</p>"), host=f"127.0.0.{n}")
              for n in range(3, 8)]
    # The busy host's links come first on the page, so they are the first to ask for slots.
    links = "".join(f'<a href="{busy.url}__slow/0.3?n={i}">{i}</a> ' for i in range(6))
    links += "".join(f'<a href="{other.url}">other</a> ' for other in others)
    site = serve(make_site(tmp_path / "site", f"<html><body>{links}</body></html>"))
    scrapy("crawl", "site", "-a", f"url={site.url}", *FAST_LINKS,
           "-s", "FLAWLESS_LINK_CONCURRENCY=2", "-s", "FLAWLESS_LINK_HOST_CONCURRENCY=1")
    busy_starts = sorted(e["t"] for e in busy.log())
    other_starts = [e["t"] for other in others for e in other.log()]
    assert len(busy_starts) == 6 and len(other_starts) == 5
    # One slot for the busy host, the other free for everyone else: the other hosts are all
    # checked before the busy host's third request (its queue does not sit on global slots).
    assert max(other_starts) < busy_starts[2]


def test_a_host_budget_rotates_through_the_cache_and_keeps_findings_open(
        scrapy, serve, db: Database, tmp_path: Path) -> None:
    folder = make_site(tmp_path / "ext", "<p>home</p>")
    for i in range(3):
        (folder / f"p{i}.html").write_text(f"<p>{i}</p>")
    ext = serve(folder, host="127.0.0.2")
    links = "".join(f'<a href="{ext.url}{name}">{name}</a> '
                    for name in ("gone.html", "p0.html", "p1.html", "p2.html"))
    site = serve(make_site(tmp_path / "site", f"<html><body>{links}</body></html>"))

    def crawl() -> tuple[set[str], dict[str, str]]:
        ext.reset()
        scrapy("crawl", "site", "-a", f"url={site.url}", *FAST_LINKS,
               "-s", "FLAWLESS_LINK_HOST_BUDGET=2")
        states = {r["url"].rsplit("/", 1)[1]: r["state"]
                  for r in report_records(scrapy, site.url) if r["type"] == "link"}
        return set(ext.paths()), states

    asked, findings = crawl()
    assert asked == {"/gone.html", "/p0.html"}  # the budget: two checks on this host
    assert findings == {"gone.html": "new"}  # p1, p2 unverified: no finding, no request
    assert stats(db)["flawless/links/host_budget_skipped"] == 2
    asked, findings = crawl()
    # p0 works (cached for days); p1 and p2 were never checked, so they go before gone.html,
    # which is beyond the budget now: unverified, and its finding stays open.
    assert asked == {"/p1.html", "/p2.html"}
    assert findings == {"gone.html": "open"}
    asked, findings = crawl()
    assert asked == {"/gone.html"}  # everything else is cached: the failure is checked again
    assert findings == {"gone.html": "open"}
