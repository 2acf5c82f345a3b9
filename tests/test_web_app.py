"""The owners' web app over HTTP, as served by ``scrapy serve`` (gunicorn) on the test database:
tokens, what each action changes (and what it must not), headers, downloads, filters, and
"not a mistake" honoured by the next real crawl."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import time

from flawless_spider.cron import due_sites
from flawless_spider.web.tokens import Signer
from tests.crawlkit import make_site, report_records
from tests.test_digest_support import add_site, crawl, free_port, link, outbox_rows, settings, word
from tests.webkit import PROJECT, SECRET, AppServer, app_server  # noqa: F401

SIGNER = Signer(SECRET.encode())
A_OWNER, B_OWNER = "owner@example.com", "b@example.org"


def token(site: int, purpose: str = "report", owner: str = A_OWNER, **kw) -> str:
    return SIGNER.make(site, purpose, owner, **kw)


def two_sites(db) -> tuple[int, int]:
    a = add_site(db)
    b = add_site(db, "other.example", B_OWNER)
    crawl(db, a, [word("https://example.com/", "recieve", ("receive",)),
                  link("https://example.com/", "https://example.com/gone")])
    crawl(db, b, [word("https://other.example/", "secretword")])
    return a, b


def state(db) -> list:
    """Everything an owner's action may change."""
    return [db.query("SELECT site_id, word FROM site_words ORDER BY 1, 2"),
            db.query("SELECT * FROM site_ignores ORDER BY 1, 2, 3, 4"),
            db.query("SELECT id, unsubscribed_at, paused_until, check_requested_at FROM sites"
                     " ORDER BY id"),
            db.query("SELECT id, status FROM outbox ORDER BY id")]


def finding_id(db, site: int, type: str) -> int:
    return db.query("SELECT min(id) AS id FROM findings WHERE site_id = %s AND type = %s",
                    (site, type))[0]["id"]


def test_bad_tokens_get_403_and_change_nothing(db, app_server: AppServer):  # noqa: F811
    a, b = two_sites(db)
    before = state(db)
    word_a = str(finding_id(db, a, "spelling"))
    good = token(a)
    bad = {
        "forged": good[:-2] + ("AA" if not good.endswith("AA") else "BB"),
        "expired": token(a, now=time.time() - 91 * 86400),
        "other site": token(b, owner=B_OWNER),
        "other purpose": token(a, "unsubscribe"),
        "missing": "",
    }
    for why, value in bad.items():
        for method, path, fields in [
            ("GET", "report", None), ("GET", "report.csv", None), ("GET", "report.json", None),
            ("POST", "dismiss", {"finding": word_a}), ("POST", "undo", {"finding": word_a}),
            ("POST", "check", {}),
        ]:
            url = f"/sites/{a}/{path}?t={value}"
            answer = app_server.get(url) if method == "GET" else app_server.post(url, fields)
            assert answer.status == 403, (why, path, answer.status)
            assert "recieve" not in answer.body
    unsub = token(a, "unsubscribe")
    bad_unsub = {
        "forged": unsub[:-2] + ("AA" if not unsub.endswith("AA") else "BB"),
        "expired": token(a, "unsubscribe", now=time.time() - 91 * 86400),
        "other site": token(b, "unsubscribe", owner=B_OWNER),
        "other purpose": good,
        "missing": "",
    }
    for why, value in bad_unsub.items():
        assert app_server.get(f"/sites/{a}/unsubscribe?t={value}").status == 403, why
        for path in ("unsubscribe", "pause", "resume"):
            answer = app_server.post(f"/sites/{a}/{path}?t={value}",
                                     {"List-Unsubscribe": "One-Click"})
            assert answer.status == 403, (why, path, answer.status)
    expired = app_server.get(f"/sites/{a}/report?t={bad['expired']}")
    assert "This link has expired" in expired.body
    assert app_server.get(f"/sites/999/report?t={token(999)}").status == 403  # no such site
    # A report token of site A never reaches site B's data, not even by finding id.
    word_b = str(finding_id(db, b, "spelling"))
    answer = app_server.post(f"/sites/{a}/dismiss?t={good}", {"finding": word_b})
    assert answer.status == 404
    page = app_server.get(f"/sites/{a}/report?t={good}&finding={word_b}&done=dismissed&item={word_b}")
    assert page.status == 200 and "secretword" not in page.body
    assert state(db) == before


