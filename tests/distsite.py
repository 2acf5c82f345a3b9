"""A generated site for shared-crawl tests: enough pages for several workers, and every kind of
finding whose decision needs the whole crawl (boilerplate, recurring words, internal targets,
folded ``/dir/index.html``, redirects, external links checked once)."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path

from tests.conftest import PROJECT, PYTHON

PAGES = 36

NAV = ('<nav><a href="/">Home</a> <a href="/guide/">Guide</a> <a href="/guide/index.html">Guide'
       ' again</a> <a href="/p1.html">First</a></nav>')
FOOTER = "<footer><p>We recieve mail at the ofice every weekday.</p></footer>"


def page(n: int, external: str) -> str:
    links = [f'<a href="/p{(n * 7 + k) % PAGES}.html">page {k}</a>' for k in (1, 2, 3)]
    extra = ""
    if n % 9 == 0:
        extra += f'<a href="/missing-{n}.html">gone</a> <img src="/img/gone-{n % 2}.png" alt="x">'
    if n % 12 == 0:
        extra += (f' <a href="{external}nope-{n % 24}.html">elsewhere</a>'
                  f' <a href="{external}">their home</a>')
    if n == 5:
        extra += ' <a href="/__status/301?to=/p6.html">moved</a>'
    # "quixle" recurs in many blocks: a term of the site, never reported. "zorbulate" is on
    # one page only: a likely typo. "seperate" is a known misspelling.
    words = {0: "The quixle engine is a seperate part.", 1: "Our quixle setup runs daily.",
             2: "Each quixle rests on a frame.", 7: "You can zorbulate the settings here."}
    text = words.get(n, f"This is page number {n} of the manual, with plain words.")
    return (f'<!doctype html><html lang="en"><head><title>Page {n}</title>'
            f'<link rel="stylesheet" href="/style.css"></head><body>{NAV}<h1>Page {n}</h1>'
            f"<p>{text}</p><p>{' '.join(links)} {extra}</p>{FOOTER}</body></html>")


def make_site(folder: Path, external: str, crawl_delay: float = 0) -> Path:
    """Write the site into ``folder``; ``external``: the root URL of another site it links to."""
    folder.mkdir()
    (folder / "robots.txt").write_text(
        "User-agent: *\nDisallow: /private/\n"
        + (f"Crawl-delay: {crawl_delay}\n" if crawl_delay else ""))
    (folder / "index.html").write_text(page(0, external).replace(
        "</p>", ' <a href="/private/x.html">staff</a></p>', 1))
    for n in range(1, PAGES):
        (folder / f"p{n}.html").write_text(page(n, external))
    (folder / "guide").mkdir()
    (folder / "guide" / "index.html").write_text(page(PAGES, external))
    (folder / "img").mkdir()
    (folder / "img" / "ok.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (folder / "style.css").write_text("body { background: url(/img/ok.png) }\n"
                                      "h1 { background: url(/img/missing-bg.png) }\n")
    return folder


def all_pages() -> set[str]:
    """Paths of the site's HTML pages (what a complete crawl fetches, besides targets)."""
    return {"/", "/guide/", "/guide/index.html", *(f"/p{n}.html" for n in range(1, PAGES))}


def start_worker(site: str, env: dict[str, str], log: Path, *settings: str) -> subprocess.Popen:
    """One ``scrapy crawl site -a site=SITE`` worker in the background, its output in ``log``."""
    args = [PYTHON, "-m", "scrapy", "crawl", "site", "-a", f"site={site}"]
    for setting in settings:
        args += ["-s", setting]
    with log.open("w") as out:
        return subprocess.Popen(args, cwd=PROJECT, env=env, stdout=out, stderr=subprocess.STDOUT)


def findings(scrapy, domain: str) -> list[dict]:
    """The report of the site's latest crawl, sorted, without when (``first_seen``) and whether
    (``state``: new, open) an earlier crawl saw them."""
    out = scrapy("report", domain, "--format", "jsonl").stdout
    records = [json.loads(line) for line in out.splitlines()]
    for record in records:
        record.pop("state", None)
        record.pop("first_seen", None)
    return sorted(records, key=lambda r: json.dumps(r, sort_keys=True))


def same_findings(got: list[dict], want: list[dict]) -> None:
    """Assert two reports hold the same findings, showing only those that differ."""
    key = lambda f: json.dumps(f, sort_keys=True)  # noqa: E731
    only_got = [f for f in got if key(f) not in {key(w) for w in want}]
    only_want = [f for f in want if key(f) not in {key(g) for g in got}]
    assert not (only_got or only_want), (
        "findings differ:\n" + "\n".join(f"only now: {key(f)}" for f in only_got)
        + "\n" + "\n".join(f"only before: {key(f)}" for f in only_want))


def fetched(paths: list[str]) -> Counter:
    """How often each path was requested (robots.txt aside: every worker reads it)."""
    return Counter(p for p in paths if p != "/robots.txt")
