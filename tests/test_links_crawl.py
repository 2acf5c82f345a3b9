"""End to end: crawl a fixture site that links to a second, "external" host (127.0.0.2) and
check the link findings, what each server was asked, and the report's grouping."""

from __future__ import annotations

import json
import re
import shutil
import ssl
import subprocess
import sys
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.extensions
import pytest

TESTS = Path(__file__).resolve().parent
PROJECT = TESTS.parent
SITES = TESTS / "sites"
# The timeout is under /__slow/4's four seconds but well above what a loaded 2-core machine
# needs for a local file (at 1.5 s, a request for an image timed out and was retried, which
# looked like the crawl asking for one URL twice).
FAST = ("-s", "FLAWLESS_LINK_TIMEOUT=3", "-s", "FLAWLESS_LINK_RETRY_DELAY=0.2",
        "-s", "FLAWLESS_LANGUAGE_ENABLED=false", "-s", "AUTOTHROTTLE_ENABLED=false")
_NO_VERIFY = ssl.create_default_context()
_NO_VERIFY.check_hostname = False
_NO_VERIFY.verify_mode = ssl.CERT_NONE


@dataclass
class Server:
    """A ``tests/sitesrv.py`` process (module-scoped, so one crawl serves many tests)."""

    url: str
    process: subprocess.Popen

    def log(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(self.url + "__log", timeout=10, context=_NO_VERIFY) as r:
            return json.load(r)

    def counts(self) -> Counter:
        return Counter(entry["path"] for entry in self.log())

    def reset(self) -> None:
        request = urllib.request.Request(self.url + "__reset", method="POST")
        urllib.request.urlopen(request, timeout=10, context=_NO_VERIFY).close()


def start_server(root: Path, host: str = "127.0.0.1", tls: bool = False) -> Server:
    args = [sys.executable, str(TESTS / "sitesrv.py"), str(root), "--host", host]
    proc = subprocess.Popen(args + (["--tls"] if tls else []), stdout=subprocess.PIPE, text=True)
    port = int(proc.stdout.readline())
    return Server(f"{'https' if tls else 'http'}://{host}:{port}/", proc)


def stop(server: Server) -> None:
    server.process.terminate()
    server.process.wait(timeout=10)
    server.process.stdout.close()


def site_copy(dest: Path, name: str, **values: str) -> Path:
    """Copy fixture site ``name`` into ``dest`` with ``{{KEY}}`` placeholders filled in."""
    target = dest / name
    shutil.copytree(SITES / name, target)
    for path in target.rglob("*"):
        if path.suffix in (".html", ".css"):
            text = path.read_text()
            for key, value in values.items():
                text = text.replace("{{" + key + "}}", value)
            path.write_text(text)
    return target


@pytest.fixture(scope="module")
def module_db(pg_template: tuple[str, str]) -> Iterator[str]:
    base, template = pg_template
    name = f"flawless_links_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(base)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    yield psycopg2.extensions.make_dsn(base, dbname=name)
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture(scope="module")
def run(module_db: str, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., str]:
    """Run ``scrapy ARGS`` against the module's database; returns stdout (its log: ``run.log``)."""
    import os

    env = dict(os.environ, DATABASE_URL=module_db, FLAWLESS_ALLOW_PRIVATE_NETWORKS="true",
               FLAWLESS_STATE_DIR=str(tmp_path_factory.mktemp("state")), PYTHONWARNINGS="error")
    for name in ("SMTP_URL", "REDIS_URL", "LANGUAGETOOL_URL"):
        env.pop(name, None)

    def scrapy(*args: str) -> str:
        result = subprocess.run([sys.executable, "-m", "scrapy", *args], cwd=PROJECT, env=env,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"scrapy {args} failed:\n{result.stderr[-6000:]}"
        assert "Traceback" not in result.stderr, result.stderr[-6000:]
        assert " ERROR: " not in result.stderr, result.stderr[-6000:]
        if os.environ.get("FLAWLESS_TEST_SHOW_LOG"):
            print(result.stderr)
        scrapy.log = result.stderr  # type: ignore[attr-defined]  # the last command's log
        return result.stdout

    return scrapy


@dataclass
class Crawl:
    site: Server
    ext: Server
    records: list[dict[str, Any]]
    site_log: list[dict[str, Any]]
    ext_log: list[dict[str, Any]]
    crawl_log: str
    """The crawl's log at DEBUG: every request Scrapy made and every failed link check."""

    def links(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r["type"] == "link"]

    def find(self, url_end: str, **fields: Any) -> dict[str, Any]:
        """The one grouped link record whose URL ends with ``url_end`` (and matches fields)."""
        found = [r for r in self.links() if r["url"].endswith(url_end)
                 and all(r.get(k) == v for k, v in fields.items())]
        assert len(found) == 1, f"{url_end} {fields}: {found}"
        return found[0]

    def none(self, url_end: str) -> None:
        found = [r for r in self.links() if r["url"].endswith(url_end)]
        assert not found, found


@pytest.fixture(scope="module")
def crawl(run: Callable[..., str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crawl]:
    folder = tmp_path_factory.mktemp("sites")
    ext = start_server(SITES / "links_ext", host="127.0.0.2")
    exts = ext.url.replace("http://", "https://").rstrip("/")
    root = site_copy(folder, "links", EXT=ext.url.rstrip("/"), EXTS=exts)
    site = start_server(root)
    try:
        run("crawl", "site", "-a", f"url={site.url}", *FAST, "-s", "LOG_LEVEL=DEBUG")
        crawl_log = run.log  # type: ignore[attr-defined]
        port = site.url.rsplit(":", 1)[1].strip("/")
        out = run("report", f"127.0.0.1:{port}", "--format", "jsonl")
        records = [json.loads(line) for line in out.splitlines() if line.strip()]
        yield Crawl(site, ext, records, site.log(), ext.log(), crawl_log)
    finally:
        stop(site)
        stop(ext)


# -- classification -----------------------------------------------------------------------

def test_internal_broken_page_reported_once_with_every_page(crawl: Crawl) -> None:
    record = crawl.find("/missing.html")
    assert (record["severity"], record["status"], record["error"]) == ("error", 404, None)
    assert [p.rsplit("/", 1)[1] for p in record["pages"]] == [
        "", "about.html", "page2.html", "page3.html"]
    assert record["element"] == "a" and record["text"] in ("old page", "old page again")
    assert record["position"] > 0


def test_resources_of_every_element(crawl: Crawl) -> None:
    expected = {
        "/missing.png": "img", "/missing-2x.png": "img", "/missing.js": "script",
        "/missing-inline.png": "style", "/missing-attr.png": "div",
        "/missing-poster.jpg": "video", "/missing.mp3": "audio", "/missing.pdf": "object",
        "/missing-source.webp": "source", "/sub/pic.png": "img",
    }
    for url_end, element in expected.items():
        record = crawl.find(url_end)
        assert (record["element"], record["status"], record["severity"]) == (element, 404, "error")
    crawl.none("/logo.png")
    crawl.none("/app.js")
    assert crawl.find("/missing.png")["text"] == "Missing logo"


def test_linked_css_is_checked_and_findings_point_at_the_stylesheet(crawl: Crawl) -> None:
    record = crawl.find("/bg-missing.png")
    assert record["page_url"].endswith("/style.css") and record["element"] == "css"
    assert record["position"] == 1
    imported = crawl.find("/img/missing-theme.png")  # @import-ed stylesheet, relative url()
    assert imported["page_url"].endswith("/theme.css")


def test_base_href_is_honoured(crawl: Crawl) -> None:
    crawl.none("/docs/page.html")
    crawl.none("/sub/page.html")  # exists, #part exists
    assert crawl.find("/sub/pic.png")["page_url"].endswith("/docs/")


def test_fragments(crawl: Crawl) -> None:
    missing = crawl.find("/about.html#nobody")
    assert (missing["error"], missing["severity"], missing["status"]) == (
        "missing_fragment", "error", 200)
    here = crawl.find("#missing-here")
    assert here["error"] == "missing_fragment" and here["page_url"] == crawl.site.url
    for fine in ("#team", "#intro", "#history", "#/client/route", "#!bang", "#top",
                 "/ok.html#anything"):
        crawl.none(fine)


def test_invalid_and_skipped_schemes(crawl: Crawl) -> None:
    assert crawl.find("exa mple.com/")["error"] == "invalid_url"
    assert crawl.find("http://[::1/")["error"] == "invalid_url"
    mail = crawl.find("mailto:not-an-address")
    assert (mail["severity"], mail["error"]) == ("warning", "invalid_mailto")
    for skipped in ("mailto:info@example.com", "tel:+4912345", "javascript:void(0)",
                    "data:text/plain,hi", "/nothing-here"):
        crawl.none(skipped)


def test_redirects(crawl: Crawl) -> None:
    moved = crawl.find("/__status/301?to=/about.html")
    assert (moved["severity"], moved["error"], moved["status"]) == (
        "warning", "permanent_redirect", 301)
    assert moved["final_url"] == crawl.site.url + "about.html"
    crawl.none("/__status/302?to=/about.html")
    ext_moved = crawl.find("/__status/301?to=/ok.html")
    assert ext_moved["final_url"] == crawl.ext.url + "ok.html"
    assert ext_moved["redirects"][0][1] == 301
    crawl.none("/__redirect/2")
    assert crawl.find(crawl.site.url + "__loop/a")["error"] == "redirect_loop"
    assert crawl.find(crawl.ext.url + "__loop/a")["error"] == "redirect_loop"
    too_many = crawl.find("/__redirect/12")
    assert (too_many["error"], too_many["severity"]) == ("too_many_redirects", "error")


def test_external_failures_are_broken(crawl: Crawl) -> None:
    gone = crawl.find(crawl.ext.url + "gone.html")
    assert (gone["status"], gone["severity"], len(gone["pages"])) == (404, "error", 4)
    assert crawl.find("/__status/500")["status"] == 500
    assert crawl.find("/__slow/4")["error"] == "timeout"
    assert crawl.find("nonexistent-host.invalid/")["error"] == "dns"
    assert crawl.find("127.0.0.2:1/")["error"] == "refused"
    tls = crawl.find(crawl.ext.url.replace("http:", "https:"))
    assert (tls["error"], tls["severity"]) == ("tls", "error")


def test_refusals_of_robots_are_unverified_not_broken(crawl: Crawl) -> None:
    for url_end, reason in (("/__botwall", "bot_wall"), ("/__status/999", "bot_wall"),
                            ("/__ratelimit/99", "rate_limited")):
        record = crawl.find(url_end)
        assert (record["severity"], record["error"], record["reason"]) == (
            "warning", "unverified", reason)
    for fine in ("__nohead/page", "__ratelimit/1", "__flaky/2", "ok.html", "shared.html"):
        crawl.none(crawl.ext.url + fine)


def test_every_finding_has_the_export_fields(crawl: Crawl) -> None:
    for record in crawl.links():
        for name in ("page_url", "url", "status", "error", "element", "text", "final_url",
                     "severity", "state", "pages"):
            assert name in record, (name, record)
        assert record["url"].startswith(("http://", "https://", "mailto:")), record


# -- what the servers were asked ------------------------------------------------------------

def test_no_url_of_the_site_is_requested_twice(crawl: Crawl) -> None:
    counts = Counter(entry["path"] for entry in crawl.site_log)
    assert counts, "the site was not crawled"
    twice = {path: n for path, n in counts.items() if n > 1}
    # A second request is allowed only as the documented retry of a link check that failed
    # transiently (under heavy load a local GET can outlast the test's 3 s timeout): the crawl's
    # log must show the failure it retried.
    for path, n in twice.items():
        lines = [line for line in crawl.crawl_log.splitlines() if path in line]
        retried = [line for line in lines if "Link check" in line
                   and re.search(r"failed: (timeout|network|connection_lost) ", line)]
        assert len(retried) >= n - 1, (path, n, lines,
                                       [e for e in crawl.site_log if e["path"] == path])
    assert not [path for path in counts if path.startswith("/private/")]
    assert counts["/logo.png"] == 1 and counts["/missing.png"] == 1
    assert counts["/style.css"] == 1


def test_external_urls_are_requested_once_plus_documented_retries(crawl: Crawl) -> None:
    counts = Counter(entry["path"] for entry in crawl.ext_log)
    methods = Counter((entry["method"], entry["path"]) for entry in crawl.ext_log)
    expected = {
        "/__nohead/page": 2,        # HEAD refused, then GET
        "/__botwall": 2,            # HEAD 403, then GET to see the challenge page
        "/__status/999": 2,
        "/__ratelimit/1": 2,        # 429, Retry-After: 1, then 200
        "/__ratelimit/99": 3,       # 429 three times (2 retries): unverified
        "/__flaky/2": 3,            # HEAD 503, GET 503, GET 200
        "/__status/500": 4,         # HEAD 500, GET 500 and 2 retries
        "/__slow/4": 3,             # a timeout and 2 retries
        "/gone.html": 2,            # HEAD 404, then GET to be sure
    }
    for path, n in counts.items():
        assert n == expected.get(path, 1), (path, n)
    assert methods[("HEAD", "/ok.html")] == 1 and methods[("GET", "/ok.html")] == 0
    assert counts["/shared.html"] == 1
    assert "/robots.txt" not in counts  # external checks do not crawl
    assert counts["/__redirect/12"] == 1 and counts["/__loop/a"] == 1


# -- the cache --------------------------------------------------------------------------------

def test_external_results_are_cached_internal_ones_are_not(
        run: Callable[..., str], crawl: Crawl, tmp_path: Path) -> None:
    ext = start_server(SITES / "links_ext", host="127.0.0.2")
    root = tmp_path / "cached"
    root.mkdir()
    (root / "index.html").write_text(
        f'<html><body><a href="{ext.url}ok.html">ok</a> <a href="{ext.url}gone.html">gone</a>'
        f' <a href="{ext.url}__nohead/x">get only</a> <img src="/logo.png" alt="logo">'
        f' <a href="/missing.html">missing</a></body></html>')
    shutil.copy(SITES / "links" / "logo.png", root / "logo.png")
    site = start_server(root)
    try:
        run("crawl", "site", "-a", f"url={site.url}", *FAST)
        first = ext.counts()
        ext.reset()
        site.reset()
        run("crawl", "site", "-a", f"url={site.url}", *FAST)
        second = ext.counts()
        assert first["/ok.html"] == 1 and first["/__nohead/x"] == 2
        assert "/ok.html" not in second and "/__nohead/x" not in second
        assert second["/gone.html"] == 2  # failures are always checked again
        assert site.counts()["/logo.png"] == 1  # internal results are always fresh
        run("crawl", "site", "-a", f"url={site.url}", *FAST, "-s", "FLAWLESS_LINK_CACHE_HOURS=0")
        assert ext.counts()["/ok.html"] == 1
    finally:
        stop(site)
        stop(ext)


# -- https pages, and many pages linking one target -------------------------------------------

def test_insecure_resources_on_an_https_page(run: Callable[..., str], tmp_path: Path) -> None:
    ext = start_server(SITES / "links_ext", host="127.0.0.2")
    site = start_server(site_copy(tmp_path, "links_tls", EXT=ext.url.rstrip("/")), tls=True)
    try:
        run("crawl", "site", "-a", f"url={site.url}", *FAST)
        port = site.url.rsplit(":", 1)[1].strip("/")
        out = run("report", f"127.0.0.1:{port}", "--format", "jsonl")
    finally:
        stop(site)
        stop(ext)
    records = [json.loads(line) for line in out.splitlines()]
    insecure = {(r["element"], r["url"].rsplit("/", 1)[1]) for r in records
                if r.get("error") == "insecure"}
    assert insecure == {("link", "shared.html"), ("script", "ok.html"), ("iframe", "index.html")}
    assert all(r["severity"] == "warning" for r in records), records
    assert all(r["page_url"] == site.url for r in records)


def test_thousands_of_links_to_one_target_cost_one_request(
        run: Callable[..., str], tmp_path: Path) -> None:
    ext = start_server(SITES / "links_ext", host="127.0.0.2")
    root = tmp_path / "many"
    root.mkdir()
    shutil.copy(SITES / "links" / "logo.png", root / "logo.png")
    pages = 120
    common = (f'<a href="{ext.url}gone.html">gone</a> <a href="{ext.url}ok.html">ok</a>'
              ' <a href="/missing.html">missing</a> <img src="/logo.png" alt="logo">'
              ' <img src="/missing.png" alt="x"> <a href="/">home</a>')
    index = "".join(f'<a href="/p{i}.html">p{i}</a> ' for i in range(pages))
    (root / "index.html").write_text(f"<html><body>{index}{common}</body></html>")
    for i in range(pages):
        (root / f"p{i}.html").write_text(f"<html><body><p>{i}</p>{common}</body></html>")
    site = start_server(root)
    try:
        run("crawl", "site", "-a", f"url={site.url}", *FAST)
        port = site.url.rsplit(":", 1)[1].strip("/")
        out = run("report", f"127.0.0.1:{port}", "--format", "jsonl")
        site_counts, ext_counts = site.counts(), ext.counts()
        text = run("report", f"127.0.0.1:{port}", "--format", "text")
        csv_out = run("report", f"127.0.0.1:{port}", "--format", "csv")
    finally:
        stop(site)
        stop(ext)
    assert max(site_counts.values()) == 1
    assert dict(ext_counts) == {"/gone.html": 2, "/ok.html": 1}
    records = [json.loads(line) for line in out.splitlines()]
    assert sorted((r["url"].rsplit("/", 1)[1], len(r["pages"])) for r in records) == [
        ("gone.html", pages + 1), ("missing.html", pages + 1), ("missing.png", pages + 1)]
    assert text.count(f"{ext.url}gone.html (404 Not Found)") == 1
    assert text.count("    on ") == 3 * (pages + 1)
    assert len(csv_out.strip().splitlines()) == 4


def test_per_host_concurrency_is_honoured(run: Callable[..., str], tmp_path: Path) -> None:
    ext = start_server(SITES / "links_ext", host="127.0.0.2")
    root = tmp_path / "slow"
    root.mkdir()
    links = "".join(f'<a href="{ext.url}__slow/0.4?n={i}">{i}</a> ' for i in range(6))
    (root / "index.html").write_text(f"<html><body>{links}</body></html>")
    site = start_server(root)
    try:
        run("crawl", "site", "-a", f"url={site.url}", *FAST,
            "-s", "FLAWLESS_LINK_HOST_CONCURRENCY=2")
        starts = sorted(entry["t"] for entry in ext.log())
    finally:
        stop(site)
        stop(ext)
    assert len(starts) == 6
    # Never more than two requests at once: the third starts after the first has ended.
    assert all(later - first >= 0.35 for first, later in zip(starts, starts[2:], strict=False))
