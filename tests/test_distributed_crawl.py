"""Shared crawls: several ``scrapy crawl`` workers on one site through a real Redis.

The workers are real processes started like an operator would (``-a site=`` with
``REDIS_URL``); the site's server log says what was fetched, PostgreSQL what was recorded.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable

import redis
from scrapy.settings import Settings

from flawless_spider.crawls import reap_dead_crawls, start_crawl
from flawless_spider.cron import workers_for
from flawless_spider.sites import SiteRegistry
from tests.conftest import PROJECT, PYTHON
from tests.distsite import (
    all_pages,
    fetched,
    findings,
    make_site,
    same_findings,
    start_worker,
)
from tests.redisutil import redis_server

FAST = ("FLAWLESS_LINK_TIMEOUT=2", "FLAWLESS_LINK_RETRY_DELAY=0.1", "AUTOTHROTTLE_ENABLED=false",
        "FLAWLESS_WORKER_LEASE=3")


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def finished(workers: list[subprocess.Popen], logs: list, timeout: float = 90) -> list[str]:
    """Wait for the workers; their logs. A worker that fails fails the test, with its log."""
    texts = []
    for worker, log in zip(workers, logs, strict=True):
        code = worker.wait(timeout)
        text = log.read_text()
        assert code == 0, f"a worker exited {code}:\n{text[-4000:]}"
        texts.append(text)
    return texts


def test_three_workers_crawl_a_site_once_and_find_what_one_process_finds(
        serve, scrapy, scrapy_env, redis_url, db, tmp_path):
    other = serve("basic")  # another site the pages link to
    srv = serve(make_site(tmp_path / "site", other.url))
    domain = srv.url.split("/")[2]
    scrapy("sites", "add", srv.url, "--email", "owner@example.com")
    env = {**scrapy_env, "REDIS_URL": redis_url}
    logs = [tmp_path / f"worker{n}.log" for n in range(3)]
    workers = [start_worker(domain, env, log, *FAST) for log in logs]
    texts = finished(workers, logs)

    counts = fetched(srv.paths())
    assert [path for path, n in counts.items() if n > 1] == []  # no URL fetched twice ...
    assert all_pages() <= set(counts)  # ... and every page fetched
    assert sum("this worker finishes it" in t for t in texts) == 1
    [crawl] = db.query("SELECT id, status, reason, stats FROM crawls")  # one record for all
    assert (crawl["status"], crawl["reason"], crawl["stats"]["flawless/workers"]) == (
        "complete", None, 3)
    assert db.query("SELECT count(*) AS n FROM outbox WHERE crawl_id = %s", (crawl["id"],)) == [
        {"n": 1}]  # one digest
    assert redis.Redis.from_url(redis_url).keys("flawless:*") == []  # the last one cleaned up
    shared = findings(scrapy, domain)
    kinds = {(f["type"], f.get("error") or f.get("status") or f.get("confidence"))
             for f in shared}
    assert {("link", 404), ("link", "permanent_redirect"), ("spelling", "certain"),
            ("spelling", "likely")} <= kinds
    assert any(f.get("pages", 0) > 30 for f in shared)  # the footer's typo, once, site-wide
    assert not any(f.get("word") == "quixle" for f in shared)  # a term: it recurs on the site

    # The same site crawled by one process: the very same findings, nothing new, nothing fixed.
    srv.reset()
    scrapy("crawl", "site", "-a", f"site={domain}", *(p for s in FAST for p in ("-s", s)))
    same_findings(findings(scrapy, domain), shared)
    states = scrapy("report", domain, "--format", "csv").stdout
    assert ",new," not in states and ",fixed," not in states


def test_a_worker_killed_mid_crawl_loses_nothing(serve, scrapy, scrapy_env, redis_url, db,
                                                tmp_path):
    other = serve("basic")
    folder = make_site(tmp_path / "site", other.url, crawl_delay=0.25)  # a crawl that lasts
    srv = serve(folder)
    domain = srv.url.split("/")[2]
    scrapy("sites", "add", srv.url, "--email", "owner@example.com")
    env = {**scrapy_env, "REDIS_URL": redis_url}
    logs = [tmp_path / "doomed.log", tmp_path / "survivor.log"]
    doomed = start_worker(domain, env, logs[0], *FAST, "FLAWLESS_DB_BATCH_SIZE=4")
    wait_for(lambda: len(fetched(srv.paths())) >= 6, "the first worker to fetch pages")
    survivor = start_worker(domain, env, logs[1], *FAST, "FLAWLESS_DB_BATCH_SIZE=4")
    wait_for(lambda: "Spider opened" in logs[1].read_text(), "the second worker to start")
    wait_for(lambda: len(fetched(srv.paths())) >= 14, "both workers to crawl")
    doomed.send_signal(signal.SIGKILL)
    doomed.wait()
    # The next command's reaper sees a dead worker, but the crawl has a live one: it runs on.
    scrapy("sites", "list")
    [crawl] = db.query("SELECT id, status FROM crawls")
    if survivor.poll() is None:
        assert crawl["status"] == "running"
    [text] = finished([survivor], logs[1:])

    assert "back in the queue" in text  # the dead worker's requests came back
    assert all_pages() <= set(fetched(srv.paths()))
    [crawl] = db.query("SELECT id, status, reason FROM crawls")
    assert (crawl["status"], crawl["reason"]) == ("complete", None)
    stored = {r["url"].split("/", 3)[3] for r in db.query(
        "SELECT url FROM pages WHERE crawl_id = %s AND status = 200", (crawl["id"],))}
    assert {p.lstrip("/") for p in all_pages()} <= stored
    shared = findings(scrapy, domain)

    (folder / "robots.txt").write_text("User-agent: *\nDisallow: /private/\n")
    scrapy("crawl", "site", "-a", f"site={domain}", *(p for s in FAST for p in ("-s", s)))
    same_findings(findings(scrapy, domain), shared)


def test_redis_lost_mid_crawl_makes_the_crawl_incomplete_with_the_reason(
        serve, scrapy_env, db, tmp_path):
    other = serve("basic")
    srv = serve(make_site(tmp_path / "site", other.url, crawl_delay=0.25))
    domain = srv.url.split("/")[2]
    SiteRegistry(db).add(srv.url, "owner@example.com")
    log = tmp_path / "worker.log"
    with redis_server(tmp_path) as url:
        worker = start_worker(domain, {**scrapy_env, "REDIS_URL": url}, log, *FAST)
        wait_for(lambda: len(fetched(srv.paths())) >= 4, "the crawl to start")
    worker.wait(60)
    [crawl] = db.query("SELECT status, reason FROM crawls")
    assert crawl["status"] == "incomplete"
    assert crawl["reason"].startswith("lost the connection to Redis (")
    assert log.read_text().count("Lost the connection to Redis") == 1


def test_redis_unreachable_at_start_is_one_line_and_no_crawl(serve, scrapy, db):
    srv = serve("basic")
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = scrapy("crawl", "site", "-a", f"url={srv.url}", check=False,
                    REDIS_URL=f"redis://:secret@127.0.0.1:{port}/0")
    assert result.returncode == 2
    assert f"cannot reach Redis at REDIS_URL (redis://:***@127.0.0.1:{port}/0)" in result.stderr
    assert "secret" not in result.stderr and "Traceback" not in result.stderr
    assert db.query("SELECT count(*) AS n FROM crawls") == [{"n": 0}]


def test_a_shared_crawl_lives_while_one_of_its_workers_does(db):
    site, _ = SiteRegistry(db).add("https://example.com/", "owner@example.com")
    crawl = start_crawl(db, site.id, join=True)
    dead = subprocess.Popen(["true"])
    dead.wait()
    host = socket.gethostname()
    db.query("INSERT INTO crawl_workers (crawl_id, host, pid) VALUES (%s, %s, %s)",
             (crawl, host, dead.pid))
    db.query("UPDATE crawls SET pid = %s WHERE id = %s", (dead.pid, crawl))  # its first worker
    settings = Settings({"FLAWLESS_HEARTBEAT_TIMEOUT": 600})
    assert start_crawl(db, site.id, join=True) == crawl  # a worker started now joins it
    assert reap_dead_crawls(db, settings) == []  # this process is one of its workers
    db.query("UPDATE crawl_workers SET left_at = now() WHERE pid = %s", (os.getpid(),))
    assert reap_dead_crawls(db, settings) == [crawl]  # the one left is dead


def test_cron_crawls_a_site_with_several_workers(serve, scrapy, scrapy_env, redis_url, db,
                                                 tmp_path):
    other = serve("basic")
    srv = serve(make_site(tmp_path / "site", other.url))
    scrapy("sites", "add", srv.url, "--email", "owner@example.com")
    args = [PYTHON, "-m", "flawless_spider.cron", "--no-digest", "--workers", "2"]
    for setting in FAST:
        args += ["-s", setting]
    alone = subprocess.run(args, cwd=PROJECT, env=scrapy_env, capture_output=True, text=True,
                           timeout=60)
    assert alone.returncode == 2 and alone.stderr.strip() == (
        "error: --workers needs REDIS_URL: the workers of a crawl share it through Redis")
    assert db.query("SELECT count(*) AS n FROM crawls") == [{"n": 0}]
    result = subprocess.run(args, cwd=PROJECT, env={**scrapy_env, "REDIS_URL": redis_url},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-4000:]
    [crawl] = db.query("SELECT status, stats FROM crawls")
    assert (crawl["status"], crawl["stats"]["flawless/workers"]) == ("complete", 2)
    assert [p for p, n in fetched(srv.paths()).items() if n > 1] == []


def test_workers_per_site_come_from_the_site_then_the_size_threshold():
    small = {"domain": "a.example", "settings": {}, "last_pages": 40}
    large = {"domain": "b.example", "settings": {}, "last_pages": 9000}
    own = {"domain": "c.example", "settings": {"workers": 3}, "last_pages": 10}
    assert [workers_for(s, 4, 5000, shared=True) for s in (small, large, own)] == [1, 4, 3]
    assert [workers_for(s, 4, 0, shared=True) for s in (small, large, own)] == [4, 4, 3]
    assert workers_for(own, 1, 0, shared=False) == 1  # no Redis: one process, with a warning


def test_workers_share_one_page_budget(serve, scrapy, scrapy_env, redis_url, db, tmp_path):
    other = serve("basic")
    srv = serve(make_site(tmp_path / "site", other.url))
    domain = srv.url.split("/")[2]
    scrapy("sites", "add", srv.url, "--email", "owner@example.com")
    env = {**scrapy_env, "REDIS_URL": redis_url}
    logs = [tmp_path / f"worker{n}.log" for n in range(2)]
    finished([start_worker(domain, env, log, *FAST, "FLAWLESS_MAX_PAGES=10") for log in logs],
             logs)
    [crawl] = db.query("SELECT status, reason, pages, left_out FROM crawls")
    assert crawl["status"] == "incomplete"
    assert crawl["reason"].startswith("the page budget of 10 pages was reached (")
    assert crawl["pages"] <= 10 and crawl["left_out"]["budget"] >= 1
    pages = [p for p in fetched(srv.paths()) if p.endswith((".html", "/"))]
    assert len(pages) <= 10  # the budget of the crawl, not of each worker
