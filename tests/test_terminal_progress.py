"""What a crawl shows: a live line on a terminal (a real pseudo-terminal), a summary at the end."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

from tests.conftest import PROJECT
from tests.crawlkit import FAST_LINKS, make_site


def run_in_terminal(args: list[str], env: dict[str, str]) -> str:
    """Run ``python -m scrapy ARGS`` with a pseudo-terminal as its stdin, stdout and stderr."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "scrapy", *args], cwd=PROJECT,
                            env={**env, "COLUMNS": "160", "TERM": "xterm"},
                            stdin=follower, stdout=follower, stderr=follower)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert proc.wait(timeout=120) == 0, b"".join(chunks).decode(errors="replace")
    return b"".join(chunks).decode(errors="replace")


def small_site(tmp_path):
    site = make_site(tmp_path / "s", '<p>Hello.</p><a href="/a.html">a</a><a href="/gone">x</a>')
    (site / "a.html").write_text("<p>A page.</p>")
    return site


def test_a_crawl_at_a_terminal_shows_live_progress_and_a_summary(serve, scrapy_env, tmp_path):
    srv = serve(small_site(tmp_path))
    host = srv.url.split("/")[2]
    out = run_in_terminal(["crawl", "site", "-a", f"url={srv.url}", *FAST_LINKS], scrapy_env)
    assert f"Crawling {host}" in out and " pages, " in out and " links checked, " in out
    assert "\r" in out  # redrawn in place
    assert "[scrapy.utils.log] INFO" not in out and "Scrapy 2." not in out  # quiet start-up
    summary = out[out.index("Crawl 1 of"):]
    assert summary.replace("\r\n", "\n").startswith(
        f"Crawl 1 of {host} complete in ")
    assert "  2 pages checked\n" in summary.replace("\r\n", "\n")
    assert "  1 broken links\n" in summary.replace("\r\n", "\n")
    assert f"Full list: scrapy report {host} --crawl 1" in summary


def test_a_crawl_into_a_log_prints_plain_lines_and_the_summary(serve, scrapy, tmp_path):
    srv = serve(small_site(tmp_path))
    result = scrapy("crawl", "site", "-a", f"url={srv.url}", *FAST_LINKS)
    assert "\r" not in result.stderr and "\x1b[" not in result.stderr
    assert "Done: 3 pages done, 0 queued" in result.stderr
    assert result.stdout.startswith("Crawl 1 of ")
    quiet = scrapy("crawl", "site", "-a", f"url={srv.url}", *FAST_LINKS, "-s", "LOG_LEVEL=WARNING")
    assert " INFO: " not in quiet.stderr and "  1 broken links" in quiet.stdout  # says so
    off = scrapy("crawl", "site", "-a", f"url={srv.url}", *FAST_LINKS, "-s",
                 "FLAWLESS_PROGRESS=false")
    assert off.stdout == ""
