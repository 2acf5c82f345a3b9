"""An owner's whole journey in a real browser (Debian's headless Chromium driven by Playwright):
from the digest a real SMTP server received, to the report, "Not a mistake", the next crawl and
digest, and a one-click unsubscribe (RFC 8058) after which no digest is sent.
"""

from __future__ import annotations

import re
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from flawless_spider.web.tokens import Signer
from pipelines.digest import send_outbox
from tests.crawlkit import make_site
from tests.test_digest_support import add_site, running_smtp_server, settings
from tests.webkit import SECRET, app_server, html_part, link_named, message  # noqa: F401

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

PAGE = """<!DOCTYPE html><html lang="en"><head><title>Home</title></head><body>
<h1>Welcome</h1><p>We recieve every letter with care and answer it the same day.</p>
<p>Our team makes flimbo widgets for everyone who needs them.</p>
{extra}
<p><a href="/gone.html">Old prices</a></p></body></html>"""


@pytest.fixture
def browser() -> Iterator:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: scripts/test installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def open_now(text: str) -> int:
    return int(re.search(r"Open now: (\d+)", text).group(1))


def test_owner_journey(tmp_path, serve, scrapy, app_server, browser, db):  # noqa: F811
    site = make_site(tmp_path / "site", PAGE.format(extra=""))
    srv = serve(site)
    domain = srv.url.split("/")[2]
    scrapy("sites", "add", srv.url, "--email", "owner@example.com")
    with running_smtp_server() as smtp:
        env = {**app_server.env, "SMTP_URL": smtp.url}

        def crawl_and_send() -> None:
            scrapy("crawl", "site", "-a", f"site={domain}", "-s", "FLAWLESS_FOLLOW_SITEMAPS=false",
                   "-s", "AUTOTHROTTLE_ENABLED=false",
                   "-s", "LOG_LEVEL=WARNING", **env)
            send_outbox(db, settings(SMTP_URL=smtp.url))  # what `scrapy digest --send` does

        crawl_and_send()
        [first] = smtp.sink.received
        digest = message(first.content)
        text = digest.get_body(("plain",)).get_content()
        assert "flimbo" in text and "recieve" in text
        report_url = link_named(html_part(digest), "See the full report")
        assert report_url.startswith(app_server.url + "/sites/")

        page = browser.new_page()
        problems: list[str] = []  # CSP violations and failed loads show up as console errors
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        assert page.goto(report_url).status == 200
        assert page.locator("#count-open").inner_text() == str(open_now(text))
        group = page.locator("article.group", has=page.locator(".word", has_text="flimbo"))
        page_link = group.locator(".pages a").first.get_attribute("href")
        assert page_link == f"{srv.url}#:~:text=flimbo"  # straight to the word on the page

        with page.expect_navigation():
            group.get_by_role("button", name="Not a mistake").click()
        assert "flimbo" in page.locator("#done").inner_text()
        dismissed = page.locator("article.group.dismissed", has=page.locator(".word",
                                                                             has_text="flimbo"))
        assert dismissed.count() == 1
        assert page.locator("#count-open").inner_text() == str(open_now(text) - 1)
        assert [r["word"] for r in db.query("SELECT word FROM site_words")] == ["flimbo"]

        with page.expect_navigation():  # undo, then dismiss again
            page.locator("#done").get_by_role("button", name="Undo").click()
        assert page.locator("#count-open").inner_text() == str(open_now(text))
        assert db.query("SELECT word FROM site_words") == []
        group = page.locator("article.group.new", has=page.locator(".word", has_text="flimbo"))
        with page.expect_navigation():
            group.get_by_role("button", name="Not a mistake").click()

        # The next crawl, after a new mistake: the word is gone from the report and the digest.
        (site / "index.html").write_text(PAGE.format(extra="<p>Join teh team today.</p>"))
        crawl_and_send()
        assert len(smtp.sink.received) == 2
        second = message(smtp.sink.received[1].content)
        text = second.get_body(("plain",)).get_content()
        assert "teh" in text and "flimbo" not in text
        assert "flimbo" not in html_part(second).text_content()
        page.goto(report_url)
        assert "flimbo" not in page.content()
        assert page.locator(".word", has_text="teh").count() == 1
        assert page.locator("#count-open").inner_text() == str(open_now(text))
        assert problems == []

        # Forged, expired and other sites' links are refused, and change nothing.
        words = db.query("SELECT * FROM site_words")
        site_id = int(report_url.split("/sites/")[1].split("/")[0])
        other = add_site(db, "other.example", "someone@example.org")
        signer = Signer(SECRET.encode())
        expired = signer.make(site_id, "report", "owner@example.com", now=time.time() - 91 * 86400)
        bad = {
            "forged": report_url[:-3] + ("AAA" if not report_url.endswith("AAA") else "BBB"),
            "expired": f"{app_server.url}/sites/{site_id}/report?t={expired}",
            "other site": f"{app_server.url}/sites/{site_id}/report?t="
                          + signer.make(other, "report", "someone@example.org"),
        }
        for why, url in bad.items():
            response = page.goto(url)
            assert response.status == 403, why
            assert ("has expired" if why == "expired" else "is not valid") in page.content()
            posted = page.request.post(url.replace("/report?", "/dismiss?"),
                                       form={"finding": str(db.query(
                                           "SELECT max(id) AS id FROM findings")[0]["id"])})
            assert posted.status == 403, why
        assert db.query("SELECT * FROM site_words") == words

        # One-click unsubscribe as a mail provider does it: POST to List-Unsubscribe.
        assert second["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        target = second["List-Unsubscribe"].strip("<>")
        assert page.goto(target).status == 200  # the GET only asks
        assert page.get_by_role("button", name="Unsubscribe").count() == 1
        assert db.query("SELECT unsubscribed_at FROM sites ORDER BY id")[0]["unsubscribed_at"] is None
        request = urllib.request.Request(target, data=b"List-Unsubscribe=One-Click", method="POST",
                                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 200
        assert db.query("SELECT unsubscribed_at FROM sites ORDER BY id")[0]["unsubscribed_at"] is not None

        (site / "index.html").write_text(PAGE.format(extra="<p>Join teh team today, plase.</p>"))
        crawl_and_send()
        assert len(smtp.sink.received) == 2  # no digest after unsubscribing
        page.close()
