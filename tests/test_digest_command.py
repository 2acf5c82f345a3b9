"""``scrapy digest`` as an operator runs it, and the whole loop: crawl, change the site, crawl."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_digest_support import (
    SMTPServer,
    add_site,
    crawl,
    link,
    outbox_rows,
    parts,
    running_smtp_server,
    word,
)


@pytest.fixture
def smtp_server() -> Iterator[SMTPServer]:
    with running_smtp_server() as server:
        yield server


def late_owner(db) -> int:
    """A site crawled before it had an owner: its digest is due but not queued."""
    site = add_site(db, email=None)
    crawl(db, site, [link("https://example.com/", "https://example.com/gone"),
                     word("https://example.com/", "recieve", ("receive",))])
    db.query("UPDATE sites SET owner_email = 'owner@example.com'")
    return site


def test_dry_run_queue_and_send_to_files(db, scrapy, tmp_path):
    late_owner(db)
    dry = scrapy("digest", "--dry-run")
    assert "=== would queue: example.com" in dry.stdout
    assert "Subject: Flawless: 2 new problems on example.com" in dry.stdout
    assert "https://example.com/gone" in dry.stdout and "dry run: nothing queued" in dry.stdout
    assert outbox_rows(db) == []

    queued = scrapy("digest")
    assert "queued digest #1 for example.com to owner@example.com" in queued.stdout
    assert len(outbox_rows(db)) == 1
    assert "no new digest due" in scrapy("digest").stdout  # queued once
    assert "queued #1 for example.com" in scrapy("digest", "--dry-run").stdout

    sent = scrapy("digest", "--send")
    assert "sent #1 to owner@example.com" in sent.stdout
    folder = tmp_path / "state" / "outbox"
    assert sorted(p.suffix for p in folder.iterdir()) == [".eml", ".html"]
    assert outbox_rows(db)[0]["status"] == "sent"
    assert "nothing to send" in scrapy("digest", "--send").stdout


def test_send_over_smtp(db, scrapy, smtp_server):
    late_owner(db)
    result = scrapy("digest", "--send", "--site", "example.com", SMTP_URL=smtp_server.url)
    assert "sent #1" in result.stdout
    [received] = smtp_server.sink.received
    assert received.message["Subject"] == "Flawless: 2 new problems on example.com"


def test_smtp_down_exits_nonzero_and_keeps_the_queue(db, scrapy):
    late_owner(db)
    result = scrapy("digest", "--send", check=False, SMTP_URL="smtp://127.0.0.1:9")
    assert result.returncode == 1
    assert "cannot reach the SMTP server" in result.stderr and "Traceback" not in result.stderr
    assert outbox_rows(db)[0]["status"] == "queued"


@pytest.mark.parametrize(
    ("args", "env", "code", "message"),
    [
        (["--site", "nosuch.example"], {}, 1, "no such site"),
        (["--send", "--dry-run"], {}, 2, "not allowed with argument"),
        (["extra"], {}, 2, "unexpected argument"),
        # Bad settings are usage errors, caught before anything runs (flawless_spider/config.py).
        (["--send"], {"SMTP_URL": "http://mail.example"}, 2, "SMTP_URL must be empty or a URL"
         " like smtp://user:pass@host:port or smtps://..., not 'http://mail.example'"),
        (["--dry-run"], {"FLAWLESS_MAIL_FROM": "a@b.example, c@d.example"}, 2,
         "FLAWLESS_MAIL_FROM must be one e-mail address"),
    ],
)
def test_user_mistakes_are_clear(db, scrapy, args, env, code, message):
    late_owner(db)
    result = scrapy("digest", *args, check=False, **env)
    assert result.returncode == code
    assert message in result.stderr and "Traceback" not in result.stderr


def _stages_ready() -> bool:
    try:
        importlib.import_module("pipelines.links").LinkCheckPipeline  # noqa: B018
        importlib.import_module("pipelines.language").LanguagePipeline  # noqa: B018
    except (ImportError, AttributeError):
        return False
    return True


INDEX = """<!doctype html>
<html lang="en"><head><title>Home</title></head>
<body><h1>Welcome</h1>
<p>You will {word} a letter from the team every week.</p>
<p>Read <a href="/about.html">about us</a> and the <a href="/{target}">old page</a>.</p>
</body></html>
"""
ABOUT = """<!doctype html>
<html lang="en"><head><title>About</title></head>
<body><p>We are a small team that writes software.</p><p><a href="/">Home</a></p></body></html>
"""


@pytest.mark.skipif(not _stages_ready(), reason="the link and language stages have not landed")
def test_crawl_change_crawl_reports_exactly_new_and_fixed(db, scrapy, serve, smtp_server,
                                                          tmp_path: Path):
    root = tmp_path / "site"
    root.mkdir()
    (root / "index.html").write_text(INDEX.format(word="recieve", target="missing.html"))
    (root / "about.html").write_text(ABOUT)
    server = serve(root)
    scrapy("sites", "add", server.url, "--email", "owner@example.com")
    scrapy("crawl", "site", "-a", f"site={server.url}")
    scrapy("digest", "--send", SMTP_URL=smtp_server.url)
    [first] = smtp_server.sink.received
    text, _ = parts(first.message)
    assert f"{server.url}missing.html" in text and '"recieve"' in text
    assert "FIXED" not in text

    # Fix both problems, make two new ones.
    (root / "index.html").write_text(INDEX.format(word="accomodate", target="gone.html"))
    scrapy("crawl", "site", "-a", f"site={server.url}")
    scrapy("digest", "--send", SMTP_URL=smtp_server.url)
    assert len(smtp_server.sink.received) == 2
    text, _ = parts(smtp_server.sink.received[1].message)
    new, _, fixed = text.partition("FIXED SINCE THE LAST DIGEST")
    assert f"{server.url}gone.html" in new and '"accomodate"' in new
    assert "missing.html" not in new and "recieve" not in new
    assert f"{server.url}missing.html" in fixed and '"recieve"' in fixed
    assert "gone.html" not in fixed and "accomodate" not in fixed
    assert "New: 2    Fixed: 2    Open now: 2" in text
    assert "STILL OPEN FROM EARLIER DIGESTS" not in text  # both old problems are gone

    # Crawl again without changes: nothing new, nothing fixed, no e-mail.
    scrapy("crawl", "site", "-a", f"site={server.url}")
    scrapy("digest", "--send", SMTP_URL=smtp_server.url)
    assert len(smtp_server.sink.received) == 2
