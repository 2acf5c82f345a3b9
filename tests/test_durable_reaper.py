"""Crawl records whose worker died are closed ``incomplete`` ("worker died") by the next command."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from scrapy.settings import Settings

from flawless_spider.crawls import reap_dead_crawls, start_crawl
from flawless_spider.findings import finding
from flawless_spider.items import Page
from flawless_spider.sites import SiteRegistry
from pipelines.store.pipeline import write_batch
from tests.conftest import PROJECT, PYTHON
from tests.crawlkit import make_site

HOST = socket.gethostname()


def dead_pid() -> int:
    """The pid of a process of this host that has ended."""
    proc = subprocess.Popen([PYTHON, "-c", ""])
    proc.wait()
    return proc.pid


def add_crawl(db, site_id: int, host: str | None, pid: int | None, silent_for: str,
              status: str = "running") -> int:
    """A crawl record whose last heartbeat was ``silent_for`` ago (e.g. ``'20 minutes'``)."""
    return db.query(
        "INSERT INTO crawls (site_id, host, pid, status, started_at, heartbeat_at)"
        " VALUES (%s, %s, %s, %s, now() - interval '1 hour', now() - %s::interval) RETURNING id",
        (site_id, host, pid, status, silent_for),
    )[0]["id"]


def states(db) -> dict[int, tuple]:
    return {r["id"]: (r["status"], r["reason"])
            for r in db.query("SELECT id, status, reason FROM crawls")}


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def crawl_in_background(url: str, env: dict[str, str], log: Path, *settings: str):
    args = [PYTHON, "-m", "scrapy", "crawl", "site", "-a", f"url={url}",
            "-s", "FLAWLESS_LANGUAGE_ENABLED=false", "-s", "FLAWLESS_FOLLOW_SITEMAPS=false"]
    for setting in settings:
        args += ["-s", setting]
    with log.open("w") as out:
        return subprocess.Popen(args, cwd=PROJECT, env=env, stdout=out, stderr=subprocess.STDOUT)


def test_only_crawls_whose_worker_is_gone_are_closed(db):
    site, _ = SiteRegistry(db).add("https://example.com/", "owner@example.com")
    # An earlier complete crawl saw a problem; a crawl that dies must not mark it fixed.
    first = start_crawl(db, site.id)
    write_batch(db, [Page(url="https://example.com/", final_url="https://example.com/",
                          status=200, site_id=site.id, crawl_id=first, findings=[
                              finding("spelling", "https://example.com/", "error", "teh",
                                      word="teh")])], [])
    db.query("UPDATE crawls SET status = 'complete', finished_at = now() WHERE id = %s", (first,))

    stale_elsewhere = add_crawl(db, site.id, "elsewhere", 4242, "20 minutes")
    live_elsewhere = add_crawl(db, site.id, "elsewhere", 4242, "1 minute")
    dead_here = add_crawl(db, site.id, HOST, dead_pid(), "1 second")
    live_here = add_crawl(db, site.id, HOST, os.getpid(), "1 minute")
    before_heartbeats = add_crawl(db, site.id, None, None, "2 hours")  # a record from before them
    done = add_crawl(db, site.id, "elsewhere", 4242, "2 hours", status="complete")

    reaped = reap_dead_crawls(db, Settings({"FLAWLESS_HEARTBEAT_TIMEOUT": 600}))

    assert sorted(reaped) == sorted([stale_elsewhere, dead_here, before_heartbeats])
    died = ("incomplete", "worker died")
    assert states(db) == {
        first: ("complete", None), stale_elsewhere: died, live_elsewhere: ("running", None),
        dead_here: died, live_here: ("running", None), before_heartbeats: died,
        done: ("complete", None),
    }
    assert db.query("SELECT fixed_at FROM findings") == [{"fixed_at": None}]
    assert reap_dead_crawls(db, Settings({"FLAWLESS_HEARTBEAT_TIMEOUT": 600})) == []


def test_a_killed_crawl_is_closed_by_the_next_sites_list(db, serve, scrapy, scrapy_env, tmp_path):
    site = make_site(tmp_path / "site", '<html><title>Home</title><a href="/__slow/30">slow</a>')
    server = serve(site)
    proc = crawl_in_background(server.url, scrapy_env, tmp_path / "crawl.log",
                               "FLAWLESS_HEARTBEAT_INTERVAL=0.2")
    try:
        # The crawl says where it runs, and its heartbeat goes on while it waits for the page.
        wait_for(lambda: db.query("SELECT 1 FROM crawls WHERE heartbeat_at > started_at"),
                 "a heartbeat")
        assert db.query("SELECT host, pid FROM crawls") == [{"host": HOST, "pid": proc.pid}]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert db.query("SELECT status FROM crawls") == [{"status": "running"}]

    listing = scrapy("sites", "list")

    assert db.query("SELECT status, reason FROM crawls") == [
        {"status": "incomplete", "reason": "worker died"}]
    assert "incomplete" in listing.stdout
    assert "left running by a worker that died" in listing.stderr


def test_a_worker_cut_off_and_reaped_still_records_its_own_outcome(
        db, serve, scrapy, scrapy_env, tmp_path):
    site = make_site(tmp_path / "site", '<html><title>Home</title><a href="/__slow/6">slow</a>')
    server = serve(site)
    log = tmp_path / "crawl.log"
    proc = crawl_in_background(server.url, scrapy_env, log, "FLAWLESS_HEARTBEAT_INTERVAL=60")
    try:
        wait_for(lambda: db.query("SELECT 1 FROM crawls"), "the crawl record")
        # As seen from another machine: its heartbeat stopped 20 minutes ago (a long outage).
        db.query("UPDATE crawls SET host = 'elsewhere', heartbeat_at = now() - interval '20 min'")
        scrapy("sites", "list")
        assert db.query("SELECT status, reason FROM crawls") == [
            {"status": "incomplete", "reason": "worker died"}]
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, log.read_text()[-3000:]
    assert db.query("SELECT status, reason FROM crawls") == [
        {"status": "complete", "reason": None}]


@pytest.mark.parametrize("command", ["crawl", "sites list", "report", "digest", "cron"])
def test_every_command_that_looks_at_crawls_closes_dead_ones(
        command, db, serve, scrapy, scrapy_env, tmp_path):
    server = serve(make_site(tmp_path / "site", "<html><title>Home</title><p>Hello.</p></html>"))
    site, _ = SiteRegistry(db).add(server.url, "owner@example.com")
    dead = add_crawl(db, site.id, HOST, dead_pid(), "1 second")
    if command == "crawl":
        scrapy("crawl", "site", "-a", f"site={site.domain}", "-s", "FLAWLESS_LANGUAGE_ENABLED=false")
    elif command == "cron":
        subprocess.run([PYTHON, "-m", "flawless_spider.cron", "--dry-run"], cwd=PROJECT,
                       env=scrapy_env, capture_output=True, check=True, timeout=120)
    elif command == "report":
        scrapy("report", site.domain, check=False)  # no finished crawl: it says so, and exits 1
    else:
        scrapy(*command.split())
    assert states(db)[dead] == ("incomplete", "worker died")
