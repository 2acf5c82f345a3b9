"""The database goes away during a crawl (stopped for real, then started again): nothing is lost.

These tests run a PostgreSQL of their own (tests/pgserver.py), since the shared one must stay up.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg2
import pytest

from tests.conftest import PROJECT, PYTHON
from tests.crawlkit import make_site
from tests.pgserver import PgServer

PAGES = 300


@pytest.fixture(scope="module")
def pg() -> Iterator[PgServer]:
    # Not in tmp_path: as root the server runs as another account, and every pytest session
    # that starts makes /tmp/pytest-of-root private again, cutting it off from its files.
    with tempfile.TemporaryDirectory(prefix="flawless-pg-") as folder:
        server = PgServer(Path(folder) / "pg")
        server.start()
        yield server
        if server.running():
            server.stop()


@pytest.fixture
def pg_url(pg: PgServer) -> str:
    """A fresh database on the test's own server, which is running when the test starts."""
    if not pg.running():
        pg.start()
    return pg.create_database(f"flawless_o_{uuid.uuid4().hex[:10]}")


def query(url: str, sql: str) -> list[tuple]:
    """One query on a fresh connection; [] while the database is down or not migrated yet."""
    try:
        conn = psycopg2.connect(url, connect_timeout=2)
    except psycopg2.OperationalError:
        return []
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()
    except psycopg2.errors.UndefinedTable:
        return []
    finally:
        conn.close()


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def start_crawl(url: str, env: dict[str, str], db_url: str, log: Path, *settings: str):
    """``scrapy crawl site -a url=URL`` in the background, its log in ``log``."""
    args = [PYTHON, "-m", "scrapy", "crawl", "site", "-a", f"url={url}",
            "-s", "FLAWLESS_LANGUAGE_ENABLED=false", "-s", "FLAWLESS_FOLLOW_SITEMAPS=false",
            "-s", "AUTOTHROTTLE_ENABLED=false", "-s", "LOG_LEVEL=INFO"]
    for setting in settings:
        args += ["-s", setting]
    with log.open("w") as out:
        return subprocess.Popen(args, cwd=PROJECT, env={**env, "DATABASE_URL": db_url},
                                stdout=out, stderr=subprocess.STDOUT, text=True)


def finish(proc: subprocess.Popen, log: Path) -> str:
    try:
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return log.read_text()


def test_database_stopped_mid_crawl_loses_no_page(pg, pg_url, serve, scrapy_env, tmp_path):
    # A site of PAGES pages, fetched one at a time, so the crawl outlasts the outage.
    links = "".join(f'<li><a href="/p/{n}.html">page {n}</a></li>' for n in range(PAGES))
    site = make_site(tmp_path / "site", f"<html><title>Home</title><ul>{links}</ul></html>")
    (site / "p").mkdir()
    for n in range(PAGES):
        (site / "p" / f"{n}.html").write_text(
            f'<html><title>Page {n}</title><p>Page {n}.</p><a href="/">home</a></html>')
    server = serve(site)
    log = tmp_path / "crawl.log"
    max_buffer, batch = 60, 10
    proc = start_crawl(server.url, scrapy_env, pg_url, log, "CONCURRENT_REQUESTS=2",
                       "DOWNLOAD_DELAY=0.02", f"FLAWLESS_DB_BATCH_SIZE={batch}",
                       f"FLAWLESS_DB_MAX_BUFFER={max_buffer}", "FLAWLESS_LINKS_ENABLED=false")
    try:
        wait_for(lambda: (query(pg_url, "SELECT count(*) FROM pages") or [(0,)])[0][0] >= 30,
                 "the first pages to be stored")
        pg.stop()
        stopped = time.monotonic()
        time.sleep(6)
        restarting = time.monotonic()
        pg.start()
    finally:
        output = finish(proc, log)
    assert proc.returncode == 0, output[-4000:]

    # The outage really happened mid-crawl, and the crawl said so once each way.
    assert output.count("The database went away while storing pages") == 1, output[-4000:]
    assert output.count("The database is back after") == 1
    assert "crawl paused" in output and "Crawl resumed" in output
    # Past the buffer's bound the crawl was paused: it did not fetch the site during the outage.
    during = [e for e in server.log() if stopped < e["t"] < restarting]
    assert len(during) <= max_buffer + 2 * batch + 5, len(during)
    # Nothing lost, nothing logged as lost.
    assert " ERROR: " not in output and "not stored" not in output and "are lost" not in output
    stored = query(pg_url, "SELECT count(*) FROM pages")[0][0]
    assert stored == PAGES + 1
    assert query(pg_url, "SELECT status, reason, pages FROM crawls") == [
        ("complete", None, PAGES + 1)]


