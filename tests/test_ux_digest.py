"""The digest counts what it lists: one broken target linked from many pages is one problem."""

from __future__ import annotations

import email
import email.policy

from tests.test_digest_support import add_site, crawl, link, outbox_rows, parts, word


def test_counts_are_problems_not_page_occurrences(db):
    site = add_site(db)
    gone = "https://example.com/gone"
    crawl(db, site, [link("https://example.com/", gone), link("https://example.com/about", gone),
                     word("https://example.com/about", "recieve", ("receive",))])
    [row] = outbox_rows(db)
    assert row["subject"] == "Flawless: 2 new problems on example.com"
    text, _ = parts(email.message_from_bytes(bytes(row["message"]), policy=email.policy.default))
    assert "NEW PROBLEMS (2)" in text and "Broken links (1)" in text
    assert "linked from 2 pages" in text
    assert "New: 2    Fixed: 0    Open now: 2" in text

    crawl(db, site, [word("https://example.com/about", "recieve", ("receive",))])
    fixed = outbox_rows(db)[1]
    assert fixed["subject"] == "Flawless: 1 fixed on example.com"


def test_send_after_a_crawl_does_not_say_none_is_due(serve, scrapy):
    srv = serve("basic")
    scrapy("sites", "add", srv.url, "--email", "owner@example.com")
    scrapy("crawl", "site", "-a", f"site={srv.url}", "-s", "LOG_LEVEL=WARNING")  # queues it
    sent = scrapy("digest", "--send").stdout
    assert "sent #1 to owner@example.com" in sent and "no new digest due" not in sent
    assert "nothing to send" in scrapy("digest", "--send").stdout
