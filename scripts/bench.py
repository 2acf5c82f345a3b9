"""Benchmark: Flawless's full pipeline against a bare Scrapy spider on the same sites, in one run.

Sections (--sections, comma-separated; default: generated,pydocs,internet,recrawl):

generated  A generated site of prose pages with shared navigation (--pages, 5000), served by
           nginx: the bare spider, then Flawless's full pipeline; pages/s of each and the ratio,
           peak memory, CPU seconds per stage, words/s of the language stage inside the crawl and
           link checks/s. Past 5000 pages a 5000-page site is crawled too, for the memory growth
           per page between the two.
pydocs     Debian's python3.11-doc HTML (--pydocs-root), the same two crawls, external links off.
internet   A site linking to a simulated internet on loopback (127.0.0.x hosts with latency, one
           busy host, slow ones, dead names, refused ports), crawled by Flawless with external
           checks on: the external phase's time against the politeness bound (busiest host's URLs
           x its latency / per-host concurrency), and DNS lookups per dead host.
recrawl    The generated site crawled again into the same database: the second crawl's time
           against the first, and the 304 responses in nginx's access log; then Scrapy's own
           floor for it: the bare spider's first crawl and its re-crawl with conditional
           requests, following the links it stored for each page that answers 304.
workers    One worker against two sharing a crawl through Redis (--shared-pages, 2000).
language   The language stage's own micro-benchmark (one core, warm caches; --words).

Every crawl is a separate process, measured from outside (wall time, CPU time, peak memory of
its process tree: its footprint with shared pages counted once, which the memory targets are
judged on, PSS, the sum of RSS, and the kernel's high-water mark) and from inside by a probe extension
(bench/probe.py: CPU per stage by stack sampling, Scrapy's stats, DNS lookups). Crawls run
without politeness delays: AutoThrottle off, 16 requests in flight, 16 per host, no depth limit.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
import psycopg2
import psycopg2.extensions

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import internet  # noqa: E402
from flawless_spider.db import Database, database_url  # noqa: E402
from scripts.bench_language import bench as bench_language  # noqa: E402
from scripts.bench_language import prose_paragraphs  # noqa: E402

MISTAKES = ["recieve", "seperate", "occured", "definately", "accomodate", "untill", "wich"]
SECTIONS = ("generated", "pydocs", "internet", "recrawl", "workers", "language")
DEFAULT_SECTIONS = "generated,pydocs,internet,recrawl"
PYDOCS = Path("/usr/share/doc/python3.11/html")
# The crawl settings of every crawl here, Flawless's and the bare spider's (bench/bare.py).
# No depth limit: the generated site's random links make paths deeper than Flawless's 50 in
# Scrapy's depth-first order, and a page left out makes the crawl incomplete.
CRAWL_SETTINGS = {"AUTOTHROTTLE_ENABLED": "false", "CONCURRENT_REQUESTS": "16",
                  "CONCURRENT_REQUESTS_PER_DOMAIN": "16", "DEPTH_LIMIT": "0", "LOG_LEVEL": "WARNING"}
STAGES = ("spider", "links", "language", "store", "other")
STAGE_NAMES = {"spider": "spider+flawless_spider", "links": "links", "language": "language",
               "store": "store", "other": "scrapy/twisted/rest"}
WORDS_STAT = "flawless/language/words"
CPU_STAT = "flawless/language/cpu_seconds"
SUGGEST_THREAD = "thread flawless-suggest"  # the language stage's spelling suggestions


# -- sites ------------------------------------------------------------------------------------

def generate_site(folder: Path, pages: int, seed: int = 7) -> int:
    """Write ``pages`` linked pages of prose (a few mistakes) with shared navigation; returns words."""
    from html import escape

    rng = random.Random(seed)
    paragraphs = prose_paragraphs()
    words = 0
    (folder / "robots.txt").write_text("User-agent: *\nAllow: /\n")
    sections = ["Guide", "Tutorial", "Reference", "FAQ", "Download", "Community", "Blog", "About"]
    nav = ('<header><nav><a href="/">Home</a> '
           + " ".join(f'<a href="/p{k + 1}.html">{name}</a>' for k, name in enumerate(sections))
           + "</nav></header>")
    footer = ('<footer><p><a href="/p9.html">Contact</a> <a href="/p10.html">Privacy</a>'
              ' <a href="/p11.html">Terms</a></p><p>Copyright the bench authors.</p></footer>')
    for n in range(pages):
        body = []
        for paragraph in rng.sample(paragraphs, 4):
            if rng.random() < 0.2:
                tokens = paragraph.split()
                tokens[rng.randrange(len(tokens))] = rng.choice(MISTAKES)
                paragraph = " ".join(tokens)
            words += len(paragraph.split())
            body.append(f"<p>{escape(paragraph)}</p>")
        # Page n links on to 2n+1 and 2n+2 (so every page is reached) and to 6 random pages.
        targets = [m for m in (2 * n + 1, 2 * n + 2) if m < pages]
        targets += [rng.randrange(pages) for _ in range(6)]
        links = [f'<a href="/p{m}.html">page {m}</a>' if m else '<a href="/">home</a>' for m in targets]
        if n % 25 == 0:
            links.append(f'<a href="/missing-{n}.html">gone</a>')
        html = (f'<!doctype html><html lang="en"><head><title>Page {n}</title></head><body>{nav}'
                f"<main><h1>Page {n}</h1>{''.join(body)}<p>{' '.join(links)}</p></main>{footer}"
                "</body></html>")
        (folder / ("index.html" if n == 0 else f"p{n}.html")).write_text(html)
    return words


# -- servers ----------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, what: str, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"{what} did not start on port {port}")


@dataclasses.dataclass
class Nginx:
    proc: subprocess.Popen
    url: str
    log: Path

    def log_size(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0

    def statuses(self, since: int = 0) -> dict[str, int]:
        """Responses by status in the access log from byte ``since`` on."""
        counts: dict[str, int] = {}
        with self.log.open("rb") as log:
            log.seek(since)
            for line in log:
                status = line.split(b" ", 1)[0].decode()
                counts[status] = counts.get(status, 0) + 1
        return counts


def start_nginx(root: Path, work: Path) -> Nginx:
    """Serve ``root`` with Debian's nginx on a free loopback port, logging each response's status."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        sys.exit("nginx is not installed: run scripts/test or scripts/demo once to install it")
    port = free_port()
    temp = work / "nginx"
    temp.mkdir(parents=True)
    types = ("include /etc/nginx/mime.types;" if Path("/etc/nginx/mime.types").exists()
             else "types { text/html html; text/plain txt; }")
    (temp / "nginx.conf").write_text(f"""
daemon off;
worker_processes 1;
pid {temp}/nginx.pid;
error_log {temp}/error.log;
events {{ worker_connections 1024; }}
http {{
    log_format bench '$status $request_method $request_uri';
    access_log {temp}/access.log bench;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    {types}
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
    return Nginx(proc, f"http://127.0.0.1:{port}/", temp / "access.log")


def start_redis(work: Path) -> tuple[subprocess.Popen, str]:
    server = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = free_port()
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(work)], stdout=subprocess.DEVNULL)
    wait_for_port(port, "redis-server")
    return proc, f"redis://127.0.0.1:{port}/0"


# -- measured crawls --------------------------------------------------------------------------

SMAPS_EVERY = 1.0
"""Seconds between readings of the process tree's /proc/<pid>/smaps (each costs the kernel a
walk of every page table: tens of ms for a crawl; RSS alone is read every 0.1 s)."""


def smaps_figures(pids: list[int]) -> tuple[int, int]:
    """Bytes of the process tree ``pids``: the sum of their PSS, and the tree's own footprint,
    each page counted once: every process's private pages, plus for each mapping (a file's
    range, or an anonymous range a fork shares) the most any process has of it shared."""
    pss = private = 0
    shared: dict[tuple[Any, ...], int] = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps", "rb") as f:
                text = f.read()
        except OSError:
            continue  # ended since it was listed
        key: tuple[Any, ...] = ()
        rss = mine = 0
        for line in text.split(b"\n"):
            head, _, rest = line.partition(b" ")
            if head == b"Rss:":
                rss = int(rest.split()[0]) * 1024
            elif head == b"Pss:":
                pss += int(rest.split()[0]) * 1024
            elif head in (b"Private_Clean:", b"Private_Dirty:"):
                mine += int(rest.split()[0]) * 1024
            elif head == b"VmFlags:":  # a mapping's last line
                private += mine
                shared[key] = max(shared.get(key, 0), rss - mine)
            elif b"-" in head and not head.endswith(b":"):  # a mapping's first line
                fields = line.split()
                start, end = fields[0].split(b"-")
                inode = fields[4] if len(fields) > 4 else b"0"
                # A file's pages by place in the file (mapped anywhere); the rest by address
                # (a forked child has its parent's anonymous memory at the same addresses).
                key = ((fields[3], inode, fields[2], int(end, 16) - int(start, 16))
                       if inode != b"0" else (start, end))
                rss = mine = 0
    return pss, private + sum(shared.values())


def measured(cmd: list[str], env: dict[str, str], work: Path, what: str) -> dict[str, Any]:
    """Run ``cmd``; wall and CPU time, memory and what the probe extension wrote.

    Memory of the crawl's whole process tree (the crawl and any worker processes it starts),
    at its peak: the sum of RSS (every 0.1 s; counts pages a parent and its children share once
    per process), the sum of PSS and the tree's footprint (every ``SMAPS_EVERY`` s, see
    :func:`smaps_figures`); and the kernel's high-water mark (``ru_maxrss``: the largest single
    process). The target is judged on the footprint: PSS divides a library's pages among every
    process on the machine that maps them, so other crawls running lower it."""
    probe = work / f"probe-{uuid.uuid4().hex[:8]}.json"
    errors = work / f"{probe.stem}.err"
    cmd = [arg.replace("{probe}", str(probe)) for arg in cmd]
    with errors.open("w") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err)
    watched = psutil.Process(proc.pid)
    peak = peak_pss = peak_tree = 0
    next_smaps = 0.0
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        try:
            tree = [watched, *watched.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree))
        except psutil.Error:
            pass
        else:
            if time.perf_counter() >= next_smaps:
                pss, footprint = smaps_figures([p.pid for p in tree])
                peak_pss, peak_tree = max(peak_pss, pss), max(peak_tree, footprint)
                next_smaps = time.perf_counter() + SMAPS_EVERY
        time.sleep(0.1)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        sys.exit(f"{what} failed (exit {proc.returncode}):\n{errors.read_text()[-3000:]}")
    if not probe.exists():
        sys.exit(f"{what} wrote no probe file:\n{errors.read_text()[-3000:]}")
    result = json.loads(probe.read_text())
    result.update(wall=wall, cpu_total=usage.ru_utime + usage.ru_stime,
                  rss_sampled_mb=peak / 2**20, rss_max_mb=usage.ru_maxrss / 1024,
                  pss_sampled_mb=peak_pss / 2**20, tree_sampled_mb=peak_tree / 2**20)
    return result


def judged_mb(result: dict[str, Any]) -> float:
    """The memory figure the targets are judged on: the process tree's footprint at its peak
    (figures written before it was measured: the kernel's maximum RSS)."""
    return result.get("tree_sampled_mb") or result["rss_max_mb"]


def flawless(url: str, env: dict[str, str], work: Path, *extra: str, max_pages: int = 100_000,
             what: str = "Flawless crawl") -> dict[str, Any]:
    """``scrapy crawl site -a url=URL`` with the full pipeline, measured."""
    settings = {**CRAWL_SETTINGS, "FLAWLESS_MAX_PAGES": str(max_pages),
                "EXTENSIONS": '{"bench.probe.Probe": 0}', "BENCH_PROBE_FILE": "{probe}"}
    cmd = [sys.executable, "-m", "scrapy", "crawl", "site", "-a", f"url={url}"]
    for name, value in settings.items():
        cmd += ["-s", f"{name}={value}"]
    result = measured(cmd + list(extra), env, work, what)
    result["pages"] = result["stats"].get("flawless/pages_stored", 0)
    db = Database(env["DATABASE_URL"])
    try:
        [row] = db.query("SELECT status, reason FROM crawls ORDER BY id DESC LIMIT 1")
    finally:
        db.close()
    result["status"], result["reason"] = row["status"], row["reason"]
    if row["status"] != "complete":
        print(f"  note: {what} ended {row['status']}: {row['reason']}", file=sys.stderr)
    return result


def bare(url: str, env: dict[str, str], work: Path, state: Path | None = None) -> dict[str, Any]:
    """The bare spider (bench/bare.py) on ``url``, measured; with ``state``, remembering each
    page's validators and links there, or re-crawling with them when the file exists."""
    cmd = [sys.executable, "-m", "bench.bare", url, "{probe}", *([str(state)] if state else [])]
    result = measured(cmd, env, work, "bare spider")
    result["pages"] = result["stats"].get("bench/pages", 0)
    return result


# -- sections ---------------------------------------------------------------------------------

def pair(url: str, env: dict[str, str], work: Path, *extra: str) -> dict[str, Any]:
    """The bare spider and Flawless on the same site, one after the other."""
    reference = bare(url, env, work)
    full = flawless(url, env, work, *extra)
    return {"bare": reference, "flawless": full,
            "ratio": reference["wall"] / full["wall"]}


def section_generated(args: argparse.Namespace, env: dict[str, str], work: Path) -> dict[str, Any]:
    root = work / "generated"
    root.mkdir()
    words = generate_site(root, args.pages)
    server = start_nginx(root, work / "generated-nginx")
    args.servers.append(server.proc)
    out = {"pages": args.pages, "words": words, "url": server.url}
    before = server.log_size()
    out.update(pair(server.url, env, work))
    out["flawless"]["server_statuses"] = server.statuses(before)
    args.generated = (server, out["flawless"])
    if args.pages > 5000:
        small = work / "generated-5000"
        small.mkdir()
        generate_site(small, 5000)
        small_server = start_nginx(small, work / "generated-5000-nginx")
        args.servers.append(small_server.proc)
        five = flawless(small_server.url, env, work, what="Flawless crawl of 5000 pages")
        out["flawless_5000"] = five
        out["growth_kb_per_page"] = ((judged_mb(out["flawless"]) - judged_mb(five)) * 1024
                                     / (args.pages - 5000))
    return out


def section_pydocs(args: argparse.Namespace, env: dict[str, str], work: Path) -> dict[str, Any]:
    if not (args.pydocs_root / "index.html").exists():
        sys.exit(f"{args.pydocs_root}/index.html is missing: install python3.11-doc"
                 " (scripts/_setup.sh does) or give --pydocs-root")
    server = start_nginx(args.pydocs_root, work / "pydocs-nginx")
    args.servers.append(server.proc)
    out = {"root": str(args.pydocs_root), "url": server.url}
    out.update(pair(server.url, env, work, "-s", "FLAWLESS_CHECK_EXTERNAL=false"))
    return out


def section_internet(args: argparse.Namespace, env: dict[str, str], work: Path) -> dict[str, Any]:
    root = work / "internet"
    root.mkdir()
    port = free_port()
    hosts = internet.plan(root, port)
    config = work / "internet.json"
    config.write_text(json.dumps({"port": port, "hosts": [dataclasses.asdict(h) for h in hosts]}))
    proc = subprocess.Popen([sys.executable, "-m", "bench.internet", str(config)], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    args.servers.append(proc)
    if proc.stdout is None or proc.stdout.readline().strip() != "ready":
        sys.exit("the simulated internet did not start")
    server = start_nginx(root, work / "internet-nginx")
    args.servers.append(server.proc)
    host_limit = int(args.host_concurrency)
    result = flawless(server.url, env, work, "-s", f"FLAWLESS_LINK_HOST_CONCURRENCY={host_limit}",
                      "-s", f"BENCH_DNS_FAILURE_DELAY={args.dns_delay}",
                      what="Flawless crawl of the internet site")
    with socket.create_connection(("127.0.0.2", port)) as sock:
        sock.sendall(b"GET /__stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    seen = json.loads(reply.split(b"\r\n\r\n", 1)[1])
    live = [h for h in hosts if h.kind in ("busy", "normal", "slow")]
    bounds = {h.name: h.urls * h.latency / host_limit for h in live}
    busiest = max(bounds, key=lambda name: bounds[name])
    site = server.url.split("/")[2]
    external = [times for netloc, times in result["hosts"].items() if netloc != site]
    dead = [h.name for h in hosts if h.kind == "dead"]
    stats = result["stats"]
    return {
        "hosts": {kind: sum(1 for h in hosts if h.kind == kind)
                  for kind in ("busy", "normal", "slow", "dead", "refused")},
        "external_urls": sum(h.urls for h in hosts),
        "host_concurrency": host_limit,
        "bound_s": bounds[busiest], "bound_host": busiest,
        "bound_host_urls": next(h.urls for h in hosts if h.name == busiest),
        "bound_host_latency": next(h.latency for h in hosts if h.name == busiest),
        "external_phase_s": max(t[1] for t in external) - min(t[0] for t in external),
        "external_requests": sum(t[2] for t in external),
        "live_hosts_span_s": max(s["last"] for s in seen.values()) - min(s["first"] for s in seen.values()),
        "dns_failure_delay": args.dns_delay,
        "server_requests": sum(s["requests"] for s in seen.values()),
        "most_in_flight_per_host": max(s["most_in_flight"] for s in seen.values()),
        "dns_lookups_dead": {name: result["dns"].get(name, 0) for name in dead},
        "dead_urls": {h.name: h.urls for h in hosts if h.kind == "dead"},
        "links_checked": stats.get("flawless/links/checked", 0),
        "crawl": result,
    }


def section_recrawl(args: argparse.Namespace, env: dict[str, str], work: Path) -> dict[str, Any]:
    if getattr(args, "generated", None) is None:  # the first crawl, when --sections has no generated
        root = work / "recrawl"
        root.mkdir()
        generate_site(root, args.pages)
        server = start_nginx(root, work / "recrawl-nginx")
        args.servers.append(server.proc)
        first = flawless(server.url, env, work, what="first crawl")
        first["server_statuses"] = server.statuses()
    else:
        server, first = args.generated
    before = server.log_size()
    second = flawless(server.url, env, work, what="re-crawl")
    second["server_statuses"] = server.statuses(before)
    # Scrapy's own floor: the bare spider's first crawl, then its re-crawl with conditional
    # requests, following the links it stored for each page that answers 304.
    state = work / "bare-recrawl.json"
    bare_first = bare(server.url, env, work, state)
    bare_second = bare(server.url, env, work, state)
    return {"first": first, "second": second, "speedup": first["wall"] / second["wall"],
            "responses_304": second["server_statuses"].get("304", 0),
            "bare_first": bare_first, "bare_second": bare_second}


def section_workers(args: argparse.Namespace, env: dict[str, str], work: Path) -> dict[str, Any]:
    redis_proc, redis_url = start_redis(work)
    args.servers.append(redis_proc)
    big = work / "shared"
    big.mkdir()
    generate_site(big, args.shared_pages)
    server = start_nginx(big, work / "shared-nginx")
    args.servers.append(server.proc)
    subprocess.run([sys.executable, "-m", "scrapy", "sites", "add", server.url, "--email",
                    "bench@example.com"], cwd=ROOT, env=env, check=True, capture_output=True)
    shared_env = {**env, "REDIS_URL": redis_url}
    domain = server.url.split("/")[2]
    runs = {str(n): shared_crawl(domain, n, shared_env, args.shared_pages) for n in (1, 2)}
    rate = {n: r["pages"] / r["crawl"] for n, r in runs.items()}
    return {"pages": args.shared_pages, "runs": runs, "speedup": rate["2"] / rate["1"]}


def shared_crawl(site: str, workers: int, env: dict[str, str], max_pages: int) -> dict[str, float]:
    """One crawl of ``site`` by ``workers`` processes sharing it through Redis."""
    start = time.perf_counter()
    cmd = [sys.executable, "-m", "scrapy", "crawl", "site", "-a", f"site={site}"]
    for name, value in {**CRAWL_SETTINGS, "FLAWLESS_MAX_PAGES": str(2 * max_pages)}.items():
        cmd += ["-s", f"{name}={value}"]
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for _ in range(workers)]
    for proc in procs:
        _, err = proc.communicate()
        if proc.returncode:
            sys.exit(f"a worker failed:\n{err[-3000:]}")
    wall = time.perf_counter() - start
    db = Database(env["DATABASE_URL"])
    try:
        [row] = db.query("SELECT pages, status, extract(epoch FROM finished_at - started_at)"
                         "::float8 AS seconds FROM crawls ORDER BY id DESC LIMIT 1")
    finally:
        db.close()
    if row["status"] != "complete":
        sys.exit(f"the crawl with {workers} worker(s) ended {row['status']}")
    return {"wall": wall, "pages": row["pages"], "crawl": row["seconds"]}


# -- printing ---------------------------------------------------------------------------------

def mb(value: float) -> str:
    return f"{value:,.0f}"


def crawl_rows(title: str, rows: dict[str, dict[str, Any]]) -> None:
    print(f"  {'crawl':<28}{'pages':>7}{'wall s':>9}{'pages/s':>9}{'CPU s':>8}{'CPU ms/page':>13}"
          f"{'peak MB: tree':>15}{'PSS':>6}{'RSS sum':>9}{'max RSS':>9}")
    nan = float("nan")  # figures written before the tree's were measured
    for name, r in rows.items():
        print(f"  {name:<28}{r['pages']:>7}{r['wall']:>9.1f}{r['pages'] / r['wall']:>9.1f}"
              f"{r['cpu_total']:>8.1f}{1000 * r['cpu_total'] / max(1, r['pages']):>13.1f}"
              f"{mb(r.get('tree_sampled_mb', nan)):>15}{mb(r.get('pss_sampled_mb', nan)):>6}"
              f"{mb(r['rss_sampled_mb']):>9}{mb(r['rss_max_mb']):>9}")
        if r.get("status", "complete") != "complete":
            print(f"  {'':<28}ended {r['status']}: {r.get('reason')}")


def ratio_line(pair: dict[str, Any], target: str) -> str:
    """Flawless's pages/s over the bare spider's (same site: the inverse of the wall times), and
    the same for CPU time, which other load on the machine disturbs less."""
    cpu = pair["bare"]["cpu_total"] / pair["flawless"]["cpu_total"]
    return (f"ratio Flawless / bare pages/s: {pair['ratio']:.2f}x ({target});"
            f" by CPU time: {cpu:.2f}x")


def stage_line(r: dict[str, Any]) -> str:
    cpu = r["cpu"]
    parts = [f"{STAGE_NAMES[s]} {cpu.get(s, 0):.1f}" for s in STAGES if cpu.get(s, 0) >= 0.05]
    parts += [f"{s} {v:.1f}" for s, v in cpu.items() if s not in STAGES and v >= 0.05]
    sampled = sum(cpu.values())
    return (f"{', '.join(parts)}; sampled {sampled:.1f} of the process's {r['cpu_total']:.1f}"
            " (the rest: start-up before the engine, shut-down)")


def language_line(r: dict[str, Any]) -> str:
    stats = r["stats"]
    words = stats.get(WORDS_STAT)
    if words is None:
        return "language: no words counted (stage off?)"
    if CPU_STAT in stats:
        cpu, source = float(stats[CPU_STAT]), CPU_STAT
    else:
        cpu = r["cpu"].get("language", 0.0) + r["cpu"].get(SUGGEST_THREAD, 0.0)
        source = f"sampled, with the {SUGGEST_THREAD}; the crawl has no stat {CPU_STAT}"
    rate = words / cpu if cpu else float("nan")
    return f"language: {words:,} words in {cpu:.1f} CPU s = {rate:,.0f} words/s ({source})"


def links_line(r: dict[str, Any]) -> str:
    stats = r["stats"]
    checked = stats.get("flawless/links/checked", 0)
    targets = stats.get("flawless/links/targets", 0)
    cpu = r["cpu"].get("links", 0.0)
    per_cpu = f", {checked / cpu:,.0f} per CPU s of the link stage" if cpu else ""
    requests, retries = stats.get("flawless/links/requests", 0), stats.get("flawless/links/retries", 0)
    return (f"links: {targets:,} targets, {checked:,} checked by request"
            f" ({checked / r['wall']:,.1f}/s of the crawl{per_cpu}; {requests:,} requests,"
            f" {retries:,} retries)")


def report(results: dict[str, Any]) -> None:
    print()
    print(f"Flawless bench, {os.cpu_count()} cores; crawls without politeness delays"
          " (AutoThrottle off, 16 in flight, 16 per host); pages/s over each process's wall time;"
          f" load average at the end {results.get('load', '?')}")
    print("Memory, peaks of the crawl's whole process tree: 'tree' its footprint (each page once:"
          " private pages plus shared ones counted once; the memory targets are judged on it),"
          " 'PSS' the sum of proportional set sizes (libraries shared with other processes on"
          " the machine count in part), 'RSS sum' the sum of RSS (shared pages once per process),"
          " 'max RSS' the kernel's high-water mark of the largest process")
    if "generated" in results:
        g = results["generated"]
        print(f"\n(a) Generated site: {g['pages']:,} pages, {g['words']:,} words, shared navigation,"
              " nginx on loopback")
        rows = {"bare Scrapy spider": g["bare"], "Flawless (full pipeline)": g["flawless"]}
        if "flawless_5000" in g:
            rows["Flawless, 5000-page site"] = g["flawless_5000"]
        crawl_rows("", rows)
        print(f"  {ratio_line(g, 'target >= 1.0x')}")
        print(f"  CPU s by stage (Flawless): {stage_line(g['flawless'])}")
        print(f"  CPU s by stage (bare):     {stage_line(g['bare'])}")
        print(f"  {language_line(g['flawless'])}")
        print(f"  {links_line(g['flawless'])}")
        if "growth_kb_per_page" in g:
            print(f"  memory growth 5000 -> {g['pages']} pages: {g['growth_kb_per_page']:.1f} KB/page"
                  f" (target <= 3); peak at {g['pages']} pages {judged_mb(g['flawless']):.0f} MB"
                  " (target <= 300 MB at 20000); both of the process tree's footprint")
    if "pydocs" in results:
        p = results["pydocs"]
        print(f"\n(b) Python 3.11 docs ({p['root']}), external links off")
        crawl_rows("", {"bare Scrapy spider": p["bare"], "Flawless (full pipeline)": p["flawless"]})
        print(f"  {ratio_line(p, 'target >= 0.9x on real docs')}")
        print(f"  CPU s by stage (Flawless): {stage_line(p['flawless'])}")
        print(f"  CPU s by stage (bare):     {stage_line(p['bare'])}")
        print(f"  {language_line(p['flawless'])}")
        print(f"  {links_line(p['flawless'])}")
    if "internet" in results:
        i = results["internet"]
        c = i["crawl"]
        print(f"\n(c) Simulated internet: {i['external_urls']:,} external URLs on"
              f" {sum(i['hosts'].values())} hosts ({', '.join(f'{v} {k}' for k, v in i['hosts'].items())})")
        crawl_rows("", {"Flawless, external checks on": c})
        print(f"  external phase (first external request into Scrapy's downloader to the last out):"
              f" {i['external_phase_s']:.1f} s;"
              f" politeness bound {i['bound_s']:.1f} s ({i['bound_host']}: {i['bound_host_urls']} URLs"
              f" x {i['bound_host_latency']} s / {i['host_concurrency']} per host)"
              f" -> {i['external_phase_s'] / i['bound_s']:.2f}x the bound (target <= 1.2x)")
        rate = i["links_checked"] / i["external_phase_s"]
        print(f"  {i['links_checked']:,} checked by request, {rate:.1f}/s of the external phase;"
              f" {i['external_requests']:,} external requests, of which"
              f" {i['server_requests']:,} reached live hosts (in {i['live_hosts_span_s']:.1f} s),"
              f" at most {i['most_in_flight_per_host']} in flight on one host")
        lookups = ", ".join(f"{name} {n} lookups for {i['dead_urls'][name]} URLs"
                            for name, n in i["dns_lookups_dead"].items())
        print(f"  DNS lookups per dead host (target 1; each failure takes {i['dns_failure_delay']} s"
              f" here): {lookups}")
        print(f"  {links_line(c)}")
        print(f"  CPU s by stage: {stage_line(c)}")
    if "recrawl" in results:
        r = results["recrawl"]
        print("\n(d) Re-crawl of the unchanged generated site, same database")
        crawl_rows("", {"first crawl": r["first"], "second crawl": r["second"]})
        print(f"  second crawl {r['speedup']:.2f}x as fast as the first (target >= 3x);"
              f" 304 responses in nginx's log: {r['responses_304']}"
              f" (statuses: {json.dumps(r['second']['server_statuses'])})")
        if "bare_second" in r:  # figures written before the bare re-crawl was measured have none
            b1, b2 = r["bare_first"], r["bare_second"]
            crawl_rows("", {"bare spider, first crawl": b1, "bare spider, re-crawl (304s)": b2})
            print(f"  Scrapy's floor: the bare spider's re-crawl took {b2['wall']:.1f} s"
                  f" ({b2['stats'].get('bench/not_modified', 0)} pages answered 304):"
                  f" {b1['wall'] / b2['wall']:.2f}x as fast as its own first crawl,"
                  f" {r['first']['wall'] / b2['wall']:.2f}x as fast as Flawless's first crawl;"
                  f" Flawless's re-crawl {b2['wall'] / r['second']['wall']:.2f}x its pages/s")
    if "workers" in results:
        w = results["workers"]
        print(f"\n(e) Shared crawl (REDIS_URL), a site of {w['pages']} pages, crawl s from the record")
        for n, r in w["runs"].items():
            print(f"  {n} worker{'s' if n != '1' else ' '}  {r['pages']:>5} pages  crawl {r['crawl']:>7.1f} s"
                  f"  {r['pages'] / r['crawl']:>6.1f} pages/s   wall {r['wall']:>7.1f} s")
        print(f"  two workers: {w['speedup']:.2f}x the pages per second of one")
    if "language" in results:
        print("\n(f) Language stage alone, one core, warm caches: "
              + json.dumps(results["language"], default=lambda v: round(v, 3)))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/bench", description=__doc__.split("\n\n")[0],
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sections", default=DEFAULT_SECTIONS, metavar="LIST",
                        help=f"comma-separated sections to run, or 'all' ({', '.join(SECTIONS)};"
                             f" default: {DEFAULT_SECTIONS})")
    parser.add_argument("--pages", type=int, default=5000, metavar="N",
                        help="pages of the generated site (5000); past 5000 a 5000-page site is"
                             " crawled too, for the memory growth per page")
    parser.add_argument("--pydocs-root", type=Path, default=PYDOCS, metavar="DIR",
                        help=f"the HTML docs served for section pydocs ({PYDOCS})")
    parser.add_argument("--host-concurrency", type=int, default=2, metavar="N",
                        help="FLAWLESS_LINK_HOST_CONCURRENCY for section internet, and the"
                             " per-host concurrency of its politeness bound (2, the default)")
    parser.add_argument("--dns-delay", type=float, default=0.5, metavar="SECONDS",
                        help="seconds a failing DNS lookup of a dead host takes in section internet"
                             " (0.5; the dead names end in .invalid and fail at once on this machine,"
                             " on the internet a failure takes a round trip or a resolver timeout)")
    parser.add_argument("--shared-pages", type=int, default=2000, metavar="N",
                        help="pages of the site for section workers (2000)")
    parser.add_argument("--words", type=int, default=200_000, metavar="N",
                        help="words for section language (200000)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write every figure to PATH")
    parser.add_argument("--show", type=Path, metavar="PATH",
                        help="crawl nothing: print the tables of figures written by --json to PATH")
    args = parser.parse_args()
    chosen = SECTIONS if args.sections == "all" else tuple(
        s.strip() for s in args.sections.split(",") if s.strip())
    unknown = [s for s in chosen if s not in SECTIONS]
    if unknown or not chosen:
        parser.error(f"unknown section {', '.join(unknown) or '(none)'}; choose from {', '.join(SECTIONS)}")
    if args.pages < 10:
        parser.error("--pages must be at least 10")
    args.chosen = [s for s in SECTIONS if s in chosen]
    return args


def main() -> None:
    args = parse_args()
    if args.show:
        try:
            with contextlib.redirect_stdout(io.StringIO()) as tables:  # all or nothing
                report(json.loads(args.show.read_text()))
        except OSError as exc:
            sys.exit(f"cannot read {args.show}: {exc.strerror}")
        except (ValueError, KeyError, TypeError) as exc:
            sys.exit(f"{args.show} is not figures written by scripts/bench --json ({exc!r})")
        print(tables.getvalue(), end="")
        return
    args.servers = []
    args.generated = None
    os.environ.setdefault("FLAWLESS_STATE_DIR", str(ROOT / "state" / "bench"))
    base = database_url(None)
    dbname = f"flawless_bench_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(base)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{dbname}"')
    url = psycopg2.extensions.make_dsn(base, dbname=dbname)
    Database(url).connection().close()
    env = {**os.environ, "DATABASE_URL": url, "FLAWLESS_ALLOW_PRIVATE_NETWORKS": "true",
           "PYTHONPATH": str(ROOT)}
    env.pop("REDIS_URL", None)
    results: dict[str, Any] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="flawless-bench-") as tmp:
            os.chmod(tmp, 0o755)  # nginx's workers run as another user when started by root
            work = Path(tmp)
            for section in args.chosen:
                print(f"==> {section}", file=sys.stderr, flush=True)
                started = time.perf_counter()
                if section == "language":
                    results[section] = bench_language(args.words)
                else:
                    results[section] = globals()[f"section_{section}"](args, env, work)
                print(f"    {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    finally:
        for server in args.servers:
            server.terminate()
            server.wait()
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        admin.close()
    results["load"] = " ".join(f"{v:.1f}" for v in os.getloadavg())
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))
        print(f"\nFigures written to {args.json}")


if __name__ == "__main__":
    main()