def test_database_down_at_close_the_record_is_closed_when_it_returns(
        pg, pg_url, serve, scrapy_env, tmp_path):
    # Every page is stored as it comes (batches of 1); the crawl's last step is a slow image
    # check, during which the database is stopped, so the close meets the outage.
    site = make_site(tmp_path / "site", '<html><title>Home</title><img src="/__slow/3" alt="">'
                     + "".join(f'<a href="/{n}.html">{n}</a>' for n in range(5)) + "</html>")
    for n in range(5):
        (site / f"{n}.html").write_text(f"<html><title>{n}</title><p>Page {n}.</p></html>")
    server = serve(site)
    log = tmp_path / "crawl.log"
    proc = start_crawl(server.url, scrapy_env, pg_url, log, "FLAWLESS_DB_BATCH_SIZE=1",
                       "FLAWLESS_LINK_TIMEOUT=20", "FLAWLESS_HEARTBEAT_INTERVAL=0.5")
    try:
        wait_for(lambda: query(pg_url, "SELECT count(*) FROM pages") == [(6,)],
                 "every page to be stored")
        pg.stop()
        wait_for(lambda: "Closing spider (finished)" in log.read_text(), "the crawl to end")
        time.sleep(3)
        pg.start()
    finally:
        output = finish(proc, log)
    assert proc.returncode == 0, output[-4000:]
    closing = output.index("Closing spider (finished)")
    went = output.index("The database went away while closing the crawl record")
    assert closing < went < output.index("The database is back after"), output[-4000:]
    assert query(pg_url, "SELECT status, reason, pages, finished_at IS NOT NULL FROM crawls") == [
        ("complete", None, 6, True)]


def test_an_outage_longer_than_the_timeout_stops_the_crawl_and_says_so(
        pg, pg_url, serve, scrapy_env, tmp_path):
    links = "".join(f'<a href="/{n}.html">{n}</a>' for n in range(200))
    site = make_site(tmp_path / "site", f"<html><title>Home</title>{links}</html>")
    for n in range(200):
        (site / f"{n}.html").write_text(f"<html><title>{n}</title><p>Page {n}.</p></html>")
    server = serve(site)
    log = tmp_path / "crawl.log"
    proc = start_crawl(server.url, scrapy_env, pg_url, log, "CONCURRENT_REQUESTS=2",
                       "DOWNLOAD_DELAY=0.02", "FLAWLESS_DB_BATCH_SIZE=10",
                       "FLAWLESS_DB_OUTAGE_TIMEOUT=2", "FLAWLESS_LINKS_ENABLED=false")
    try:
        wait_for(lambda: (query(pg_url, "SELECT count(*) FROM pages") or [(0,)])[0][0] >= 20,
                 "the first pages to be stored")
        pg.stop()
        proc.wait(timeout=60)
    finally:
        output = finish(proc, log)
        pg.start()
    # It gave up once, said how many pages were lost, and failed (exit status 1).
    assert output.count("Giving up on the database: the database has been unreachable") == 1
    assert " pages of crawl 1 were not stored: the database was unreachable" in output
    assert proc.returncode == 1
    # Its record could not be closed; the next command that looks closes it.
    assert query(pg_url, "SELECT status FROM crawls") == [("running",)]
    listing = subprocess.run([PYTHON, "-m", "scrapy", "sites", "list"], cwd=PROJECT,
                             env={**scrapy_env, "DATABASE_URL": pg_url}, capture_output=True,
                             text=True, check=True, timeout=60)
    assert "left running by a worker that died" in listing.stderr
    assert query(pg_url, "SELECT status, reason FROM crawls") == [("incomplete", "worker died")]
