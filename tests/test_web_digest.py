"""The digest and notices on the owners' side: links to the web app (or the full list attached
as CSV without one), the page to fix as a broken link's headline, what to do, and silence after
an unsubscribe or a pause."""

from __future__ import annotations

import csv
import email
import email.policy
import io
from urllib.parse import parse_qs, urlsplit

import lxml.html

from flawless_spider.dismissals import dismiss
from flawless_spider.report import crawl_findings, to_csv
from flawless_spider.sites import SiteRegistry
from flawless_spider.web.tokens import Signer
from tests.test_digest_support import add_site, crawl, link, outbox_rows, parts, settings, word
from tests.webkit import SECRET

PUBLIC = "https://flawless.example/owners"
APP = {"FLAWLESS_PUBLIC_URL": PUBLIC, "FLAWLESS_SECRET_KEY": SECRET}


def grammar(page: str, rule: str, text: str) -> dict:
    from flawless_spider.findings import finding

    return finding("grammar", page, "warning", key=f"{rule}:{text}", rule=rule,
                   message=f"Check \u201c{text}\u201d.", text=text, suggestions=[],
                   context=f"This is {text} here.")


def message_of(row: dict) -> email.message.EmailMessage:
    return email.message_from_bytes(bytes(row["message"]), policy=email.policy.default)


def verify(url: str, site: int, purpose: str) -> None:
    """``url`` is the app's and carries a valid token for ``purpose`` on ``site``."""
    assert url.startswith(f"{PUBLIC}/sites/{site}/"), url
    token = parse_qs(urlsplit(url).query)["t"][0]
    Signer(SECRET.encode()).verify(token, site, purpose, "owner@example.com")


FINDINGS = [
    link("https://example.com/pricing", "https://example.com/gone", text="Old prices"),
    link("https://example.com/about", "https://example.com/gone", text="Old prices"),
    word("https://example.com/about", "recieve", ("receive",), "We recieve mail."),
    grammar("https://example.com/blog", "A_AN", "a apple"),
]


def test_digest_links_to_the_app(db):
    site = add_site(db)
    crawl(db, site, FINDINGS, cfg=settings(**APP),
          titles={"https://example.com/pricing": "Pricing"})
    msg = message_of(outbox_rows(db)[0])
    assert msg.get_content_type() == "multipart/alternative"  # nothing attached
    text, html = parts(msg)
    tree = lxml.html.document_fromstring(html)
    [report] = [a.get("href") for a in tree.iter("a") if "See the full report" in a.text_content()]
    verify(report, site, "report")
    # One-click unsubscribe (RFC 8058) points to the app, with a token for that purpose only.
    unsubscribe = msg["List-Unsubscribe"].strip("<>")
    verify(unsubscribe, site, "unsubscribe")
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # "Not a mistake?" for each new problem, naming one of its findings on this site.
    asks = [a.get("href") for a in tree.iter("a") if a.text_content() == "Not a mistake?"]
    assert len(asks) == 3
    ids = {int(parse_qs(urlsplit(u).query)["finding"][0]) for u in asks}
    rows = db.query("SELECT id, type FROM findings WHERE id = ANY(%s) AND site_id = %s",
                    (sorted(ids), site))
    assert sorted(r["type"] for r in rows) == ["grammar", "link", "spelling"]
    for url in asks:
        verify(url, site, "report")
    # The headline of a broken link is the page to fix (highlighting the link), then the target.
    [group] = tree.xpath("//div[contains(@class, 'group')][.//span[contains(@class, 'badge')]]")
    headline = group.xpath(".//div[@class='title']/a")[0]
    assert headline.get("href") == "https://example.com/about#:~:text=Old%20prices"
    assert "link to https://example.com/gone" in group.text_content()
    assert "- https://example.com/about\n  link to https://example.com/gone: 404 Not Found" in text
    # The word and the flagged text, highlighted on their pages.
    hrefs = tree.xpath("//a/@href")
    assert "https://example.com/about#:~:text=recieve" in hrefs
    assert "https://example.com/blog#:~:text=a%20apple" in hrefs
    # One line on what to do per type of problem.
    assert text.count("What to do: ") == 3 and html.count("What to do: ") == 3
    assert "scrapy report" not in text and "scrapy report" not in html


