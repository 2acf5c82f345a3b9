"""Digest content: what counts as new, fixed and open; grouping, caps, untrusted page data."""

from __future__ import annotations

import email
import email.policy

import lxml.html
import pytest

from pipelines.digest import queue_digest, validate_email
from pipelines.digest.addresses import header_text
from pipelines.digest.compose import compose
from pipelines.digest.render import href
from tests.test_digest_support import add_site, crawl, link, outbox_rows, parts, settings, word


def message_of(row: dict) -> email.message.EmailMessage:
    return email.message_from_bytes(bytes(row["message"]), policy=email.policy.default)


def test_new_then_fixed_and_open(db):
    site = add_site(db)
    a = link("https://example.com/", "https://example.com/gone")
    b = word("https://example.com/about", "recieve", ("receive",))
    c = word("https://example.com/blog", "accomodate", ("accommodate",))
    crawl(db, site, [a, b])
    [first] = outbox_rows(db)
    text, _ = parts(message_of(first))
    assert "NEW PROBLEMS (2)" in text and "FIXED" not in text
    assert first["subject"] == "Flawless: 2 new problems on example.com"

    crawl(db, site, [b, c])
    second = outbox_rows(db)[1]
    text, _html = parts(message_of(second))
    assert second["subject"] == "Flawless: 1 new problem, 1 fixed on example.com"
    new, _, rest = text.partition("FIXED SINCE THE LAST DIGEST")
    fixed, _, still = rest.partition("STILL OPEN FROM EARLIER DIGESTS")
    assert "accomodate" in new and "recieve" not in new and "gone" not in new
    assert "https://example.com/gone" in fixed and "accomodate" not in fixed
    assert '"recieve"' in still and "(1)" in still
    assert "New: 1    Fixed: 1    Open now: 2" in text


def test_nothing_changed_no_digest_unless_weekly(db):
    site = add_site(db)
    items = [link("https://example.com/", "https://example.com/gone")]
    crawl(db, site, items)
    crawl(db, site, items)
    assert len(outbox_rows(db)) == 1
    with db.transaction() as cur:  # a week passes
        cur.execute("UPDATE sites SET last_digest_at = last_digest_at - interval '8 days'")
        cur.execute("UPDATE findings SET first_seen = first_seen - interval '8 days'")
    crawl(db, site, items, cfg=settings(FLAWLESS_WEEKLY_SUMMARY=True))
    rows = outbox_rows(db)
    assert len(rows) == 2
    assert rows[1]["subject"] == "Flawless weekly summary for example.com: 1 open problem"
    # A second crawl the same week is not worth an e-mail.
    crawl(db, site, items, cfg=settings(FLAWLESS_WEEKLY_SUMMARY=True))
    assert len(outbox_rows(db)) == 2


def test_failed_incomplete_and_ownerless_crawls(db):
    site = add_site(db)
    a = link("https://example.com/", "https://example.com/gone")
    b = link("https://example.com/", "https://example.com/other")
    crawl(db, site, [a, b])
    crawl(db, site, [], status="failed")
    assert len(outbox_rows(db)) == 1
    # Stopped early before reaching the home page: its links are not fixed, the new word is sent.
    crawl(db, site, [word("https://example.com/about", "teh")], status="incomplete",
          fetched=["https://example.com/about"])
    rows = outbox_rows(db)
    assert len(rows) == 2
    text, _ = parts(message_of(rows[1]))
    assert "This crawl stopped early (stopped)" in text and "FIXED" not in text
    assert "teh" in text
    # An incomplete crawl that did fetch the home page is evidence: its links are fixed.
    crawl(db, site, [word("https://example.com/about", "teh")], status="incomplete")
    text, _ = parts(message_of(outbox_rows(db)[2]))
    assert "FIXED SINCE THE LAST DIGEST (2)" in text
    ownerless = add_site(db, "nobody.example", email=None)
    crawl(db, ownerless, [a])
    assert len(outbox_rows(db)) == 3


def test_queue_digest_is_idempotent_per_crawl(db):
    site = add_site(db)
    crawl_id = crawl(db, site, [link("https://example.com/", "https://example.com/x")])
    db.query("UPDATE sites SET last_digest_at = NULL")
    with db.transaction() as cur:
        assert queue_digest(cur, site, crawl_id, settings()) is None
    assert len(outbox_rows(db)) == 1


