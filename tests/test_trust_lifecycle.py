"""Ten crawls of one site through fixes, regressions, an outage, partial and cut-short crawls.

After each crawl the e-mails in the outbox must equal what follows from the site's real state:
a small model below tracks what is on each page and which pages each crawl could see, and says
which problems the digest must call new, fixed and open (or that no digest is due).
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass, field
from pathlib import Path

from flawless_spider.findings import problem_state

FAST = ("-s", "FLAWLESS_LINK_TIMEOUT=2", "-s", "FLAWLESS_LINK_RETRY_DELAY=0.1",
        "-s", "AUTOTHROTTLE_ENABLED=false", "-s", "LOG_LEVEL=WARNING", "-s", "RETRY_TIMES=0",
        "-s", "FLAWLESS_FOLLOW_SITEMAPS=false")
PAGES = ("index.html", "about.html", "blog/index.html", "blog/post.html")
LINKS = {"index.html": ["/about.html", "/blog/"], "about.html": [], "blog/index.html":
         ["/blog/post.html"], "blog/post.html": ["/blog/"]}
URL_OF = {"index.html": "", "about.html": "about.html", "blog/index.html": "blog/",
          "blog/post.html": "blog/post.html"}
BLOCK = "footer"


def label(href: str) -> str:
    """Link text: ``About`` for ``/about.html``, ``Blog`` for ``/blog/``."""
    return href.strip("/").split("/")[-1].partition(".")[0].capitalize()


@dataclass
class Site:
    """What is really on the site: misspelt words per page, broken links, the footer's words."""

    words: dict[str, set[str]]
    footer: set[str]
    broken: dict[str, set[str]] = field(default_factory=dict)

    def write(self, root: Path) -> None:
        for name in PAGES:
            links = LINKS[name] + sorted(self.broken.get(name, ()))
            body = " ".join(f"We {w} it." for w in sorted(self.words.get(name, ()))) or "Hello."
            anchors = "".join(f'<li><a href="{href}">{label(href)}</a></li>' for href in links)
            footer = " ".join(f"Open {w} six." for w in sorted(self.footer)) or "Open daily."
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"<!doctype html><html lang=en><head><title>{name}</title></head>"
                            f"<body><main><p>{body}</p><ul>{anchors}</ul></main>"
                            f"<footer><p>{footer}</p></footer></body></html>")
        (root / "robots.txt").write_text("User-agent: *\nDisallow:\n")


@dataclass
class Model:
    """What Flawless should believe: one record per (problem, place), like the findings table."""

    records: dict[tuple[str, str], dict] = field(default_factory=dict)
    last_digest: int = 0

    def crawl(self, n: int, site: Site, seen: set[str], finished: bool) -> None:
        """Crawl ``n`` checked the pages ``seen``; ``finished``: every stage ran to the end."""
        present: set[tuple[str, str]] = set()
        for page in seen:
            present |= {(w, page) for w in site.words.get(page, ())}
            present |= {(u, page) for u in site.broken.get(page, ())}
            if finished:  # site-wide text is reported when the crawl has seen it all
                present |= {(w, BLOCK) for w in site.footer}
        for key in present:
            record = self.records.get(key)
            if record is None or record["fixed"]:
                self.records[key] = {"first": n, "fixed": 0}
        if not finished:
            return
        for (problem, place), record in self.records.items():
            pages = set(PAGES) if place == BLOCK else {place}
            if not record["fixed"] and (problem, place) not in present and pages <= seen:
                record["fixed"] = n

    def digest(self, n: int) -> tuple[set[str], set[str], int] | None:
        """(new, fixed, open now) problems the digest after crawl ``n`` shows, or None if none is due."""
        states: dict[str, set[str]] = {}
        for (problem, _), r in self.records.items():
            if r["fixed"] and (r["fixed"] <= self.last_digest or r["first"] > self.last_digest):
                continue  # fixed before the last digest, or never told: not in this one
            state = "fixed" if r["fixed"] else ("new" if r["first"] > self.last_digest else "open")
            states.setdefault(problem, set()).add(state)
        by_state: dict[str, set[str]] = {"new": set(), "fixed": set(), "open": set()}
        for problem, found in states.items():
            by_state[problem_state(found)].add(problem)
        if not by_state["new"] and not by_state["fixed"]:
            return None
        self.last_digest = n
        return by_state["new"], by_state["fixed"], len(by_state["new"] | by_state["open"])


