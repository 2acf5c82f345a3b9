"""Re-crawls: conditional requests, and unchanged pages reused without changing what is found.

Each test crawls a small site served by the fixture HTTP server (which answers ``304 Not
Modified`` to a matching ``If-None-Match``, as nginx does), crawls it again, and compares what the
real database holds: a reused crawl must find exactly what a full check finds.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.distsite import all_pages, make_site, same_findings, start_worker
from tests.distsite import findings as report
from tests.test_trust_evidence import FAST, page  # the same small bakery site

# "frobnitz" is an unknown word in two blocks: a likely typo, decided at the end of the crawl
# (three blocks would make it a term of the site). The footer is site-wide (block:<hash>).
PAGES = {
    "index.html": page('<p>Welcome to our bakery.</p><a href="/about.html">About</a> '
                       '<a href="/blog/">Blog</a> <a href="/missing.html">Old menu</a>', "Home"),
    "about.html": page("<p>We bake seperate loaves with a frobnitz.</p>", "About"),
    "blog/index.html": page('<p>Our blog.</p><a href="/blog/post.html">A post</a>', "Blog"),
    "blog/post.html": page('<p>This is definately our best bread.</p><p>Our frobnitz is old.</p>'
                           '<a href="/blog/">Back</a>', "Post"),
}


def write_site(root: Path, pages: dict[str, str]) -> Path:
    for name, html in pages.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(html)
    (root / "robots.txt").write_text("User-agent: *\nDisallow:\n")
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
    server.reset()
    return server


def findings(db) -> dict[str, dict]:
    """Every finding by fingerprint: what it is, where, and its state."""
    rows = db.query("SELECT fingerprint, type, place, page_url, data, first_crawl_id, last_crawl_id,"
                    " fixed_crawl_id FROM findings")
    return {r["fingerprint"]: r for r in rows}


def what(rows: dict[str, dict]) -> dict[str, tuple]:
    """Findings as the owner sees them, without the crawl ids."""
    return {fp: (r["type"], r["place"], r["page_url"], r["data"], r["fixed_crawl_id"] is None)
            for fp, r in rows.items()}


def open_words(db) -> set[str]:
    return {r["w"] for r in db.query("SELECT data->>'word' AS w FROM findings"
                                     " WHERE type = 'spelling' AND fixed_at IS NULL")}


def block_pages(db) -> set[str]:
    rows = db.query("SELECT fp.url FROM finding_pages fp JOIN findings f ON f.id = fp.finding_id"
                    " WHERE f.place LIKE 'block:%%'")
    return {r["url"] for r in rows}


def last_crawl(db) -> dict:
    return db.query("SELECT * FROM crawls ORDER BY id DESC LIMIT 1")[0]


def statuses(server) -> dict[str, int]:
    """The status the server answered for each page path (the last GET)."""
    return {e["path"]: e.get("status") for e in server.log() if e["method"] == "GET"}


def reused_pages(db, crawl_id: int) -> set[str]:
    return {r["url"].split("/", 3)[3] for r in db.query(
        "SELECT url FROM pages WHERE crawl_id = %s AND reused", (crawl_id,))}


def outbox(db) -> list[dict]:
    return db.query("SELECT kind, subject FROM outbox ORDER BY id")


def test_an_unchanged_site_answers_304_and_every_finding_stays_open(site, db):
    before = findings(db)
    assert open_words(db) == {"recieve", "seperate", "definately", "frobnitz"}
    site.crawl()
    crawl = last_crawl(db)
    assert crawl["status"] == "complete"
    answered = statuses(site)
    assert [answered[p] for p in ("/", "/about.html", "/blog/", "/blog/post.html")] == [304] * 4
    assert reused_pages(db, crawl["id"]) == {"", "about.html", "blog/", "blog/post.html"}
    after = findings(db)
    # The same findings, still open, seen by this crawl (neither new nor fixed).
    assert what(after) == what(before)
    assert all(r["fixed_crawl_id"] is None for r in after.values())
    assert {r["last_crawl_id"] for r in after.values()} == {crawl["id"]}
    assert {r["first_crawl_id"] for r in after.values()} == {crawl["id"] - 1}
    assert block_pages(db) == {site.url, site.url + "about.html", site.url + "blog/",
                               site.url + "blog/post.html"}
    assert crawl["checked"] == ["grammar", "link", "link:external", "spelling"]
    # The broken link from an unchanged page was checked again (not taken from the last crawl).
    assert answered["/missing.html"] == 404
    mails = outbox(db)
    assert len(mails) == 1 or "new" not in mails[-1]["subject"]


def test_a_reused_crawl_finds_what_a_full_check_finds(site, db):
    # One page changes in a way that changes the end-of-crawl decisions about unchanged pages:
    # "frobnitz" in a third block makes it a term of the site (no longer a typo on the others).
    write_site(site.root, {"index.html": PAGES["index.html"].replace(
        "Welcome to our bakery.", "Welcome to our bakery. Ask for a frobnitz.")})
    site.crawl()
    reused = last_crawl(db)
    assert reused_pages(db, reused["id"]) == {"about.html", "blog/", "blog/post.html"}
    assert statuses(site)["/"] == 200
    assert "frobnitz" not in open_words(db)
    fixed = {r["data"]["word"] for r in findings(db).values()
             if r["fixed_crawl_id"] == reused["id"]}
    assert fixed == {"frobnitz"}
    after_reuse = what(findings(db))
    # The same site checked in full: nothing new, nothing fixed, the same findings.
    site.reset()
    site.crawl("-s", "FLAWLESS_REUSE_UNCHANGED=false")
    full = last_crawl(db)
    assert 304 not in statuses(site).values()
    assert not reused_pages(db, full["id"])
    assert what(findings(db)) == after_reuse
    # ... and a reused crawl after it finds the same again.
    site.reset()
    site.crawl()
    assert reused_pages(db, last_crawl(db)["id"]) == {"", "about.html", "blog/", "blog/post.html"}
    assert what(findings(db)) == after_reuse


def test_a_changed_page_is_checked_again(site, db):
    write_site(site.root, {"about.html": PAGES["about.html"].replace("seperate", "separate")
                           .replace("loaves", "loafs of bread, occured daily,")})
    site.crawl()
    crawl = last_crawl(db)
    answered = statuses(site)
    assert answered["/about.html"] == 200 and answered["/blog/post.html"] == 304
    assert "about.html" not in reused_pages(db, crawl["id"])
    rows = findings(db).values()
    fixed = {r["data"]["word"] for r in rows if r["fixed_crawl_id"] == crawl["id"]}
    new = {r["data"].get("word") for r in rows if r["first_crawl_id"] == crawl["id"]}
    assert fixed == {"seperate"}
    assert new == {"occured"}
    assert open_words(db) == {"recieve", "definately", "frobnitz", "occured"}


def test_a_deleted_page_breaks_the_links_of_unchanged_pages(site, db):
    (site.root / "blog" / "post.html").unlink()
    site.crawl()
    crawl = last_crawl(db)
    assert statuses(site)["/blog/"] == 304
    assert "blog/" in reused_pages(db, crawl["id"])
    broken = db.query("SELECT page_url, data FROM findings WHERE type = 'link'"
                      " AND first_crawl_id = %s", (crawl["id"],))
    assert [(r["page_url"], r["data"]["url"], r["data"]["status"]) for r in broken] == [
        (site.url + "blog/", site.url + "blog/post.html", 404)]
    # The missing page's own findings: not fixed (no evidence), still open.
    assert "definately" in open_words(db)


def test_new_site_words_mean_a_full_check(site, db, scrapy):
    scrapy("sites", "words", "add", site.url, "frobnitz")
    site.crawl()
    crawl = last_crawl(db)
    assert 304 not in statuses(site).values()
    assert not reused_pages(db, crawl["id"])
    assert "frobnitz" not in open_words(db)
    # The next crawl reuses what this one checked.
    site.reset()
    site.crawl()
    assert set(statuses(site).values()) >= {304}
    assert open_words(db) == {"recieve", "seperate", "definately"}


def test_a_crawl_after_a_failed_crawl_reuses_what_was_checked_before(site, db):
    (site.root / "_status.json").write_text('{"/": 503}')
    result = site.crawl(check=False)
    assert result.returncode == 1 and last_crawl(db)["status"] == "failed"
    (site.root / "_status.json").unlink()
    site.reset()
    site.crawl()
    crawl = last_crawl(db)
    assert crawl["status"] == "complete"
    assert reused_pages(db, crawl["id"]) == {"", "about.html", "blog/", "blog/post.html"}
    assert open_words(db) == {"recieve", "seperate", "definately", "frobnitz"}
    assert not any(r["fixed_crawl_id"] for r in findings(db).values())


def test_a_shared_recrawl_reuses_pages_and_finds_what_one_process_found(
        serve, scrapy, scrapy_env, redis_url, db, tmp_path):
    other = serve("basic")  # another site the pages link to
    srv = serve(make_site(tmp_path / "site", other.url))
    domain = srv.url.split("/")[2]
    scrapy("sites", "add", srv.url, "--email", "owner@example.com")
    settings = ("FLAWLESS_LINK_TIMEOUT=2", "FLAWLESS_LINK_RETRY_DELAY=0.1",
                "AUTOTHROTTLE_ENABLED=false", "FLAWLESS_WORKER_LEASE=3")
    scrapy("crawl", "site", "-a", f"site={domain}", *(p for s in settings for p in ("-s", s)))
    alone = report(scrapy, domain)
    srv.reset()
    env = {**scrapy_env, "REDIS_URL": redis_url}
    logs = [tmp_path / f"worker{n}.log" for n in range(2)]
    workers = [start_worker(domain, env, log, *settings) for log in logs]
    for worker, log in zip(workers, logs, strict=True):
        assert worker.wait(90) == 0, log.read_text()[-4000:]
    first = db.query("SELECT min(id) AS id FROM crawls")[0]["id"]
    # Usually one crawl of two workers (one that starts late may find it over and crawl again).
    crawl = db.query("SELECT * FROM crawls WHERE id = %s", (first + 1,))[0]
    assert crawl["status"] == "complete" and "flawless/workers" in crawl["stats"]
    answered = statuses(srv)
    not_modified = {path for path, status in answered.items() if status == 304}
    assert not_modified >= all_pages() - {"/guide/index.html"}  # folded into /guide/
    assert len(reused_pages(db, crawl["id"])) >= len(not_modified)
    same_findings(report(scrapy, domain), alone)
    states = scrapy("report", domain, "--format", "csv").stdout
    assert ",new," not in states and ",fixed," not in states


def test_the_states_of_pages_asked_for_together_are_read_in_a_few_queries(
        tmp_path, serve, scrapy, db):
    # Thirty pages linked from the home page: their conditional requests go out together, and
    # their stored states are read together (not one query per page).
    count = 30
    pages = {"index.html": page("".join(f'<a href="/p{n}.html">{n}</a> ' for n in range(count)))}
    pages.update({f"p{n}.html": page(f"<p>Page number {n}.</p>") for n in range(count)})
    server = serve(write_site(tmp_path / "site", pages))
    for _ in range(2):
        scrapy("crawl", "site", "-a", f"url={server.url}", *FAST)
    crawl = last_crawl(db)
    assert len(reused_pages(db, crawl["id"])) == count + 1
    assert crawl["stats"]["flawless/recrawl/not_modified"] == count + 1
    # The home page's state alone, then the thirty in one or a few reads.
    assert crawl["stats"].get("flawless/recrawl/state_reads", count + 1) <= 5
