"""Digests that never lie: "fixed" only with evidence, partial and failed crawls honest, one count.

Each test crawls a small site served by the fixture HTTP server, changes it, crawls again and
reads what the real database and outbox hold afterwards.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

FAST = ("-s", "FLAWLESS_LINK_TIMEOUT=2", "-s", "FLAWLESS_LINK_RETRY_DELAY=0.1",
        "-s", "AUTOTHROTTLE_ENABLED=false", "-s", "LOG_LEVEL=WARNING", "-s", "RETRY_TIMES=0")
FOOTER = "<footer><p>We recieve visitors every day.</p></footer>"


def page(body: str, title: str = "Page") -> str:
    return (f"<!doctype html><html lang=en><head><title>{title}</title></head><body>"
            f"<main>{body}</main>{FOOTER}</body></html>")


PAGES = {
    "index.html": page('<p>Welcome to our bakery.</p><a href="/about.html">About</a> '
                       '<a href="/blog/">Blog</a> <a href="/missing.html">Old menu</a>', "Home"),
    "about.html": page("<p>We bake seperate loaves for every order.</p>", "About"),
    "blog/index.html": page('<p>Our blog.</p><a href="/blog/post.html">A post</a>', "Blog"),
    "blog/post.html": page('<p>This is definately our best bread.</p><a href="/blog/">Back</a>',
                           "Post"),
}


def write_site(root: Path, pages: dict[str, str], robots: str = "User-agent: *\nDisallow:\n") -> Path:
    for name, html in pages.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(html)
    (root / "robots.txt").write_text(robots)
    return root


@pytest.fixture
def site(tmp_path, serve, scrapy):
    """The bakery site served on loopback, registered with an owner, crawled once in full."""
    root = write_site(tmp_path / "site", PAGES)
    server = serve(root)
    scrapy("sites", "add", server.url, "--email", "owner@example.com")
    server.root = root
    server.crawl = lambda *args, **kw: scrapy("crawl", "site", "-a", f"site={server.url}",
                                              *FAST, *args, **kw)
    server.crawl()
    return server


def open_words(db) -> set[str]:
    rows = db.query("SELECT data->>'word' AS w FROM findings WHERE type = 'spelling'"
                    " AND fixed_at IS NULL")
    return {r["w"] for r in rows}


def fixed_words(db) -> set[str]:
    rows = db.query("SELECT data->>'word' AS w FROM findings WHERE type = 'spelling'"
                    " AND fixed_at IS NOT NULL")
    return {r["w"] for r in rows}


def outbox(db) -> list[dict]:
    return db.query("SELECT kind, subject, convert_from(message, 'UTF8') AS message FROM outbox"
                    " ORDER BY id")


def column(listing: str, name: str) -> str:
    """The value under ``name`` in the first row of ``scrapy sites list``."""
    header, row = listing.splitlines()[:2]
    return row[header.index(name):].split()[0]


def last_crawl(db) -> dict:
    return db.query("SELECT * FROM crawls ORDER BY id DESC LIMIT 1")[0]


def test_first_crawl_finds_everything(site, db):
    assert open_words(db) == {"recieve", "seperate", "definately"}
    [mail] = outbox(db)
    assert mail["kind"] == "digest"
    assert mail["subject"] == f"Flawless: 4 new problems on {site.url.split('/')[2]}"
    assert last_crawl(db)["status"] == "complete"


@pytest.mark.parametrize("breakage, reason", [
    ({"_status.json": '{"/": 503}'}, "the start page answered HTTP 503"),
    ({"_status.json": '{"/": 404}'}, "the start page answered HTTP 404"),
    ({"robots.txt": "User-agent: *\nDisallow: /\n"}, "robots.txt does not allow"),
    ({}, "the start URL is longer than FLAWLESS_MAX_URL_LENGTH"),
])
def test_a_failed_start_page_fails_the_crawl_and_changes_nothing(site, db, breakage, reason):
    # Meanwhile every mistake was corrected: a crawl that cannot see the site must not say so.
    write_site(site.root, {name: html.replace("recieve", "receive").replace("seperate", "separate")
                           .replace("definately", "definitely") for name, html in PAGES.items()})
    for name, text in breakage.items():
        (site.root / name).write_text(text)
    extra = () if breakage else ("-s", "FLAWLESS_MAX_URL_LENGTH=16")  # < "http://127.0.0.1:NNNNN/"
    result = site.crawl(*extra, check=False)
    assert result.returncode == 1
    crawl = last_crawl(db)
    assert crawl["status"] == "failed" and crawl["reason"].startswith(reason), crawl["reason"]
    assert open_words(db) == {"recieve", "seperate", "definately"} and not fixed_words(db)
    assert len(outbox(db)) == 1  # no "3 fixed" e-mail
    # The crawl after the failed one sees the fixes, with evidence.
    for name in breakage:
        (site.root / name).unlink()
    write_site(site.root, {})
    site.crawl()
    assert fixed_words(db) == {"recieve", "seperate", "definately"}
    assert outbox(db)[-1]["subject"].startswith("Flawless: 3 fixed")


def test_a_crawl_of_one_page_fixes_only_what_it_saw_and_sends_nothing(site, db, scrapy):
    (site.root / "blog/post.html").write_text(PAGES["blog/post.html"].replace("definately",
                                                                              "definitely"))
    (site.root / "about.html").write_text(PAGES["about.html"].replace("seperate", "separate"))
    (site.root / "index.html").write_text(PAGES["index.html"].replace("/missing.html", "/"))
    scrapy("crawl", "site", "-a", f"url={site.url}blog/post.html", *FAST)
    crawl = last_crawl(db)
    assert crawl["kind"] == "partial" and crawl["status"] == "complete"
    visited = {r["url"].removeprefix(site.url) for r in
               db.query("SELECT url FROM pages WHERE crawl_id = %s", (crawl["id"],))}
    assert visited == {"blog/post.html", "blog/"}
    # Fixed where it looked; the page it never reached and the footer it saw on two of four
    # pages keep their findings open; the broken link on the home page too.
    assert fixed_words(db) == {"definately"}
    assert open_words(db) == {"recieve", "seperate"}
    assert db.query("SELECT count(*) AS n FROM findings WHERE type = 'link'"
                    " AND fixed_at IS NULL")[0]["n"] == 1
    assert len(outbox(db)) == 1  # the owner hears nothing from a partial crawl
    # The next full crawl reports both fixes (the one the partial crawl saw too), once each.
    site.crawl()
    mail = outbox(db)[-1]["message"]
    fixed = mail.partition("FIXED SINCE THE LAST DIGEST (3)")[2].partition("STILL OPEN")[0]
    assert '"definately"' in fixed and '"seperate"' in fixed and "missing.html" in fixed
    assert "NEW PROBLEMS" not in mail


def test_where_a_crawl_starts_does_not_change_what_it_finds(site, db, scrapy):
    before = db.query("SELECT id, fingerprint, first_crawl_id FROM findings ORDER BY id")
    scrapy("crawl", "site", "-a", f"url={site.url}blog/", *FAST)
    site.crawl()
    after = db.query("SELECT id, fingerprint, first_crawl_id, fixed_at FROM findings ORDER BY id")
    assert [r["fingerprint"] for r in after] == [r["fingerprint"] for r in before]
    assert all(r["fixed_at"] is None and r["first_crawl_id"] == 1 for r in after)
    [footer] = db.query("SELECT place, page_url, data FROM findings WHERE data->>'word' = 'recieve'")
    assert footer["place"].startswith("block:") and footer["data"]["pages"] == 4
    assert len(outbox(db)) == 1  # nothing changed: no digest at all


def test_a_budget_cut_keeps_unvisited_findings_open_and_still_digests(site, db):
    (site.root / "index.html").write_text(PAGES["index.html"].replace("bakery", "bakery occured"))
    (site.root / "about.html").write_text(PAGES["about.html"].replace("seperate", "separate"))
    site.crawl("-s", "FLAWLESS_MAX_PAGES=1")
    crawl = last_crawl(db)
    assert crawl["status"] == "incomplete"
    assert crawl["reason"].startswith("the page budget of 1 pages was reached (")
    assert crawl["left_out"]["budget"] == 3  # /about.html, /blog/ and /missing.html
    assert "occured" in open_words(db)
    assert "seperate" in open_words(db) and not fixed_words(db)  # about.html was not fetched
    mail = outbox(db)[-1]
    assert mail["subject"] == f"Flawless: 1 new problem on {site.url.split('/')[2]}"
    assert "stopped early (the page budget of 1 pages was reached" in mail["message"]


def test_counts_agree_across_digest_report_and_sites_list(tmp_path, serve, scrapy, db):
    body = ('<p>We recieve orders daily.</p><a href="/gone.html#menu">Menu</a>'
            '<a href="/gone.html">Menu again</a><img src="/nope.png" alt="">')
    root = write_site(tmp_path / "s", {
        "index.html": page(body + '<a href="/two.html">Two</a>'),
        "two.html": page(body + "<p>I could of known. We like the the bread.</p>"),
    })
    server = serve(root)
    scrapy("sites", "add", server.url, "--email", "owner@example.com")
    scrapy("crawl", "site", "-a", f"site={server.url}", *FAST)
    mail = outbox(db)[0]["message"]
    new = int(re.search(r"New: (\d+)", mail).group(1))
    report = scrapy("report", server.url.split("/")[2]).stdout
    summary = re.search(r"(\d+) open problems \((\d+) new\)", report)
    listed = column(scrapy("sites", "list").stdout, "OPEN")
    jsonl = [json.loads(line) for line in scrapy("report", server.url.split("/")[2],
                                                  "--format", "jsonl").stdout.splitlines()]
    # gone.html (2 pages, 2 ways) and nope.png are 2 problems; "recieve" on 2 pages and in the
    # footer is 1; two grammar slips.
    assert new == int(summary.group(1)) == int(summary.group(2)) == int(listed) == 5, (mail, report)
    assert len({(r["type"], r.get("url") or r.get("word") or r.get("message")) for r in jsonl}) == 5


def test_pages_count_html_pages_not_link_targets(tmp_path, serve, scrapy, db):
    links = "".join(f'<a href="/missing-{n}.html">{n}</a>' for n in range(5))
    root = write_site(tmp_path / "s", {"index.html": page(links + '<a href="/a.html">a</a>'),
                                       "a.html": page("<p>A page.</p>")})
    server = serve(root)
    scrapy("sites", "add", server.url, "--email", "owner@example.com")
    scrapy("crawl", "site", "-a", f"site={server.url}", *FAST)
    assert last_crawl(db)["pages"] == 2
    assert "Crawled 2 pages of" in outbox(db)[0]["message"]
    assert column(scrapy("sites", "list").stdout, "PAGES") == "2"


def test_the_owner_hears_once_about_an_outage_and_once_when_it_is_over(site, db):
    (site.root / "_status.json").write_text('{"/": 503}')
    site.crawl(check=False)
    assert [m["kind"] for m in outbox(db)] == ["digest"]  # one failure is not an outage yet
    site.crawl(check=False)
    site.crawl(check=False)
    mails = outbox(db)
    assert [m["kind"] for m in mails] == ["digest", "outage"]
    assert mails[1]["subject"] == f"Flawless could not check {site.url.split('/')[2]}"
    assert "the start page answered HTTP 503" in mails[1]["message"]
    assert "The last 2 crawls" in mails[1]["message"]
    (site.root / "_status.json").unlink()
    site.crawl()
    mails = outbox(db)
    assert [m["kind"] for m in mails] == ["digest", "outage", "recovered"]  # nothing changed
    assert "after 3 failed crawls" in mails[2]["message"]
    assert not fixed_words(db)


def test_index_html_is_the_same_page_as_its_folder(tmp_path, serve, scrapy, db):
    root = write_site(tmp_path / "s", {
        "index.html": page('<p>We recieve guests.</p><a href="/index.html">Home</a>'
                           '<a href="/docs/">Docs</a><a href="/gone.html">Gone</a>'),
        "docs/index.html": page('<p>Docs.</p><a href="/docs/index.html">Docs home</a>'),
    })
    server = serve(root)
    scrapy("sites", "add", server.url, "--email", "owner@example.com")
    scrapy("crawl", "site", "-a", f"site={server.url}", *FAST)
    rows = db.query("SELECT page_url FROM findings")
    assert rows and not [r for r in rows if r["page_url"].endswith("index.html")], rows
    assert last_crawl(db)["pages"] == 2
    folded = db.query("SELECT url, canonical_url FROM pages WHERE canonical_url IS NOT NULL"
                      " ORDER BY url")
    assert [(r["url"], r["canonical_url"]) for r in folded] == [
        (f"{server.url}docs/index.html", f"{server.url}docs/"),
        (f"{server.url}index.html", server.url)]
    # Started from /index.html, the crawl finds the very same problems: nothing new, nothing fixed.
    before = {r["fingerprint"] for r in db.query("SELECT fingerprint FROM findings")}
    scrapy("crawl", "site", "-a", f"url={server.url}index.html", *FAST)
    after = db.query("SELECT fingerprint, fixed_at FROM findings")
    assert {r["fingerprint"] for r in after} == before and all(not r["fixed_at"] for r in after)


def test_rel_canonical_folds_the_same_document_but_never_hides_a_different_one(tmp_path, serve,
                                                                                scrapy, db):
    def doc(canonical: str, text: str) -> str:
        return (f'<!doctype html><html lang=en><head><title>T</title><link rel="canonical" '
                f'href="{canonical}"></head><body><p>{text}</p><a href="/a.html?ref=nav">a</a>'
                f'<a href="/b.html">b</a></body></html>')

    root = tmp_path / "s"
    root.mkdir()
    (root / "index.html").write_text(doc("/", "Home."))
    (root / "a.html").write_text(doc("/a.html", "We recieve guests."))
    # A wrong canonical (a different page naming the home page) must not hide "seperate".
    (root / "b.html").write_text(doc("/", "We bake seperate loaves."))
    (root / "robots.txt").write_text("User-agent: *\nDisallow:\n")
    server = serve(root)
    scrapy("crawl", "site", "-a", f"url={server.url}", *FAST)
    rows = db.query("SELECT page_url, data->>'word' AS word FROM findings WHERE type = 'spelling'")
    assert sorted((r["word"], r["page_url"].removeprefix(server.url)) for r in rows) == [
        ("recieve", "a.html"), ("seperate", "b.html")]
    folded = db.query("SELECT url, canonical_url FROM pages WHERE canonical_url IS NOT NULL")
    assert [(r["url"].removeprefix(server.url), r["canonical_url"].removeprefix(server.url))
            for r in folded] == [("a.html?ref=nav", "a.html")]


def test_a_depth_limit_cut_is_incomplete_and_says_how_much_was_left(site, db):
    (site.root / "blog/post.html").write_text(PAGES["blog/post.html"].replace("definately", "ok"))
    site.crawl("-s", "DEPTH_LIMIT=1")
    crawl = last_crawl(db)
    assert crawl["status"] == "incomplete" and crawl["left_out"] == {"depth": 1}
    assert crawl["reason"] == "the depth limit (DEPTH_LIMIT=1) was reached (1 more page not fetched)"
    assert "definately" in open_words(db)  # /blog/post.html (depth 2) was not fetched: not fixed
