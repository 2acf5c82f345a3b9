"""The language check in a worker process (``FLAWLESS_LANGUAGE_WORKERS``, pipelines/language/worker.py).

The pipeline runs on the real prose site with and without a worker and must find the same; real
crawls show the worker is another process, that killing it loses no page, and that a re-crawl of
unchanged pages never starts one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import psutil
from scrapy import Spider
from scrapy.extension import ExtensionManager
from scrapy.utils.test import get_crawler

from flawless_spider.items import Page
from flawless_spider.lifecycle import CrawlLifecycle
from pipelines.language import LanguagePipeline
from tests.conftest import PROJECT, PYTHON
from tests.test_durable_outage import wait_for
from tests.test_language_prose import BASE, SITE, insert_site
from tests.test_recrawl import FAST, PAGES, write_site

WORKER = re.compile(r"The language check runs in worker process (\d+)")


def check_prose_site(db_url: str, site_id: int, workers: int) -> tuple[list[dict], list[dict], dict]:
    """The language pipeline over every page of the prose site: (page findings, end-of-crawl
    findings, stats)."""
    crawler = get_crawler(Spider, {"DATABASE_URL": db_url, "FLAWLESS_LANGUAGE_WORKERS": workers})
    expected = json.loads((SITE / "_expected.json").read_text())
    site = SimpleNamespace(id=site_id, url=BASE, domain="prose.test", language="en_US",
                           settings={"skip_selectors": expected["skip_selectors"]})
    crawler.spider = Spider(name="prose")
    lifecycle = CrawlLifecycle(crawler, site, crawl_id=1, kind="full")
    crawler.extensions = ExtensionManager(lifecycle, crawler=crawler)
    crawler.stats.open_spider()

    async def go():
        pipeline = LanguagePipeline.from_crawler(crawler)
        await pipeline.open_spider()
        found = []
        try:
            for path in sorted(SITE.glob("*.html")):
                name = "" if path.name == "index.html" else path.name
                page = Page(url=BASE + name, final_url=BASE + name, status=200, site_id=site_id,
                            crawl_id=1, html=path.read_text("utf-8"), lang="en",
                            headers={"content-language": "en"})
                out = await pipeline.process_item(page)
                assert not out.check_failed
                found.extend(out.findings)
            held = [f for finalize in lifecycle.finalizers for b in await finalize() for f in b.findings]
        finally:
            pipeline.close_spider()
        return found, held

    try:
        found, held = asyncio.run(go())
    finally:
        db = getattr(crawler, "flawless_db", None)
        if db is not None:
            db.close()
    return found, held, crawler.stats.get_stats()


def test_a_worker_process_finds_what_the_crawl_process_finds(db, db_url):
    site_id = insert_site(db)
    here, here_held, here_stats = check_prose_site(db_url, site_id, workers=0)
    there, there_held, there_stats = check_prose_site(db_url, site_id, workers=1)
    assert "flawless/language/worker_pid" not in here_stats
    worker = there_stats["flawless/language/worker_pid"]
    assert worker != os.getpid()
    assert gone(worker)  # shut down with the pipeline
    assert here and here_held
    assert there == here
    assert there_held == here_held
    assert there_stats["flawless/language/words"] == here_stats["flawless/language/words"]
    # the worker's CPU time is the stage's
    assert there_stats["flawless/language/cpu_seconds"] > 0
    # and it hands what it freed back to the system (Harper's start-up, at the first page)
    assert there_stats.get("flawless/memory/worker_trims", 0) >= 1
    assert "flawless/memory/worker_trims" not in here_stats


def test_the_crawl_process_does_not_load_the_language_detector(db, db_url):
    # Only the worker detects languages: the detector (py3langid, with numpy: 11 MB) stays out
    # of the crawl process, here a fresh interpreter running the pipeline.
    site_id = insert_site(db)
    code = ("import sys; from tests.test_language_worker import check_prose_site; "
            f"found, held, stats = check_prose_site({db_url!r}, {site_id}, workers=1); "
            "print(len(found), 'py3langid' in sys.modules, 'numpy' in sys.modules)")
    run = subprocess.run([PYTHON, "-c", code], cwd=PROJECT, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    found, langid, numpy = run.stdout.split()
    assert int(found) > 0
    assert (langid, numpy) == ("False", "False")


def test_a_recrawl_of_unchanged_pages_starts_no_worker(tmp_path, serve, scrapy, db):
    # The bakery site without its broken link (a 404 page's HTML is checked on every crawl).
    pages = {**PAGES, "index.html": PAGES["index.html"].replace('<a href="/missing.html">Old menu</a>', "")}
    assert pages != PAGES
    server = serve(write_site(tmp_path / "site", pages))
    scrapy("sites", "add", server.url, "--email", "owner@example.com")
    crawl = ("crawl", "site", "-a", f"site={server.url}", *FAST, "-s", "LOG_LEVEL=INFO")
    first = scrapy(*crawl).stderr
    pids = {int(pid) for pid in WORKER.findall(first)}
    crawled_by = db.query("SELECT pid FROM crawls ORDER BY id")[0]["pid"]
    assert len(pids) == 1 and crawled_by not in pids, (pids, crawled_by)
    second = scrapy(*crawl).stderr
    last = db.query("SELECT id, status FROM crawls ORDER BY id DESC LIMIT 1")[0]
    reused = db.query("SELECT count(*) AS n FROM pages WHERE crawl_id = %s AND reused", (last["id"],))
    assert last["status"] == "complete" and reused[0]["n"] == 4
    assert "'flawless/language/pages_reused': 4" in second
    assert not WORKER.search(second), second[-3000:]


class GatedSite(BaseHTTPRequestHandler):
    """Three pages, each with a misspelling; ``/late.html`` and ``/after.html`` are answered only
    once their gate is open."""

    gates: dict[str, threading.Event] = {}
    pages = {
        "/robots.txt": "User-agent: *\nDisallow:\n",
        "/": '<html lang=en><p>Two seperate loaves.</p><a href="/late.html">late</a></html>',
        "/late.html": '<html lang=en><p>It is definately late.</p><a href="/after.html">on</a></html>',
        "/after.html": "<html lang=en><p>We recieve letters.</p></html>",
    }

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        gate = self.gates.get(self.path)
        if gate is not None:
            gate.wait(60)
        body = self.pages.get(self.path)
        if body is None:
            self.send_error(404)
            return
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain" if self.path.endswith(".txt") else "text/html")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextlib.contextmanager
def gated_crawl(tmp_path, scrapy, scrapy_env, gated: list[str],
                log_level: str = "INFO") -> Iterator[tuple[subprocess.Popen, Path, str, int]]:
    """A crawl (``scrapy crawl site``, its own process) of a :class:`GatedSite` whose ``gated``
    pages wait until the test opens their gate: yields (process, log file, site URL, pid of the
    worker that checked the home page). Every gate is opened, the process and the server
    stopped, whatever the test did."""
    GatedSite.gates = {path: threading.Event() for path in gated}
    server = ThreadingHTTPServer(("127.0.0.1", 0), GatedSite)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    log = tmp_path / "crawl.log"
    proc = None
    try:
        scrapy("sites", "add", url, "--email", "owner@example.com")
        with log.open("w") as out:
            proc = subprocess.Popen(
                [PYTHON, "-m", "scrapy", "crawl", "site", "-a", f"site={url}", "-s",
                 f"LOG_LEVEL={log_level}", "-s", "FLAWLESS_LINKS_ENABLED=false",
                 "-s", "FLAWLESS_FOLLOW_SITEMAPS=false", "-s", "AUTOTHROTTLE_ENABLED=false"],
                cwd=PROJECT, env=scrapy_env, stdout=out, stderr=subprocess.STDOUT)
        wait_for(lambda: WORKER.search(log.read_text()), "the home page checked by a worker")
        yield proc, log, url, int(WORKER.search(log.read_text())[1])
    finally:
        for gate in GatedSite.gates.values():
            gate.set()
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        server.shutdown()
        server.server_close()


def test_a_killed_worker_loses_no_page_and_the_next_pages_are_checked(tmp_path, scrapy, scrapy_env, db):
    with gated_crawl(tmp_path, scrapy, scrapy_env, ["/late.html", "/after.html"],
                     log_level="DEBUG") as (proc, log, url, first):
        # Stopped, the worker takes /late.html and cannot answer; then it is killed.
        os.kill(first, signal.SIGSTOP)
        GatedSite.gates["/late.html"].set()
        wait_for(lambda: f"Checking {url}late.html in a language worker" in log.read_text(),
                 "/late.html sent to the stopped worker")
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: "language worker process ended unexpectedly" in log.read_text(),
                 "the crawl to see the worker die")
        GatedSite.gates["/after.html"].set()
        assert proc.wait(timeout=60) == 0
        # The crawl after: the page the dead worker had is checked in full this time.
        again = scrapy("crawl", "site", "-a", f"site={url}", "-s", "LOG_LEVEL=INFO",
                       "-s", "FLAWLESS_LINKS_ENABLED=false", "-s", "FLAWLESS_FOLLOW_SITEMAPS=false",
                       "-s", "AUTOTHROTTLE_ENABLED=false").stderr
    text = log.read_text()
    assert "Traceback" not in text, text[-3000:]
    assert text.count("language worker process ended unexpectedly") == 1
    pids = [int(pid) for pid in WORKER.findall(text)]
    assert pids[0] == first and len(pids) == 2 and gone(pids[1])
    crawl = db.query("SELECT id, status FROM crawls ORDER BY id")[0]
    assert crawl["status"] == "incomplete"
    pages = {r["url"] for r in db.query("SELECT url FROM pages WHERE crawl_id = %s", (crawl["id"],))}
    assert pages == {url, url + "late.html", url + "after.html"}
    words = {r["w"]: r["page_url"] for r in db.query(
        "SELECT data->>'word' AS w, page_url FROM findings WHERE type = 'spelling'"
        " AND first_crawl_id = %s", (crawl["id"],))}
    # the page in the dead worker has no findings; the pages before and after it were checked
    assert words == {"seperate": url, "recieve": url + "after.html"}
    last = db.query("SELECT id, status FROM crawls ORDER BY id DESC LIMIT 1")[0]
    assert last["id"] != crawl["id"] and last["status"] == "complete", again[-3000:]
    reused = {r["url"] for r in db.query("SELECT url FROM pages WHERE crawl_id = %s AND reused",
                                         (last["id"],))}
    assert url + "late.html" not in reused
    found = {r["w"]: (r["page_url"], r["first_crawl_id"], r["fixed_crawl_id"]) for r in db.query(
        "SELECT data->>'word' AS w, page_url, first_crawl_id, fixed_crawl_id FROM findings"
        " WHERE type = 'spelling'")}
    assert found == {"seperate": (url, crawl["id"], None),
                     "recieve": (url + "after.html", crawl["id"], None),
                     "definately": (url + "late.html", last["id"], None)}, again[-3000:]


def test_ctrl_c_leaves_no_worker_behind(tmp_path, scrapy, scrapy_env):
    with gated_crawl(tmp_path, scrapy, scrapy_env, ["/late.html"]) as (proc, log, _, worker):
        # Twice, as an impatient operator does: the second one stops the crawl at once, without
        # waiting for /late.html (and without closing the spider).
        proc.send_signal(signal.SIGINT)
        wait_for(lambda: "shutting down gracefully" in log.read_text(), "the first Ctrl-C seen")
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    assert gone(worker), log.read_text()[-3000:]
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


def test_a_killed_crawl_leaves_no_worker_behind(tmp_path, scrapy, scrapy_env):
    with gated_crawl(tmp_path, scrapy, scrapy_env, ["/late.html"]) as (proc, _, _, worker):
        proc.kill()  # no chance to close anything
        proc.wait()
        wait_for(lambda: gone(worker), "the worker to end with the crawl process", timeout=30)


def gone(pid: int) -> bool:
    """Whether process ``pid`` has ended (an orphan nobody reaped yet has)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
