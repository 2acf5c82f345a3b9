"""Site URLs with IP hosts (IPv6 literals, numeric IPv4 spellings) and what `sites add` refuses."""

from __future__ import annotations

import json
import socket

import pytest

from flawless_spider.sites import Site, SiteError, normalize_root, site_domain
from tests.crawlkit import FAST_LINKS


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.parametrize(("given", "root", "domain"), [
    ("http://[::1]:8080/", "http://[::1]:8080/", "[::1]:8080"),
    ("[::1]:8080", "https://[::1]:8080/", "[::1]:8080"),
    ("http://[0:0:0::1]/docs/", "http://[::1]/docs/", "[::1]"),
    ("http://[2001:DB8::1]/", "http://[2001:db8::1]/", "[2001:db8::1]"),
    # Numbers a browser reads as IPv4 addresses are stored and shown as one.
    ("http://2130706433:8080/", "http://127.0.0.1:8080/", "127.0.0.1:8080"),
    ("http://0x7f000001/", "http://127.0.0.1/", "127.0.0.1"),
    ("http://0177.0.0.1/", "http://127.0.0.1/", "127.0.0.1"),
    ("http://127.1/", "http://127.0.0.1/", "127.0.0.1"),
    ("https://www.Example.com/", "https://www.example.com/", "example.com"),
])  # fmt: skip
def test_ip_hosts_are_stored_in_their_standard_form(given, root, domain):
    assert normalize_root(given) == root
    assert site_domain(root) == domain == site_domain(given)


@pytest.mark.parametrize("url", [
    "http://[::1/", "http://[fe80::1%25eth0]/", "http://1.2.3.4.5/", "http://256.0.0.1/",
    "http://08.0.0.1/", "http://example.123/",
])  # fmt: skip
def test_malformed_ip_hosts_are_refused(url):
    with pytest.raises(SiteError, match=r"not a valid URL|zone"):
        normalize_root(url)


def test_every_spelling_of_an_ipv6_site_is_the_same_site():
    site = Site(1, "http://[::1]:8080/", site_domain("http://[::1]:8080/"))
    assert site.is_same_site("http://[::1]:8080/a.html")
    assert site.is_same_site("http://[0::1]:8080/b.html")
    assert not site.is_same_site("http://[::2]:8080/")
    assert not site.is_same_site("http://127.0.0.1:8080/")
    assert not site.is_same_site("http://[::1]:8081/")
    for ref in ("[::1]:8080", "http://[::1]:8080/", "[0:0::1]:8080"):
        assert site_domain(ref) == site.domain


def test_sites_add_refuses_non_public_hosts_with_the_reason(scrapy, db):
    for url, shown in [
        ("http://2130706433:8080/", "127.0.0.1 is a non-public address"),
        ("http://[::1]:8080/", "::1 is a non-public address"),
        ("http://[::ffff:169.254.169.254]/", "::ffff:a9fe:a9fe is a non-public address"),
        ("http://localhost:8080/", "localhost resolves to the non-public address"),
    ]:
        result = scrapy("sites", "add", url, "--email", "owner@example.com", check=False,
                        FLAWLESS_ALLOW_PRIVATE_NETWORKS="false")
        assert result.returncode == 1, (url, result.stderr)
        [line] = result.stderr.splitlines()
        assert line.startswith("error: ") and "cannot be crawled" in line and shown in line, line
        assert "FLAWLESS_ALLOW_PRIVATE_NETWORKS=true" in line
    assert db.query("SELECT id FROM sites") == []
    # Allowed explicitly: registered under the address it stands for.
    added = scrapy("sites", "add", "http://2130706433:8080/", "--email", "owner@example.com")
    assert "Added site 1: http://127.0.0.1:8080/" in added.stdout
    assert db.query("SELECT url, domain FROM sites") == [
        {"url": "http://127.0.0.1:8080/", "domain": "127.0.0.1:8080"}]
    assert "127.0.0.1:8080 has no finished crawl" in scrapy("report", "2130706433:8080", check=False).stderr


def test_sites_add_refuses_a_url_longer_than_the_crawl_fetches(scrapy, db):
    url = "http://127.0.0.1:8080/" + "a" * 2100
    result = scrapy("sites", "add", url, "--email", "owner@example.com", check=False)
    assert result.returncode == 1
    assert result.stderr == ("error: the site URL is 2122 characters long; crawls fetch URLs of at"
                             " most 2048 characters (FLAWLESS_MAX_URL_LENGTH)\n")
    assert db.query("SELECT id FROM sites") == []
    scrapy("sites", "add", url, "--email", "owner@example.com", "-s", "FLAWLESS_MAX_URL_LENGTH=4096")
    assert db.query("SELECT url FROM sites") == [{"url": url}]


def test_a_name_that_does_not_resolve_is_registered_with_a_warning(scrapy, db):
    result = scrapy("sites", "add", "http://flawless-test.invalid/", "--email", "owner@example.com",
                    FLAWLESS_ALLOW_PRIVATE_NETWORKS="false")
    assert "warning: flawless-test.invalid does not resolve now" in result.stderr
    assert db.query("SELECT domain FROM sites") == [{"domain": "flawless-test.invalid"}]


@pytest.mark.skipif(not ipv6_loopback(), reason="this machine has no IPv6 loopback (::1)")
def test_an_ipv6_site_is_registered_listed_crawled_and_reported(serve, scrapy, db):
    srv = serve("basic", host="::1")
    assert srv.url.startswith("http://[::1]:")
    netloc = srv.url.split("/")[2]
    scrapy("sites", "add", srv.url, "--email", "owner@example.com")
    assert db.query("SELECT url, domain FROM sites") == [{"url": srv.url, "domain": netloc}]
    assert srv.url in scrapy("sites", "list").stdout
    scrapy("crawl", "site", "-a", f"site={netloc}", *FAST_LINKS)
    scrapy("crawl", "site", "-a", f"url={srv.url}about.html", *FAST_LINKS)
    crawls = db.query("SELECT site_id, status, pages FROM crawls ORDER BY id")
    assert [(c["site_id"], c["status"]) for c in crawls] == [(1, "complete"), (1, "complete")]
    assert crawls[0]["pages"] >= 4  # the HTML pages the links lead to
    assert {"/", "/about.html", "/docs/"} <= set(srv.paths("GET"))
    records = [json.loads(line) for line in
               scrapy("report", netloc, "--format", "jsonl").stdout.splitlines()]
    broken = {r["url"] for r in records if r["type"] == "link"}
    assert srv.url + "missing.html" in broken
    assert all(r["page_url"].startswith(srv.url) for r in records)


@pytest.mark.skipif(not ipv6_loopback(), reason="this machine has no IPv6 loopback (::1)")
def test_the_address_guard_blocks_an_ipv6_loopback_site(serve, scrapy, db):
    srv = serve("basic", host="::1")
    result = scrapy("crawl", "site", "-a", f"url={srv.url}", check=False,
                    FLAWLESS_ALLOW_PRIVATE_NETWORKS="false")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    [crawl] = db.query("SELECT status, reason FROM crawls")
    assert crawl["status"] == "failed" and "::1 is a non-public address" in crawl["reason"]
    assert srv.paths() == []
