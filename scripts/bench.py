"""Benchmark: crawl a generated local site with and without each check stage, and time them.

Prints pages per second and CPU seconds of whole crawls (the baseline is the same crawl with
the link and language stages switched off, in the same run), the language stage's share of the
crawl's CPU time, and the language stage's own words per second on one core with warm caches.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg2
import psycopg2.extensions

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flawless_spider.db import Database, database_url  # noqa: E402
from scripts.bench_language import bench as bench_language  # noqa: E402
from scripts.bench_language import prose_paragraphs  # noqa: E402

MISTAKES = ["recieve", "seperate", "occured", "definately", "accomodate", "untill", "wich"]


def generate_site(folder: Path, pages: int, seed: int = 7) -> int:
    """Write ``pages`` linked HTML pages of prose (with a few mistakes); returns the word count."""
    from html import escape

    rng = random.Random(seed)
    paragraphs = prose_paragraphs()
    words = 0
    (folder / "robots.txt").write_text("User-agent: *\nAllow: /\n")
    for n in range(pages):
        body = []
        for paragraph in rng.sample(paragraphs, 4):
            if rng.random() < 0.2:
                tokens = paragraph.split()
                tokens[rng.randrange(len(tokens))] = rng.choice(MISTAKES)
                paragraph = " ".join(tokens)
            words += len(paragraph.split())
            body.append(f"<p>{escape(paragraph)}</p>")
        links = [f'<a href="/p{rng.randrange(pages)}.html">page {k}</a>' for k in range(8)]
        if n % 25 == 0:
            links.append(f'<a href="/missing-{n}.html">gone</a>')
        nav = '<nav><a href="/">Home</a> <a href="/p1.html">Guide</a> <a href="/p2.html">FAQ</a></nav>'
        html = (f'<!doctype html><html lang="en"><head><title>Page {n}</title></head><body>{nav}'
                f"<h1>Page {n}</h1>{''.join(body)}<p>{' '.join(links)}</p>"
                "<footer><p>Copyright the bench authors.</p></footer></body></html>")
        name = "index.html" if n == 0 else f"p{n}.html"
        (folder / name).write_text(html)
    return words


def crawl(url: str, env: dict[str, str], extra: list[str]) -> dict[str, float]:
    """One real ``scrapy crawl`` in a child process: wall time, CPU time, pages stored."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "scrapy", "crawl", "site", "-a", f"url={url}", "-s", "LOG_LEVEL=WARNING",
         "-s", "AUTOTHROTTLE_ENABLED=false", "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=16", *extra],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode:
        sys.exit(f"crawl failed:\n{result.stderr[-3000:]}")
    return {"wall": wall, "cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=300, help="pages in the generated site (300)")
    parser.add_argument("--words", type=int, default=200_000,
                        help="words for the language stage's own benchmark (200000)")
    args = parser.parse_args()

    os.environ.setdefault("FLAWLESS_STATE_DIR", str(ROOT / "state" / "bench"))
    base = database_url(None)
    dbname = f"flawless_bench_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(base)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{dbname}"')
    url = psycopg2.extensions.make_dsn(base, dbname=dbname)
    Database(url).connection().close()
    server = None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            words = generate_site(Path(tmp), args.pages)
            server = subprocess.Popen([sys.executable, str(ROOT / "tests" / "sitesrv.py"), tmp],
                                      stdout=subprocess.PIPE, text=True)
            site = f"http://127.0.0.1:{int(server.stdout.readline())}/"
            env = {**os.environ, "DATABASE_URL": url, "FLAWLESS_ALLOW_PRIVATE_NETWORKS": "true"}
            runs = {
                "baseline (no checks)": ["-s", "FLAWLESS_LINKS_ENABLED=false",
                                         "-s", "FLAWLESS_LANGUAGE_ENABLED=false"],
                "links only": ["-s", "FLAWLESS_LANGUAGE_ENABLED=false"],
                "links + language": [],
            }
            results = {name: crawl(site, env, extra) for name, extra in runs.items()}
        print(f"Generated site: {args.pages} pages, {words:,} words of prose, served on loopback")
        print(f"{'crawl':<24}{'wall s':>9}{'pages/s':>10}{'CPU s':>9}{'CPU vs baseline':>17}")
        base_cpu = results["baseline (no checks)"]["cpu"]
        for name, r in results.items():
            print(f"{name:<24}{r['wall']:>9.2f}{args.pages / r['wall']:>10.1f}{r['cpu']:>9.2f}"
                  f"{r['cpu'] / base_cpu:>16.2f}x")
        full, links = results["links + language"]["cpu"], results["links only"]["cpu"]
        print(f"Language stage share of the crawl's CPU time: {(full - links) / full:.1%}")
        print(f"Language stage inside the crawl: {words / max(full - links, 1e-9):,.0f} words per CPU second "
              "(words of prose / the extra CPU time of the crawl with the stage on)")
        figures = bench_language(args.words)
        print("Language stage, one core, warm caches: "
              + json.dumps(figures, default=lambda v: round(v, 3)))
    finally:
        if server is not None:
            server.terminate()
            server.wait()
            server.stdout.close()
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        admin.close()


if __name__ == "__main__":
    main()