def test_unsubscribe_token_only_unsubscribes(db, app_server: AppServer):  # noqa: F811
    a, _ = two_sites(db)
    before = state(db)
    unsub = token(a, "unsubscribe")
    assert app_server.get(f"/sites/{a}/report?t={unsub}").status == 403
    page = app_server.get(f"/sites/{a}/unsubscribe?t={unsub}")  # GET only asks
    assert page.status == 200 and page.tree.xpath("//button[. = 'Unsubscribe']")
    assert state(db) == before
    assert app_server.post(f"/sites/{a}/unsubscribe?t={unsub}", {}).status == 400  # not RFC 8058
    assert state(db) == before


def test_pages_are_escaped_and_locked_down(db, app_server: AppServer):  # noqa: F811
    site = add_site(db)
    evil = "<script>alert(1)</script>"
    crawl(db, site, [word("https://example.com/<b>x", f"{evil}", context=f"{evil} here"),
                     link("https://example.com/", "javascript:alert(2)", status=None,
                          error="invalid_url", text=evil)],
          titles={"https://example.com/<b>x": evil})
    page = app_server.get(f"/sites/{site}/report?t={token(site)}&q=%3Cscript")
    assert page.status == 200
    assert page.tree.xpath("//script") == [] and evil in page.tree.text_content()
    assert [a for a in page.tree.xpath("//@href") if a.lower().startswith("javascript")] == []
    headers = page.headers
    assert "default-src 'none'" in headers["content-security-policy"]
    assert "script-src" not in headers["content-security-policy"]  # so: no script at all
    assert headers["referrer-policy"] == "no-referrer" and headers["x-frame-options"] == "DENY"
    assert headers["cache-control"] == "no-store"
    assert page.tree.xpath("//@style") == []  # the CSP allows no inline style either


def test_actions_redirect_only_to_our_own_report(db, app_server: AppServer):  # noqa: F811
    a, _ = two_sites(db)
    fid = finding_id(db, a, "spelling")
    answer = app_server.post(f"/sites/{a}/dismiss?t={token(a)}", {
        "finding": str(fid), "next": "https://evil.example/", "type": "https://evil.example/",
        "state": "//evil.example", "q": "recieve"})
    assert answer.status == 303
    location = answer.headers["location"]
    assert location.startswith(f"/sites/{a}/report?") and "evil" not in location
    assert "q=recieve" in location and "done=dismissed" in location
    assert "finding=" not in location  # the whole report stays the whole report
    assert db.query("SELECT word FROM site_words") == [{"word": "recieve"}]
    shown = app_server.get(location)
    assert "is now one of your site" in shown.body
    assert shown.tree.xpath("//article[contains(@class, 'dismissed')]//span[@class='word']"
                            "[. = 'recieve']")
    assert shown.tree.xpath("//b[@id='count-open']")[0].text == "1"  # the broken link only
    # From the one-problem view (a digest's "Not a mistake?" link), back to that view.
    answer = app_server.post(f"/sites/{a}/undo?t={token(a)}", {"finding": str(fid),
                                                              "focus": str(fid)})
    assert f"finding={fid}" in answer.headers["location"]
    assert db.query("SELECT word FROM site_words") == []