def test_without_public_url_the_full_list_is_attached(db):
    site = add_site(db)
    crawl(db, site, FINDINGS)
    msg = message_of(outbox_rows(db)[0])
    assert msg.get_content_type() == "multipart/mixed"
    [attachment] = list(msg.iter_attachments())
    assert attachment.get_filename() == "flawless-example.com.csv"
    assert attachment.get_content_type() == "text/csv"
    body = attachment.get_content()
    body = body.decode() if isinstance(body, bytes) else body
    site_obj = SiteRegistry(db).get(site)
    crawl_id = db.query("SELECT max(id) AS id FROM crawls")[0]["id"]
    assert body.replace("\r\n", "\n") == to_csv(crawl_findings(db, site_obj, crawl_id))
    assert len(list(csv.DictReader(io.StringIO(body)))) == 3  # the target once, with its pages
    text, html = parts(msg)
    assert "attached as flawless-example.com.csv" in text and "flawless-example.com.csv" in html
    assert "scrapy report" not in text
    assert msg["List-Unsubscribe"].startswith("<mailto:")  # no app to unsubscribe with


def test_outage_notice_unsubscribes_like_the_digest(db):
    site = add_site(db)
    crawl(db, site, [], status="failed", cfg=settings(**APP))
    crawl(db, site, [], status="failed", cfg=settings(**APP))
    [notice] = outbox_rows(db)
    assert notice["kind"] == "outage"
    msg = message_of(notice)
    verify(msg["List-Unsubscribe"].strip("<>"), site, "unsubscribe")
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "Unsubscribe or pause: " + msg["List-Unsubscribe"].strip("<>") in parts(msg)[0]


def test_unsubscribed_or_paused_owners_get_no_mail(db):
    site = add_site(db)
    db.query("UPDATE sites SET unsubscribed_at = now()")
    crawl(db, site, FINDINGS[:1], cfg=settings(**APP))
    crawl(db, site, [], status="failed", cfg=settings(**APP))
    crawl(db, site, [], status="failed", cfg=settings(**APP))
    assert outbox_rows(db) == []
    db.query("UPDATE sites SET unsubscribed_at = NULL, paused_until = now() + interval '1 day'")
    crawl(db, site, FINDINGS, cfg=settings(**APP))
    assert outbox_rows(db) == []
    db.query("UPDATE sites SET paused_until = now() - interval '1 second'")  # the pause is over
    crawl(db, site, FINDINGS, cfg=settings(**APP))
    [row] = outbox_rows(db)
    assert row["kind"] == "digest" and row["subject"] == "Flawless: 3 new problems on example.com"


def test_dismissed_problems_are_neither_open_nor_fixed(db):
    site = add_site(db)
    crawl(db, site, FINDINGS)
    ids = {r["type"]: r["id"] for r in db.query("SELECT id, type FROM findings")}
    with db.transaction() as cur:
        for type in ("spelling", "grammar"):
            [row] = db.query("SELECT type, data FROM findings WHERE id = %s", (ids[type],))
            dismiss(cur, site, row["type"], row["data"])
    # The next crawl does not report them (the stages honour the lists); one new word appears.
    crawl(db, site, [*FINDINGS[:2], word("https://example.com/", "teh", ("the",))])
    text, _ = parts(message_of(outbox_rows(db)[1]))
    assert "teh" in text
    assert "recieve" not in text and "a apple" not in text and "FIXED" not in text
    site_obj = SiteRegistry(db).get(site)
    crawl_id = db.query("SELECT max(id) AS id FROM crawls")[0]["id"]
    records = crawl_findings(db, site_obj, crawl_id)
    assert sorted((r["type"], r["state"]) for r in records) == [("link", "open"),
                                                                ("spelling", "new")]
