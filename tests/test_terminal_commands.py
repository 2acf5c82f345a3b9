"""The commands behave like their peers: unknown options, closed pipes, careful `sites add`,
lookup by host, `sites set`, `sites remove` that asks, `sites list` with next due times."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

from flawless_spider.sites import SiteRegistry
from tests.conftest import PROJECT


def test_unknown_options_are_named(scrapy):
    listing = scrapy("sites", "list", "--foo", check=False)
    assert listing.returncode == 2 and "unknown option --foo" in listing.stderr
    report = scrapy("report", "1", "--fromat", "csv", check=False)
    assert report.returncode == 2
    assert "unknown option --fromat (did you mean --format?)" in report.stderr
    assert "give one SITE" not in report.stderr
    crawl = scrapy("crawl", "site", "-a", "url=http://127.0.0.1:9/", "--dept", "2", check=False)
    assert crawl.returncode == 2 and "unknown option --dept" in crawl.stderr
    misplaced = scrapy("sites", "list", "--exclude", "x", check=False)
    assert misplaced.returncode == 2 and "--exclude goes with `sites set`" in misplaced.stderr


def test_a_pipe_closed_early_ends_quietly(scrapy, scrapy_env, db):
    scrapy("sites", "add", "example.com", "--email", "owner@example.com")
    site = SiteRegistry(db).get("example.com")
    SiteRegistry(db).add_words(site, [f"word{n:05d}-padding-padding" for n in range(8000)])
    reader = subprocess.Popen([sys.executable, "-m", "scrapy", "sites", "words", "list",
                               "example.com"], cwd=PROJECT, env=scrapy_env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert reader.stdout.readline().startswith(b"word00000")
    reader.stdout.close()  # like `| head -1`
    stderr = reader.stderr.read().decode()
    reader.wait(timeout=60)
    reader.stderr.close()
    assert stderr == ""
    assert reader.returncode == 0


def test_sites_add_never_changes_scheme_or_owner_silently(scrapy, db):
    scrapy("sites", "add", "http://127.0.0.1:8080/", "--email", "a@example.com")
    again = scrapy("sites", "add", "127.0.0.1:8080", "--every", "weekly")
    assert "Updated site 1: http://127.0.0.1:8080/" in again.stdout
    https = scrapy("sites", "add", "https://127.0.0.1:8080/", check=False)
    assert https.returncode == 1
    assert ("would change its address http://127.0.0.1:8080/ -> https://127.0.0.1:8080/. Add "
            "--update") in https.stderr
    owner = scrapy("sites", "add", "127.0.0.1:8080", "--email", "b@example.com", check=False)
    assert owner.returncode == 1 and "owner a@example.com -> b@example.com" in owner.stderr
    [row] = db.query("SELECT url, owner_email, schedule FROM sites")
    assert row == {"url": "http://127.0.0.1:8080/", "owner_email": "a@example.com",
                   "schedule": "weekly"}
    moved = scrapy("sites", "add", "127.0.0.1:8080", "--email", "b@example.com", "--update")
    assert "changed: owner a@example.com -> b@example.com" in moved.stdout
    assert db.query("SELECT owner_email FROM sites") == [{"owner_email": "b@example.com"}]


def test_sites_are_found_by_host_without_port_and_suggested(scrapy):
    scrapy("sites", "add", "http://127.0.0.1:8080/", "--email", "a@example.com")
    scrapy("sites", "add", "https://example.com/", "--email", "a@example.com")
    found = scrapy("report", "127.0.0.1", check=False)
    assert "127.0.0.1:8080 has no finished crawl yet" in found.stderr
    typo = scrapy("sites", "set", "exmaple.com", check=False)
    assert typo.returncode == 1
    assert "no such site: 'exmaple.com'; did you mean example.com?" in typo.stderr
    scrapy("sites", "add", "http://127.0.0.1:8081/", "--email", "a@example.com")
    both = scrapy("report", "127.0.0.1", check=False)
    assert "matches several sites: 127.0.0.1:8080, 127.0.0.1:8081; give the port" in both.stderr


def test_sites_set_stores_options_and_refuses_bad_ones(scrapy, db):
    scrapy("sites", "add", "https://example.com/", "--email", "a@example.com")
    shown = scrapy("sites", "set", "example.com", "--exclude", "/calendar/", "--exclude",
                   r"\?print=", "--include", "^https://example.com/docs/", "--skip-selector",
                   ".comments", "--workers", "3", "--every", "hourly").stdout
    assert "exclude: /calendar/" in shown and "skip selector: .comments" in shown
    [row] = db.query("SELECT settings, schedule FROM sites")
    assert row["schedule"] == "hourly"
    assert row["settings"] == {"exclude": ["/calendar/", r"\?print="],
                               "include": ["^https://example.com/docs/"],
                               "skip_selectors": [".comments"], "workers": 3}
    for args, message in [(("--exclude", "(unclosed"), "--exclude: not a regular expression"),
                          (("--skip-selector", "p[["), "--skip-selector: not a CSS selector"),
                          (("--workers", "0"), "--workers must be at least 1")]:
        bad = scrapy("sites", "set", "example.com", *args, check=False)
        assert bad.returncode == 2, bad
        assert bad.stderr.startswith("error: " + message) and len(bad.stderr.splitlines()) == 1
    scrapy("sites", "set", "example.com", "--include", "")
    assert "include" not in db.query("SELECT settings FROM sites")[0]["settings"]


def test_sites_remove_asks_or_takes_yes(scrapy, db):
    scrapy("sites", "add", "https://example.com/", "--email", "a@example.com")
    unsure = scrapy("sites", "remove", "example.com", check=False)
    assert unsure.returncode == 2 and "add --yes to confirm" in unsure.stderr
    assert len(db.query("SELECT id FROM sites")) == 1
    gone = scrapy("sites", "remove", "example.com", "--yes")
    assert "Removed site 1: https://example.com/ and all its history (0 crawls" in gone.stdout
    assert db.query("SELECT id FROM sites") == []


def test_sites_list_shows_next_due_times(serve, scrapy, db):
    srv = serve("basic")
    scrapy("sites", "add", srv.url, "--email", "a@example.com", "--every", "daily")
    scrapy("sites", "add", "https://example.com/", "--email", "a@example.com")
    scrapy("crawl", "site", "-a", f"url={srv.url}", "-s", "LOG_LEVEL=WARNING")  # partial
    listing = scrapy("sites", "list").stdout.splitlines()
    assert listing[0].split()[-6:] == ["LAST", "CRAWL", "NEXT", "DUE", "PAGES", "OPEN"]
    assert listing[1].split()[-3:-2] == ["now"] and listing[2].split()[-3:-2] == ["now"]
    scrapy("crawl", "site", "-a", f"site={srv.url}", "-s", "LOG_LEVEL=WARNING")
    [started] = db.query("SELECT started_at, finished_at FROM crawls WHERE kind = 'full'")
    row = scrapy("sites", "list").stdout.splitlines()[1]
    due = started["started_at"] + timedelta(days=1, minutes=-10)  # the schedule's slack
    assert f" complete {started['finished_at']:%Y-%m-%d %H:%M} " in row
    assert f" {due:%Y-%m-%d %H:%M} " in row


def test_digest_send_now_retries_a_waiting_digest(serve, scrapy):
    srv = serve("basic")
    scrapy("sites", "add", srv.url, "--email", "owner@example.com")
    scrapy("crawl", "site", "-a", f"site={srv.url}", "-s", "LOG_LEVEL=WARNING")
    failed = scrapy("digest", "--send", check=False, SMTP_URL="smtp://127.0.0.1:9")
    assert "will retry" in failed.stderr
    assert "nothing to send" in scrapy("digest", "--send").stdout  # waits for its retry time
    now = scrapy("digest", "--send", "--now").stdout
    assert "retrying 1 waiting digest(s) now" in now and "sent #1 to owner@example.com" in now


def test_sites_remove_at_a_terminal_asks_first(scrapy, scrapy_env, db):
    import os
    import pty

    scrapy("sites", "add", "https://example.com/", "--email", "a@example.com")
    for answer, left in ((b"n\n", 1), (b"y\n", 0)):
        leader, follower = pty.openpty()
        proc = subprocess.Popen([sys.executable, "-m", "scrapy", "sites", "remove", "example.com"],
                                cwd=PROJECT, env=scrapy_env, stdin=follower, stdout=follower,
                                stderr=follower)
        os.close(follower)
        out = b""
        while b"[y/N]" not in out:
            out += os.read(leader, 4096)
        os.write(leader, answer)
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        os.close(leader)
        assert proc.wait(timeout=60) == 0, out
        assert b"Remove site 1: https://example.com/ and all its history" in out
        assert len(db.query("SELECT id FROM sites")) == left, out