def shown(message: str, heading: str) -> set[str]:
    """The problems listed under ``heading`` in a digest's text part: words and link targets."""
    section = message.partition(heading)[2]
    section = re.split(r"\n[A-Z][A-Z ]+ \(\d+\)\n|\n--\n", section)[0]
    words = set(re.findall(r'^- "([^"]+)"', section, re.M))
    # A broken link is headed by the page to fix, then "link to TARGET: ..." names the target.
    links = {"/" + u.split("/", 3)[3] for u in re.findall(r"^  link to (http\S+?):? ", section,
                                                          re.M)}
    return words | links


def test_ten_crawls_digests_match_the_site(tmp_path, serve, scrapy, db):
    root = tmp_path / "site"
    root.mkdir()
    site = Site(words={"index.html": {"recieve"}, "about.html": {"seperate"},
                       "blog/post.html": {"definately"}},
                footer={"untill"}, broken={"index.html": {"/missing.html"}})
    site.write(root)
    server = serve(root)
    scrapy("sites", "add", server.url, "--email", "owner@example.com")
    model = Model()
    everything = set(PAGES)

    def full(*extra: str, check: bool = True) -> None:
        scrapy("crawl", "site", "-a", f"site={server.url}", *FAST, *extra, check=check)

    def check(n: int, kinds: list[str]) -> None:
        mails = db.query("SELECT kind, convert_from(message, 'UTF8') AS text FROM outbox"
                         " WHERE crawl_id = (SELECT max(id) FROM crawls) ORDER BY id")
        assert [m["kind"] for m in mails if m["kind"] != "digest"] == kinds, (n, mails)
        digests = [m["text"] for m in mails if m["kind"] == "digest"]
        expected = model.digest(n)
        if expected is None:
            assert digests == [], (n, digests)
            return
        [raw] = digests
        new, fixed, open_now = expected
        message = email.message_from_string(raw, policy=email.policy.default)
        text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
        assert shown(text, "NEW PROBLEMS") == new, (n, text)
        assert shown(text, "FIXED SINCE THE LAST DIGEST") == fixed, (n, text)
        assert f"Open now: {open_now}" in text, (n, text[:2500])

    # 1. The first crawl: everything is new.
    full()
    model.crawl(1, site, everything, True)
    check(1, [])
    # 2. One typo fixed, one added.
    site.words["about.html"] = set()
    site.words["blog/post.html"].add("occured")
    site.write(root)
    full()
    model.crawl(2, site, everything, True)
    check(2, [])
    # 3, 4. The site is down for maintenance twice: nothing changes, then the owner is told.
    (root / "_status.json").write_text('{"/": 503}')
    full(check=False)
    model.crawl(3, site, set(), False)
    check(3, [])
    full(check=False)
    model.crawl(4, site, set(), False)
    check(4, ["outage"])
    # 5. Back, with a regression (the fixed typo is back) and the broken link repaired.
    (root / "_status.json").unlink()
    site.words["about.html"] = {"seperate"}
    site.broken = {}
    site.write(root)
    full()
    model.crawl(5, site, everything, True)
    check(5, ["recovered"])
    # 6. A crawl of one post (partial): it fixes what it saw, and sends nothing.
    site.words["blog/post.html"] = {"occured"}
    site.write(root)
    scrapy("crawl", "site", "-a", f"url={server.url}blog/post.html", *FAST)
    model.crawl(6, site, {"blog/post.html", "blog/index.html"}, True)
    assert db.query("SELECT count(*) AS n FROM outbox WHERE crawl_id = 6")[0]["n"] == 0
    # 7. A crawl cut short by its page budget: only the home page; the footer fix and the
    #    about page's fix are not seen, the partial crawl's fix is reported now.
    site.words["about.html"] = set()
    site.footer = set()
    site.write(root)
    full("-s", "FLAWLESS_MAX_PAGES=1")
    model.crawl(7, site, {"index.html"}, True)
    check(7, [])
    # 8. A crawl stopped early by an operator's limit: records nothing as fixed.
    full("-s", "CLOSESPIDER_PAGECOUNT=1")
    model.crawl(8, site, {"index.html"}, False)
    check(8, [])
    # 9. A full crawl sees the rest of the fixes.
    full()
    model.crawl(9, site, everything, True)
    check(9, [])
    # 10. Nothing changed: no digest.
    full()
    model.crawl(10, site, everything, True)
    check(10, [])
    statuses = [r["status"] for r in db.query("SELECT status FROM crawls ORDER BY id")]
    assert statuses == ["complete", "complete", "failed", "failed", "complete", "complete",
                        "incomplete", "incomplete", "complete", "complete"]
