"""``scripts/cron``: crawls what is due, skips what is not, never two crawls of one site at once."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import PROJECT
from tests.crawlkit import FAST_LINKS, make_site


def cron(env, *args):
    return subprocess.run([sys.executable, "-m", "flawless_spider.cron", *args], cwd=PROJECT,
                          env=env, capture_output=True, text=True, timeout=180)


def test_cron_crawls_due_sites_once(serve, scrapy, scrapy_env, db):
    srv = serve("basic")
    scrapy("sites", "add", srv.url, "--email", "owner@example.com", "--every", "daily")
    # An ad-hoc crawl registers a site without an owner: nobody would read its digests.
    scrapy("crawl", "site", "-a", "url=http://127.0.0.1:9/", check=False)
    assert "127.0.0.1:9\t" not in cron(scrapy_env, "--dry-run").stdout
    listed = cron(scrapy_env, "--dry-run")
    assert listed.returncode == 0 and "never" in listed.stdout
    first = cron(scrapy_env, "--no-digest")
    assert first.returncode == 0, first.stderr
    assert [c["status"] for c in db.query("SELECT status FROM crawls")] == ["failed", "complete"]
    # Not due again within the day: nothing is crawled.
    second = cron(scrapy_env, "--no-digest")
    assert second.returncode == 0
    assert "0 site(s) due" in second.stderr
    assert len(db.query("SELECT id FROM crawls")) == 2
    # Once the day has passed it is due again.
    db.query("UPDATE crawls SET started_at = started_at - interval '1 day'")
    assert "127.0.0.1" in cron(scrapy_env, "--dry-run").stdout


def test_a_site_locked_by_another_run_is_skipped(serve, scrapy, scrapy_env, db_url, db):
    import psycopg2

    from flawless_spider.cron import _LOCK_BASE

    srv = serve("basic")
    scrapy("sites", "add", srv.url, "--email", "owner@example.com")
    [site] = db.query("SELECT id FROM sites")
    holder = psycopg2.connect(db_url)
    with holder.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s)", (_LOCK_BASE + site["id"],))
    try:
        result = cron(scrapy_env, "--no-digest")
        assert result.returncode == 0
        assert "being crawled by another run" in result.stderr
        assert db.query("SELECT id FROM crawls") == []
    finally:
        holder.close()


def test_two_overlapping_runs_crawl_each_due_site_once(serve, scrapy, scrapy_env, db, tmp_path):
    # The first site is slow, so while one run crawls it the other crawls the rest; a run that
    # decided due-ness before the lock would then crawl those again once it gets to them.
    slow = make_site(tmp_path / "slow", '<a href="/__slow/3">slow page</a>')
    servers = [serve(slow), serve("basic"), serve("basic")]
    for srv in servers:
        scrapy("sites", "add", srv.url, "--email", "owner@example.com")
    command = [sys.executable, "-m", "flawless_spider.cron", "--no-digest", *FAST_LINKS]
    runs = [subprocess.Popen(command, cwd=PROJECT, env=scrapy_env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=180) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    crawls = db.query("SELECT site_id, status FROM crawls ORDER BY site_id")
    assert crawls == [{"site_id": i, "status": "complete"} for i in (1, 2, 3)], outputs
    assert sum(srv.paths().count("/") for srv in servers) == 3