def test_counts_downloads_and_filters(db, app_server: AppServer):  # noqa: F811
    site = add_site(db)
    app = settings(FLAWLESS_PUBLIC_URL=app_server.url, FLAWLESS_SECRET_KEY=SECRET)
    gone = link("https://example.com/", "https://example.com/gone")
    crawl(db, site, [gone, link("https://example.com/a", "https://example.com/gone"),
                     word("https://example.com/a", "recieve"), word("https://example.com/b", "teh")],
          cfg=app)
    crawl(db, site, [gone, word("https://example.com/a", "recieve"),
                     word("https://example.com/c", "accomodate")], cfg=app)
    from tests.test_digest_support import parts
    from tests.webkit import message

    text, _ = parts(message(bytes(outbox_rows(db)[-1]["message"])))
    assert "New: 1    Fixed: 1    Open now: 3" in text
    page = app_server.get(f"/sites/{site}/report?t={token(site)}")
    counts = {k: page.tree.xpath(f"//b[@id='count-{k}']")[0].text for k in ("new", "fixed", "open")}
    assert counts == {"new": "1", "fixed": "1", "open": "3"}  # as the digest counts

    def words(**query: str) -> list[str]:
        extra = "".join(f"&{k}={v}" for k, v in query.items())
        tree = app_server.get(f"/sites/{site}/report?t={token(site)}{extra}").tree
        return sorted(tree.xpath("//article//span[@class='word']/text()"))

    assert words() == ["accomodate", "recieve", "teh"]
    assert words(state="fixed") == ["teh"] and words(state="new") == ["accomodate"]
    assert words(q="ACCOM") == ["accomodate"] and words(type="link") == []
    assert words(finding=str(finding_id(db, site, "spelling"))) == ["recieve"]

    records = [json.loads(line) for line in
               subprocess.run([sys.executable, "-m", "scrapy", "report", str(site), "--format",
                               "jsonl"], cwd=PROJECT, capture_output=True, text=True,
                              env=app_server_env(db), check=True).stdout.splitlines()]
    as_json = json.loads(app_server.get(f"/sites/{site}/report.json?t={token(site)}").body)
    assert as_json == records
    csv_answer = app_server.get(f"/sites/{site}/report.csv?t={token(site)}")
    assert csv_answer.headers["content-disposition"] == (
        'attachment; filename="flawless-example.com.csv"')
    rows = list(csv.DictReader(io.StringIO(csv_answer.body)))
    assert sorted((r["type"], r["state"]) for r in rows) == sorted(
        (r["type"], r["state"]) for r in records)


def app_server_env(db) -> dict:
    import os

    return {**os.environ, "DATABASE_URL": db.url, "PYTHONWARNINGS": "error"}


def test_check_again_makes_the_site_due(db, app_server: AppServer):  # noqa: F811
    site = add_site(db)
    crawl(db, site, [word("https://example.com/", "recieve")])
    assert due_sites(db) == []  # crawled just now
    answer = app_server.post(f"/sites/{site}/check?t={token(site)}", {})
    assert answer.status == 303
    assert [s["id"] for s in due_sites(db)] == [site]
    page = app_server.get(answer.headers["location"])
    assert "again at its next run" in page.body
    assert page.tree.xpath("//button[. = 'Check again now']/@disabled")
    crawl(db, site, [word("https://example.com/", "recieve")])  # the next run's crawl
    assert due_sites(db) == []


def test_pause_cancels_queued_mail_and_resume_restarts_it(db, app_server: AppServer):  # noqa: F811
    site = add_site(db)
    crawl(db, site, [word("https://example.com/", "recieve")])
    assert [r["status"] for r in outbox_rows(db)] == ["queued"]
    unsub = token(site, "unsubscribe")
    page = app_server.post(f"/sites/{site}/pause?t={unsub}")
    assert page.status == 200 and "paused until" in page.body
    [row] = outbox_rows(db)
    assert row["status"] == "failed" and "paused" in row["last_error"]
    crawl(db, site, [word("https://example.com/", "teh")])
    assert len(outbox_rows(db)) == 1  # nothing new queued while paused
    assert app_server.post(f"/sites/{site}/resume?t={unsub}").status == 200
    crawl(db, site, [word("https://example.com/", "accomodate")])
    assert [r["status"] for r in outbox_rows(db)] == ["failed", "queued"]


