"""Delivery through a real SMTP server (aiosmtpd on loopback): bytes, retries, no duplicates."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import lxml.html
import pytest

from flawless_spider.db import Database
from pipelines.digest import send_outbox
from pipelines.digest.send import Sender
from tests.test_digest_support import (
    SMTPServer,
    SMTPSink,
    add_site,
    crawl,
    free_port,
    link,
    outbox_rows,
    parts,
    running_smtp_server,
    settings,
    word,
)


@pytest.fixture
def smtp_server() -> Iterator[SMTPServer]:
    with running_smtp_server() as server:
        yield server


def queue_one(db: Database, **cfg) -> int:
    site = add_site(db)
    crawl(
        db, site,
        [link("https://example.com/docs", "https://example.com/gone"),
         link("https://example.com/docs", "javascript:alert(1)", status=None, error="invalid_url"),
         word("https://example.com/docs", "recieve", ("receive",), "We <b>recieve</b> mail.")],
        titles={"https://example.com/docs": "Docs <script>alert('x')</script>"},
        cfg=settings(**cfg),
    )
    return outbox_rows(db)[0]["id"]


def test_bytes_on_the_wire(db, smtp_server):
    queue_one(db, FLAWLESS_UNSUBSCRIBE_URL="https://flawless.example/unsub?site={site_id}")
    result = send_outbox(db, settings(SMTP_URL=smtp_server.url))
    assert len(result.sent) == 1 and not result.failed
    [received] = smtp_server.sink.received
    assert received.mail_from == "flawless@flawless.example"
    assert received.rcpt_tos == ["owner@example.com"]
    assert b"\r\n" in received.content and b"\n\n" not in received.content.replace(b"\r\n", b"")
    msg = received.message
    assert msg["Subject"] == "Flawless: 3 new problems on example.com"
    assert msg["From"] == "Flawless <flawless@flawless.example>"
    assert msg["To"] == "owner@example.com"
    assert msg["Date"] and msg["Date"].datetime.tzinfo is not None
    assert msg["Message-ID"].startswith("<flawless.") and msg["Message-ID"].endswith(
        "@flawless.example>")
    assert msg["List-Unsubscribe"] == "<https://flawless.example/unsub?site=1>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text, html = parts(msg)
    assert "https://example.com/gone" in text and "404 Not Found" in text
    assert '"recieve": did you mean receive?' in text and "We <b>recieve</b> mail." in text
    tree = lxml.html.document_fromstring(html)
    assert tree.xpath("//script") == [] and tree.xpath("//style")  # @media rules kept
    assert "Docs <script>alert('x')</script>" in tree.text_content()
    hrefs = tree.xpath("//a/@href")
    assert "https://example.com/gone" in hrefs
    assert "https://example.com/docs#:~:text=recieve" in hrefs  # the word highlighted on its page
    assert not [h for h in hrefs if not h.startswith("https://")]
    assert "javascript:alert(1)" in tree.text_content()
    assert 'style="' in html  # CSS inlined for clients that drop <style>
    assert outbox_rows(db)[0]["status"] == "sent"
    # Sent once: another run finds nothing.
    assert send_outbox(db, settings(SMTP_URL=smtp_server.url)).sent == []
    assert len(smtp_server.sink.received) == 1


def test_mailto_unsubscribe_without_url(db, smtp_server):
    queue_one(db)
    send_outbox(db, settings(SMTP_URL=smtp_server.url))
    msg = smtp_server.sink.received[0].message
    assert msg["List-Unsubscribe"] == (
        "<mailto:flawless@flawless.example?subject=unsubscribe%20example.com>")
    assert msg["List-Unsubscribe-Post"] is None


def test_permanent_failure_is_recorded(db, smtp_server):
    queue_one(db)
    smtp_server.sink.reply = "550 5.1.1 mailbox unavailable"
    result = send_outbox(db, settings(SMTP_URL=smtp_server.url))
    assert result.sent == [] and len(result.failed) == 1
    [row] = outbox_rows(db)
    assert row["status"] == "failed" and row["attempts"] == 1
    assert "550" in row["last_error"] and "mailbox unavailable" in row["last_error"]
    smtp_server.sink.reply = None
    assert send_outbox(db, settings(SMTP_URL=smtp_server.url)).sent == []
    assert smtp_server.sink.received == []


def test_temporary_reply_is_retried(db, smtp_server):
    queue_one(db)
    smtp_server.sink.reply = "451 4.3.0 try again later"
    result = send_outbox(db, settings(SMTP_URL=smtp_server.url))
    assert len(result.retry) == 1
    assert outbox_rows(db)[0]["status"] == "queued"
    smtp_server.sink.reply = None
    assert len(send_outbox(db, settings(SMTP_URL=smtp_server.url)).sent) == 1
    [row] = outbox_rows(db)
    assert row["status"] == "sent" and row["attempts"] == 2
    assert len(smtp_server.sink.received) == 1


def test_smtp_down_then_up_loses_nothing_and_sends_once(db):
    queue_one(db)
    server = SMTPServer(free_port(), SMTPSink())
    cfg = settings(SMTP_URL=server.url, FLAWLESS_MAIL_RETRY_DELAY=30)
    result = send_outbox(db, cfg)  # nobody listens: connection refused
    assert result.sent == [] and "cannot reach the SMTP server" in result.stopped
    [row] = outbox_rows(db)
    assert row["status"] == "queued" and row["attempts"] == 1 and row["last_error"]
    # Backoff: not due yet, so a run right now does not even try.
    server.start()
    try:
        assert send_outbox(db, cfg).sent == []
        db.query("UPDATE outbox SET next_attempt_at = now()")
        assert len(send_outbox(db, cfg).sent) == 1
        assert send_outbox(db, cfg).sent == []
        assert len(server.sink.received) == 1
        assert outbox_rows(db)[0]["status"] == "sent"
    finally:
        server.stop()


def test_two_concurrent_senders_send_once(db_url, db, smtp_server):
    for i in range(6):  # six sites, one digest each
        site = add_site(db, f"site{i}.example", f"owner{i}@example.com")
        crawl(db, site, [link(f"https://site{i}.example/", f"https://site{i}.example/x")])
    assert len(outbox_rows(db)) == 6
    barrier = threading.Barrier(2)
    results = []

    def sender() -> None:
        own = Database(db_url)  # its own connection
        try:
            barrier.wait(timeout=10)
            results.append(Sender(own, settings(SMTP_URL=smtp_server.url)).run())
        finally:
            own.close()

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sum(len(r.sent) for r in results) == 6
    recipients = sorted(r.rcpt_tos[0] for r in smtp_server.sink.received)
    assert recipients == [f"owner{i}@example.com" for i in range(6)]
    assert {r["status"] for r in outbox_rows(db)} == {"sent"}


def test_crashed_sender_claim_expires(db, smtp_server):
    queue_one(db)
    with db.transaction() as cur:  # a sender claimed the row and died
        cur.execute("UPDATE outbox SET status = 'sending', claimed_by = 'dead:1',"
                    " claimed_at = now() - interval '20 minutes', attempts = 1")
    cfg = settings(SMTP_URL=smtp_server.url, FLAWLESS_MAIL_CLAIM_TIMEOUT=3600)
    assert send_outbox(db, cfg).sent == []  # still within the claim timeout
    cfg = settings(SMTP_URL=smtp_server.url, FLAWLESS_MAIL_CLAIM_TIMEOUT=600)
    assert len(send_outbox(db, cfg).sent) == 1
    # The dead sender coming back cannot flip the row any more.
    from pipelines.digest import outbox

    with db.transaction() as cur:
        assert not outbox.mark_retry(cur, 1, "dead:1", "late", 0)
    assert outbox_rows(db)[0]["status"] == "sent"


def test_without_smtp_url_writes_the_outbox_folder(db, tmp_path: Path):
    queue_one(db)
    cfg = settings(FLAWLESS_STATE_DIR=str(tmp_path))
    result = send_outbox(db, cfg)
    assert len(result.sent) == 1
    eml = tmp_path / "outbox" / "000001-example.com.eml"
    assert eml.read_bytes() == bytes(outbox_rows(db)[0]["message"])
    assert eml.with_suffix(".html").read_text().startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in (tmp_path / "outbox").iterdir()) == [
        "000001-example.com.eml", "000001-example.com.html"]


@pytest.mark.parametrize("url", ["http://host", "smtp://", "smtp://h:notaport"])
def test_bad_smtp_url(db, url):
    with pytest.raises(ValueError, match="SMTP_URL"):
        send_outbox(db, settings(SMTP_URL=url))
