"""The cron entry point: crawl every site that is due, then send the digests.

Run by ``scripts/cron`` (e.g. every 15 minutes). Each crawl runs in its own ``scrapy crawl``
process (or, with ``REDIS_URL`` and ``--workers N``, in N processes that share it); a
PostgreSQL advisory lock per site keeps two cron runs (on one machine or several) from
crawling the same site at once.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

from scrapy.settings import Settings
from scrapy.utils.project import get_project_settings

from flawless_spider.config import fail, validate_or_exit
from flawless_spider.crawls import reap_dead_crawls
from flawless_spider.db import Database, DatabaseError
from flawless_spider.db.migrations import SchemaTooNewError

logger = logging.getLogger("flawless.cron")

PROJECT_DIR = Path(__file__).resolve().parents[1]
INTERVALS = {"hourly": timedelta(hours=1), "daily": timedelta(days=1), "weekly": timedelta(weeks=1)}
# A crawl counts for its slot if it started at most this much before the interval ends,
# so a daily cron at 03:00 does not skip a day because yesterday's crawl started at 03:01.
SLACK = timedelta(minutes=10)
_LOCK_BASE = 0x466C0000
# One format for cron's lines and its crawls' (Scrapy's date format, so they line up).
LOG_FORMAT = "%(asctime)s [cron] %(levelname)s: %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
# What cron's crawls log unless its own -s says otherwise: warnings, no progress or summary
# (cron writes one line per site from the crawl record instead).
QUIET = ("-s", "LOG_LEVEL=WARNING", "-s", "FLAWLESS_PROGRESS=false")


def due_sites(db: Database, site_id: int | None = None, retry_delay: float = 900.0) -> list[dict]:
    """Owned sites whose latest full crawl started longer ago than their schedule (or never ran).

    Partial crawls (``-a url=``) do not count. After failed crawls a site is due again sooner:
    ``retry_delay`` seconds after the first failure, doubling with each one, at most its
    schedule. An owner's "check again now" (``check_requested_at``) makes a site due until a
    full crawl starts after it. With ``site_id``, the same question for that one site:
    ``[site]`` if due, else ``[]`` (asked again once its lock is held, as another cron run may
    just have crawled it).
    """
    rows = db.query(
        "SELECT s.id, s.domain, s.schedule, s.failed_crawls, s.check_requested_at, s.settings,"
        " max(c.started_at) AS last_started, now() AS now,"
        " (SELECT l.pages FROM crawls l WHERE l.site_id = s.id AND l.kind = 'full'"
        "  AND l.status IN ('complete', 'incomplete') ORDER BY l.id DESC LIMIT 1) AS last_pages"
        " FROM sites s LEFT JOIN crawls c ON c.site_id = s.id AND c.kind = 'full'"
        " WHERE s.owner_email IS NOT NULL"  # ad-hoc crawls (-a url=) are not scheduled
        "   AND (%(site)s::integer IS NULL OR s.id = %(site)s)"
        " GROUP BY s.id ORDER BY max(c.started_at) NULLS FIRST, s.id",
        {"site": site_id},
    )
    return [r for r in rows if r["last_started"] is None
            or r["now"] - r["last_started"] >= interval(r, retry_delay) - SLACK
            or (r["check_requested_at"] is not None
                and r["check_requested_at"] > r["last_started"])]


def interval(site: dict, retry_delay: float) -> timedelta:
    """How long after its last full crawl started a site is due: its schedule, or the backoff."""
    schedule = INTERVALS[site["schedule"]]
    if not site["failed_crawls"]:
        return schedule
    backoff = timedelta(seconds=retry_delay * 2 ** min(site["failed_crawls"] - 1, 20))
    return min(schedule, backoff)


def next_due(site: dict, retry_delay: float) -> datetime | None:
    """When a site is next due (``site``: a row with ``schedule``, ``failed_crawls`` and
    ``last_started``, its last full crawl); None when it has never been crawled (due now)."""
    if site["last_started"] is None:
        return None
    return site["last_started"] + interval(site, retry_delay) - SLACK


def workers_for(site: dict, workers: int, large_site: int, shared: bool) -> int:
    """How many worker processes crawl ``site``: its own ``workers`` setting (``scrapy sites
    set``), else ``workers`` (for every site, or with ``large_site`` only for sites whose last
    crawl had at least that many pages); always one without ``REDIS_URL``."""
    own = (site.get("settings") or {}).get("workers")
    if isinstance(own, int) and not isinstance(own, bool) and own >= 1:
        count = own
    elif large_site and (site.get("last_pages") or 0) < large_site:
        count = 1
    else:
        count = workers
    if count > 1 and not shared:
        logger.warning("%s asks for %d workers, but REDIS_URL is not set: crawling it with one",
                       site["domain"], count)
        return 1
    return count


def run_crawl(db: Database, site: dict, extra: list[str], retry_delay: float = 900.0,
              workers: int = 1) -> int | None:
    """Crawl one site in ``workers`` child processes (one shared crawl) while holding its lock.

    None when another run holds the lock, or crawled the site between our due query and the
    lock (so two overlapping cron runs crawl each due site once).
    """
    conn = db.connection()
    with conn.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_lock(%s)", (_LOCK_BASE + site["id"],))
        locked = cur.fetchone()[0]
    conn.commit()
    if not locked:
        logger.info("%s is being crawled by another run; skipping", site["domain"])
        return None
    try:
        if not due_sites(db, site["id"], retry_delay):
            logger.info("%s was crawled by another run meanwhile; skipping", site["domain"])
            return None
        logger.debug("Crawling %s (%s)%s", site["domain"], site["schedule"],  # main logs the outcome
                     f" with {workers} workers" if workers > 1 else "")
        # The crawl logs in cron's format, naming its site (a `-s LOG_FORMAT` in extra wins).
        fmt = LOG_FORMAT.replace("cron", site["domain"].replace("%", "%%"))
        command = [sys.executable, "-m", "scrapy", "crawl", "site", "-a", f"site={site['id']}",
                   "-s", f"LOG_FORMAT={fmt}", "-s", f"LOG_DATEFORMAT={DATE_FORMAT}", *extra]
        procs = [subprocess.Popen(command, cwd=PROJECT_DIR, env=os.environ.copy())
                 for _ in range(workers)]
        codes = [proc.wait() for proc in procs]
        return next((code for code in codes if code), 0)
    finally:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_BASE + site["id"],))
        conn.commit()


def crawl_settings(pairs: list[str]) -> Settings:
    """The project's settings with the ``-s NAME=VALUE`` pairs given to cron applied, validated."""
    settings = get_project_settings()
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            fail(f"-s takes NAME=VALUE, not {pair!r}")
        settings.set(name.strip(), value, priority="cmdline")
    validate_or_exit(settings)
    return settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/cron",
        description="Crawl every registered site that is due by its schedule, then send digests.",
    )
    parser.add_argument("--dry-run", action="store_true", help="list the due sites, crawl nothing")
    parser.add_argument("--no-digest", action="store_true", help="do not send digests afterwards")
    parser.add_argument("-s", "--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting passed to every crawl (like scrapy -s)")
    parser.add_argument("--workers", type=int, default=1, metavar="N",
                        help="worker processes sharing each crawl (needs REDIS_URL; a site's own"
                             " 'workers' setting wins)")
    parser.add_argument("--large-site", type=int, default=0, metavar="PAGES",
                        help="use --workers only for sites whose last crawl had at least PAGES"
                             " pages")
    args = parser.parse_args(argv)
    if args.workers < 1 or args.large_site < 0:
        fail("--workers takes a whole number of at least 1, --large-site one of at least 0")
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, datefmt=DATE_FORMAT)
    os.chdir(PROJECT_DIR)
    settings = crawl_settings(args.set)
    shared = bool(settings.get("REDIS_URL"))
    if args.workers > 1 and not shared:
        fail("--workers needs REDIS_URL: the workers of a crawl share it through Redis")
    retry_delay = settings.getfloat("FLAWLESS_FAILED_RETRY_DELAY")
    db = Database.from_settings(settings)
    try:
        reap_dead_crawls(db, settings)  # a dead crawl must not look like one still running
        sites = due_sites(db, retry_delay=retry_delay)
        if args.dry_run:
            print_due(db, sites, retry_delay)
            return 0
        failures = 0
        extra = [*QUIET, *(part for value in args.set for part in ("-s", value))]
        for site in sites:
            code = run_crawl(db, site, extra, retry_delay,
                             workers_for(site, args.workers, args.large_site, shared))
            if code is None:
                continue
            log_outcome(db, site, code)
            failures += bool(code)
        if not args.no_digest:
            failures += send_digests()
        logger.info("Done: %d site(s) due, %d problem(s)", len(sites), failures)
        return 1 if failures else 0
    except (DatabaseError, SchemaTooNewError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        db.close()


def print_due(db: Database, sites: list[dict], retry_delay: float) -> None:
    """``--dry-run``: the due sites as a table, with when each became due."""
    if not sites:
        rows = db.query("SELECT s.id, s.schedule, s.failed_crawls, max(c.started_at) AS"
                        " last_started FROM sites s JOIN crawls c ON c.site_id = s.id"
                        " AND c.kind = 'full' WHERE s.owner_email IS NOT NULL GROUP BY s.id")
        times = [t for t in (next_due(r, retry_delay) for r in rows) if t is not None]
        after = f"; the next one is due at {min(times):%Y-%m-%d %H:%M %Z}" if times else ""
        print(f"no site is due (see `scrapy sites list` for the last crawls){after}")
        return
    table = [("ID", "SITE", "EVERY", "LAST FULL CRAWL", "DUE SINCE")] + [
        (str(site["id"]), site["domain"], site["schedule"],
         f"{site['last_started']:%Y-%m-%d %H:%M %Z}" if site["last_started"] else "never",
         f"{due:%Y-%m-%d %H:%M %Z}" if (due := next_due(site, retry_delay)) else "now")
        for site in sites
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    print(f"\n{len(sites)} site(s) due; `scripts/cron` would crawl them now")


def log_outcome(db: Database, site: dict, code: int) -> None:
    """One line for the site's crawl, from its record: status, reason and counts."""
    from flawless_spider.progress import one_line
    from flawless_spider.sites import SiteRegistry

    try:
        rows = db.query("SELECT id FROM crawls WHERE site_id = %s AND kind = 'full'"
                        " ORDER BY id DESC LIMIT 1", (site["id"],))
        line = one_line(db, SiteRegistry(db).get(site["id"]), rows[0]["id"]) if rows else ""
    except (DatabaseError, SchemaTooNewError, LookupError, ValueError) as exc:
        line = f"{site['domain']}: no crawl record ({exc})"
    if not line:
        line = f"{site['domain']}: no crawl record"
    if code:
        logger.error("%s; the crawl exited with status %d", line, code)
    elif ": complete" in line:
        logger.info("%s", line)
    else:
        logger.warning("%s", line)


def send_digests() -> int:
    """``scrapy digest --send``, its output logged in cron's format; 1 if it failed."""
    done = subprocess.run([sys.executable, "-m", "scrapy", "digest", "--send"], cwd=PROJECT_DIR,
                          capture_output=True, text=True)
    for line in done.stdout.splitlines():
        if line.strip():
            logger.info("digest: %s", line)
    for line in done.stderr.splitlines():
        if line.strip():
            logger.warning("digest: %s", line.removeprefix("error: "))
    return 1 if done.returncode else 0


if __name__ == "__main__":
    sys.exit(main())