def test_grouping_and_caps(db):
    site = add_site(db)
    items = [link(f"https://example.com/p{i}", "https://example.com/dead", text=f"t{i}")
             for i in range(8)]
    items += [link("https://example.com/", f"https://example.com/dead{i}") for i in range(14)]
    items += [word(f"https://example.com/w{i}", "Recieve", ("receive",)) for i in range(3)]
    crawl(db, site, items)
    text, html = parts(message_of(outbox_rows(db)[0]))
    # The headline of a broken link is the (first) page to fix, then the target.
    assert ("- https://example.com/p0\n  link to https://example.com/dead: 404 Not Found;"
            " linked from 8 pages") in text
    assert "and 3 more pages" in text  # 8 pages, 5 shown
    # 15 targets, 10 shown; without FLAWLESS_PUBLIC_URL the full list travels as CSV.
    assert "and 5 more (the full list is attached as flawless-example.com.csv)" in text
    assert '"Recieve": did you mean receive? (3 pages)' in text
    assert "and 5 more" in html and "attached (flawless-example.com.csv)" in html


def test_untrusted_page_data(db):
    site = add_site(db)
    evil = "https://example.com/<script>alert(1)</script>"
    items = [
        link(evil, "javascript:alert(2)", text="<b>click</b>"),
        link("https://example.com/", "https://example.com/a\"onmouseover=\"x"),
        word("https://example.com/", "naïve\x01\u2028", context="<img src=x onerror=alert(3)>"),
    ]
    weird = dict(link("https://example.com/", "https://example.com/w"), status="oops",
                 suggestions={"a": 1}, text=["list"], position=True, pages=3)
    items.append(weird)
    items.append(dict(word("https://example.com/", "odd"), suggestions=[None, 5, {"x": 1}]))
    crawl(db, site, items, titles={evil: "<script>alert('title')</script>"})
    row = outbox_rows(db)[0]
    text, html = parts(message_of(row))
    tree = lxml.html.document_fromstring(html)
    assert tree.xpath("//script | //img | //b[contains(., 'click')]") == []
    assert [a for a in tree.xpath("//@*") if a.attrname.startswith("on")] == []
    hrefs = tree.xpath("//a/@href")
    assert hrefs and all(h.startswith("https://") for h in hrefs)
    assert [h for h in hrefs if h.startswith(  # the page, with a text fragment of the link text
        "https://example.com/%3Cscript%3Ealert(1)%3C/script%3E#:~:text=%3Cb%3Eclick")]
    assert "https://example.com/a%22onmouseover=%22x" in hrefs
    body = tree.text_content()
    assert "<script>alert('title')</script>" in body  # arrives as text
    assert "javascript:alert(2)" in body and "<img src=x onerror=alert(3)>" in body
    assert "<b>click</b>" in body
    assert "na\u00efve" in text and "\x01" not in text and "\u2028" not in text
    assert "(3 pages)" not in text  # the weird link is shown, its junk fields ignored


def test_bad_setting_never_breaks_the_crawl(db, caplog):
    site = add_site(db)
    crawl(db, site, [link("https://example.com/", "https://example.com/x")],
          cfg=settings(FLAWLESS_MAIL_FROM="a@b.example, c@d.example"))
    assert outbox_rows(db) == []
    assert db.query("SELECT status FROM crawls")[0]["status"] == "complete"
    assert "cannot compose the digest" in caplog.text
    with db.transaction() as cur, pytest.raises(ValueError, match="exactly one address"):
        compose(cur, site, 1, settings(FLAWLESS_MAIL_FROM="a@b.example, c@d.example"))


@pytest.mark.parametrize(
    ("addr", "expected"),
    [("Owner@Example.COM", "Owner@example.com"), (" a.b+c@sub.example.org ", "a.b+c@sub.example.org")],
)
def test_validate_email_accepts(addr, expected):
    assert validate_email(addr) == expected


@pytest.mark.parametrize(
    ("addr", "message"),
    [
        ("", "required"),
        ("no-at-sign", "not a valid e-mail address"),
        ("a@b.example\r\nBcc: x@evil.example", "control characters"),
        ("a@b.example, x@evil.example", "exactly one"),
        ("Name <a@b.example>", "not a valid e-mail address"),
    ],
)
def test_validate_email_rejects(addr, message):
    with pytest.raises(ValueError, match=message):
        validate_email(addr)


def test_header_and_link_helpers():
    assert header_text("a\r\nBcc: x@y.example") == "a Bcc: x@y.example"
    assert href("https://example.com/x") == "https://example.com/x"
    for bad in ("javascript:alert(1)", "data:text/html,x", "//example.com", "mailto:a@b",
                "https://exa mple.com", "http://", None, 5):
        assert href(bad) == ""
