"""Benchmark: crawl a generated local site with and without each check stage, and time them.

Prints pages per second and CPU seconds of whole crawls (the baseline is the same crawl with
the link and language stages switched off, in the same run), the language stage's share of the
crawl's CPU time, the language stage's own words per second on one core with warm caches, and
one worker against two workers sharing one crawl through Redis. The site is served by nginx
(Debian's package) so the server takes little of the CPU the crawlers need.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import socket
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, what: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"{what} did not start on port {port}")


def start_nginx(root: Path, work: Path) -> tuple[subprocess.Popen, str]:
    """Serve ``root`` with Debian's nginx on a free loopback port; returns (process, URL)."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        sys.exit("nginx is not installed: run scripts/test or scripts/demo once to install it")
    port = free_port()
    temp = work / "nginx"
    temp.mkdir(parents=True)
    (temp / "nginx.conf").write_text(f"""
daemon off;
worker_processes 1;
pid {temp}/nginx.pid;
error_log {temp}/error.log;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    types {{ text/html html; text/plain txt; }}
    server {{
        listen 127.0.0.1:{port};
        root {root};
        index index.html;
    }}
}}
""")
    proc = subprocess.Popen([nginx, "-c", str(temp / "nginx.conf"), "-p", str(temp)],
                            stderr=subprocess.DEVNULL)
    wait_for_port(port, "nginx")
    return proc, f"http://127.0.0.1:{port}/"


def start_redis(work: Path) -> tuple[subprocess.Popen, str]:
    server = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = free_port()
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(work)], stdout=subprocess.DEVNULL)
    wait_for_port(port, "redis-server")
    return proc, f"redis://127.0.0.1:{port}/0"


def shared_crawl(site: str, workers: int, env: dict[str, str], db_url: str) -> dict[str, float]:
    """One crawl of ``site`` by ``workers`` processes sharing it through Redis."""
    start = time.perf_counter()
    procs = [subprocess.Popen(
        [sys.executable, "-m", "scrapy", "crawl", "site", "-a", f"site={site}",
         "-s", "LOG_LEVEL=WARNING", "-s", "AUTOTHROTTLE_ENABLED=false",
         "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=16"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for _ in range(workers)]
    for proc in procs:
        _, err = proc.communicate()
        if proc.returncode:
            sys.exit(f"a worker failed:\n{err[-3000:]}")
    wall = time.perf_counter() - start
    db = Database(db_url)
    try:
        [row] = db.query("SELECT pages, status, extract(epoch FROM finished_at - started_at)"
                         "::float8 AS seconds FROM crawls ORDER BY id DESC LIMIT 1")
    finally:
        db.close()
    if row["status"] != "complete":
        sys.exit(f"the crawl with {workers} worker(s) ended {row['status']}")
    return {"wall": wall, "pages": row["pages"], "crawl": row["seconds"]}


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
    parser.add_argument("--shared-pages", type=int, default=2000,
                        help="pages in the site for one worker against two (2000: the start-up"
                             " and the end-of-crawl work are done once, the pages are shared)")
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
    servers: list[subprocess.Popen] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            os.chmod(tmp, 0o755)  # nginx's workers run as another user when started by root
            root = Path(tmp) / "site"
            root.mkdir()
            words = generate_site(root, args.pages)
            nginx, site = start_nginx(root, Path(tmp))
            servers.append(nginx)
            env = {**os.environ, "DATABASE_URL": url, "FLAWLESS_ALLOW_PRIVATE_NETWORKS": "true"}
            env.pop("REDIS_URL", None)
            runs = {
                "baseline (no checks)": ["-s", "FLAWLESS_LINKS_ENABLED=false",
                                         "-s", "FLAWLESS_LANGUAGE_ENABLED=false"],
                "links only": ["-s", "FLAWLESS_LANGUAGE_ENABLED=false"],
                "links + language": [],
            }
            results = {name: crawl(site, env, extra) for name, extra in runs.items()}
            redis_proc, redis_url = start_redis(Path(tmp))
            servers.append(redis_proc)
            big = Path(tmp) / "big"
            big.mkdir()
            generate_site(big, args.shared_pages)
            big_nginx, big_site = start_nginx(big, Path(tmp) / "big-nginx")
            servers.append(big_nginx)
            subprocess.run([sys.executable, "-m", "scrapy", "sites", "add", big_site, "--email",
                            "bench@example.com"], cwd=ROOT, env=env, check=True,
                           capture_output=True)
            shared_env = {**env, "REDIS_URL": redis_url}
            domain = big_site.split("/")[2]
            shared = {n: shared_crawl(domain, n, shared_env, url) for n in (1, 2)}
        print(f"Generated site: {args.pages} pages, {words:,} words of prose, served by nginx"
              " on loopback")
        print(f"{'crawl':<24}{'wall s':>9}{'pages/s':>10}{'CPU s':>9}{'CPU vs baseline':>17}")
        base_cpu = results["baseline (no checks)"]["cpu"]
        for name, r in results.items():
            print(f"{name:<24}{r['wall']:>9.2f}{args.pages / r['wall']:>10.1f}{r['cpu']:>9.2f}"
                  f"{r['cpu'] / base_cpu:>16.2f}x")
        full, links = results["links + language"]["cpu"], results["links only"]["cpu"]
        print(f"Language stage share of the crawl's CPU time: {(full - links) / full:.1%}")
        print(f"Language stage inside the crawl: {words / max(full - links, 1e-9):,.0f} words per CPU second "
              "(words of prose / the extra CPU time of the crawl with the stage on)")
        print(f"Shared crawl (REDIS_URL), links + language, a site of {args.shared_pages} pages,"
              f" on {os.cpu_count()} cores:")
        print("  (crawl s: from the crawl record's start to its close; wall s: the processes,"
              " Python start-up included)")
        for n, r in shared.items():
            print(f"  {n} worker{'s' if n > 1 else ' '}  {r['pages']:>5} pages  crawl {r['crawl']:>7.2f} s"
                  f"  {r['pages'] / r['crawl']:>7.1f} pages/s   wall {r['wall']:>7.2f} s"
                  f"  {r['pages'] / r['wall']:>7.1f} pages/s")
        speedup = (shared[2]["pages"] / shared[2]["crawl"]) / (shared[1]["pages"] / shared[1]["crawl"])
        print(f"  two workers: {speedup:.2f}x the pages per second of one")
        figures = bench_language(args.words)
        print("Language stage, one core, warm caches: "
              + json.dumps(figures, default=lambda v: round(v, 3)))
    finally:
        for server in servers:
            server.terminate()
            server.wait()
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        admin.close()


if __name__ == "__main__":
    main()