LINKS_PAGE = """<!DOCTYPE html><html lang="en"><head><title>Home</title></head><body>
<p><a href="/gone.html">Old prices</a> <a href="/old/a.html">A</a> <a href="/old/b.html">B</a>
<a href="{partner}dead.html">Our partner</a></p>
<p>This is a apple of our eye, and it works well.</p></body></html>"""


def test_not_a_mistake_is_honoured_by_the_next_crawl(tmp_path, serve, scrapy,
                                                     app_server: AppServer, db):  # noqa: F811
    partner = serve(make_site(tmp_path / "partner", "<p>Partner</p>"))  # another site
    srv = serve(make_site(tmp_path / "site", LINKS_PAGE.format(partner=partner.url)))
    domain = srv.url.split("/")[2]
    scrapy("sites", "add", srv.url, "--email", A_OWNER)
    fast = ("-s", "AUTOTHROTTLE_ENABLED=false", "-s", "FLAWLESS_FOLLOW_SITEMAPS=false",
            "-s", "FLAWLESS_LINK_RETRY_DELAY=0.1", "-s", "FLAWLESS_LINK_CACHE_HOURS=0")
    scrapy("crawl", "site", "-a", f"site={domain}", *fast, **app_server.env)
    found = report_records(scrapy, srv.url)
    assert sorted(r.get("url") or r["type"] for r in found) == sorted([
        "grammar", f"{srv.url}gone.html", f"{srv.url}old/a.html", f"{srv.url}old/b.html",
        f"{partner.url}dead.html"])
    ids = {(r["type"], r["data"].get("url", "")): r["id"] for r in
           db.query("SELECT id, type, data FROM findings")}
    report = f"/sites/1/report?t={token(1)}"
    post = app_server.post
    assert post(report.replace("report", "dismiss"), {
        "finding": str(ids[("link", f"{srv.url}old/a.html")]), "prefix": "http://"}).status == 400
    assert db.query("SELECT * FROM site_ignores") == []  # a prefix too short changes nothing
    for key, prefix in [(("link", f"{srv.url}gone.html"), ""),
                        (("link", f"{srv.url}old/a.html"), f"{srv.url}old/"),
                        (("link", f"{partner.url}dead.html"), ""),
                        (("grammar", ""), "")]:
        assert post(report.replace("report", "dismiss"),
                    {"finding": str(ids[key]), "prefix": prefix}).status == 303
    partner.reset()
    scrapy("crawl", "site", "-a", f"site={domain}", *fast, **app_server.env)
    assert report_records(scrapy, srv.url) == []  # nothing reported, nothing "fixed" either
    assert partner.paths() == []  # an ignored link is not even checked
    # The stages no longer report them: the stored findings are closed, not just hidden.
    assert db.query("SELECT type, data->>'url' AS url FROM findings WHERE fixed_at IS NULL") == []
    page = app_server.get(report)
    assert "No problems found" in page.body and "gone.html" not in page.body


def test_gunicorn_serves_the_app_object(scrapy_env, db):
    """The README's production command: ``gunicorn 'flawless_spider.web:app'``."""
    site = add_site(db)
    crawl(db, site, [word("https://example.com/", "recieve")])
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1",
         "flawless_spider.web:app"], cwd=PROJECT, env={**scrapy_env, "FLAWLESS_SECRET_KEY": SECRET},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = AppServer(f"http://127.0.0.1:{port}", process)
    try:
        for _ in range(240):  # readiness, bounded
            try:
                answer = server.get(f"/sites/{site}/report?t={token(site)}")
                break
            except OSError:
                time.sleep(0.25)
        assert answer.status == 200 and "recieve" in answer.body
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_serve_refuses_bad_settings_in_one_line(scrapy):
    result = scrapy("serve", "-s", "FLAWLESS_SECRET_KEY=hunter2", check=False)
    assert result.returncode == 2 and "hunter2" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: FLAWLESS_SECRET_KEY must be empty or a random string of at least 32 characters,"
        " not a value of 7 characters (set with -s)"]
