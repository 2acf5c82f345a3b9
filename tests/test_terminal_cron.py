"""`scripts/cron` logs: one timestamped line per site with its outcome and counts; a due table."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import PROJECT
from tests.crawlkit import FAST_LINKS, make_site

LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[[^\]]+\] (INFO|WARNING|ERROR): ")


def cron(env, *args):
    return subprocess.run([sys.executable, "-m", "flawless_spider.cron", *args], cwd=PROJECT,
                          env=env, capture_output=True, text=True, timeout=180)


def test_cron_logs_one_line_per_site_in_one_format(serve, scrapy, scrapy_env, tmp_path, db):
    good = make_site(tmp_path / "good", '<p>Hello.</p><a href="/gone">gone</a>')
    down = make_site(tmp_path / "down", "<p>Down.</p>")
    (down / "_status.json").write_text('{"/": 503}')
    servers = [serve(good), serve(down)]
    for srv in servers:
        scrapy("sites", "add", srv.url, "--email", "owner@example.com")
    table = cron(scrapy_env, "--dry-run").stdout.splitlines()
    assert table[0].split()[:3] == ["ID", "SITE", "EVERY"] and "DUE SINCE" in table[0]
    assert [row.split()[-1] for row in table[1:3]] == ["now", "now"]
    result = cron(scrapy_env, *FAST_LINKS, "-s", "RETRY_TIMES=0")
    lines = result.stderr.splitlines()
    assert all(LINE.match(line) for line in lines), result.stderr
    assert "Scrapy 2." not in result.stderr and "Enabled extensions" not in result.stderr
    hosts = [srv.url.split("/")[2] for srv in servers]
    [ok] = [line for line in lines if f"] INFO: {hosts[0]}: complete" in line]
    assert ok.endswith(", 1 pages, 1 broken links, 0 misspelt words, 0 grammar, 1 new, 0 fixed"
                       f" (crawl 1, {ok.split(', ')[-1]}")
    [failed] = [line for line in lines if f": {hosts[1]}: failed" in line]
    assert "ERROR" in failed and "the start page answered HTTP 503" in failed
    assert "the crawl exited with status 1" in failed
    for host in hosts:  # one line of cron's per site; the crawls add only their warnings
        assert sum("[cron] " in line and host in line and "digest:" not in line
                   for line in lines) == 1, result.stderr
        assert not [line for line in lines if f"[{host}] INFO" in line], result.stderr
    assert any("[cron] INFO: digest: sent #1 to owner@example.com" in line for line in lines)
    assert result.stdout == ""
    nothing = cron(scrapy_env, "--dry-run").stdout
    assert nothing.startswith("no site is due") and "the next one is due at " in nothing
