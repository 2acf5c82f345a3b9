"""A simulated internet on loopback for the external-link phase: many hosts, each with its latency.

``python -m bench.internet CONFIG.json`` serves every live host of the config (addresses in
127.0.0.0/8 only) on one port, answering GET and HEAD after the host's latency: ``/robots.txt``
allows everything, ``/gone/...`` is a 404, anything else a small HTML page. ``GET /__stats`` (on
any host) returns what each host saw, as JSON: requests, the most in flight at once, and the first
and last request times (``time.time()``). :func:`plan` writes the crawled site and the config.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Host:
    """One simulated host: where it is, how slow, how many distinct URLs the site links to."""

    name: str
    kind: str  # "busy", "normal", "slow", "dead" (no DNS answer) or "refused" (nothing listens)
    latency: float
    urls: int


@dataclass
class Seen:
    requests: int = 0
    in_flight: int = 0
    most_in_flight: int = 0
    first: float = 0.0
    last: float = 0.0
    paths: set[str] = field(default_factory=set)


def hosts() -> list[Host]:
    """The internet the site links to: one busy host, many normal ones, slow, dead and refusing."""
    out = [Host("127.0.0.2", "busy", 0.1, 400)]
    out += [Host(f"127.0.0.{n}", "normal", 0.05, 10) for n in range(10, 50)]
    out += [Host(f"127.0.0.{n}", "slow", 1.0, 8) for n in range(50, 55)]
    out += [Host(f"dead-{n}.invalid", "dead", 0.0, 200 if n == 1 else 20) for n in range(1, 6)]
    out += [Host(f"127.0.0.{n}", "refused", 0.0, 20) for n in range(60, 63)]
    return out


def plan(folder: Path, port: int, pages: int = 100, seed: int = 11) -> list[Host]:
    """Write a site of ``pages`` pages (index.html, i1.html, ...) whose links spread over :func:`hosts`.

    Every external URL is linked from at least one page; a tenth of them twice (from other pages).
    """
    from html import escape

    rng = random.Random(seed)
    internet = hosts()
    urls = []
    for host in internet:
        for n in range(host.urls):
            path = f"/gone/{n}" if host.kind == "normal" and n % 10 == 9 else f"/doc/{n}.html"
            urls.append(f"http://{host.name}:{port}{path}")
    rng.shuffle(urls)
    urls += rng.sample(urls, len(urls) // 10)
    per_page = -(-len(urls) // pages)
    (folder / "robots.txt").write_text("User-agent: *\nAllow: /\n")
    for n in range(pages):
        own = urls[n * per_page:(n + 1) * per_page]
        links = [f'<li><a href="{escape(u)}">reference {k}</a></li>' for k, u in enumerate(own)]
        inside = " ".join(f'<a href="/i{m}.html">page {m}</a>' for m in (2 * n + 1, 2 * n + 2) if m < pages)
        html = (f'<!doctype html><html lang="en"><head><title>Links {n}</title></head><body>'
                f'<nav><a href="/">Home</a></nav><h1>Links {n}</h1>'
                f"<p>These are the references of this page.</p><ul>{''.join(links)}</ul>"
                f"<p>{inside}</p></body></html>")
        (folder / ("index.html" if n == 0 else f"i{n}.html")).write_text(html)
    return internet


class Internet:
    """The live hosts of a config, served on one port."""

    def __init__(self, config: dict[str, Any]):
        self.port = config["port"]
        self.hosts = {h["name"]: Host(**h) for h in config["hosts"]}
        self.seen: dict[str, Seen] = {}

    async def serve(self) -> None:
        servers = [await asyncio.start_server(self.handle, host.name, self.port)
                   for host in self.hosts.values() if host.kind in ("busy", "normal", "slow")]
        print("ready", flush=True)
        await asyncio.gather(*(server.serve_forever() for server in servers))

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host = self.hosts[writer.get_extra_info("sockname")[0]]
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                method, path = head.split(b" ", 2)[:2]
                closing = b"connection: close" in head.lower()
                if path == b"/__stats":
                    body = json.dumps({name: {"requests": s.requests, "most_in_flight": s.most_in_flight,
                                              "first": s.first, "last": s.last,
                                              "urls": len(s.paths)}
                                       for name, s in self.seen.items()}).encode()
                    status = b"200 OK"
                else:
                    status, body = await self.answer(host, path.decode("latin-1"))
                writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Type: text/html\r\nContent-Length: "
                             + str(len(body)).encode() + b"\r\n\r\n"
                             + (b"" if method == b"HEAD" else body))
                await writer.drain()
                if closing:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def answer(self, host: Host, path: str) -> tuple[bytes, bytes]:
        seen = self.seen.setdefault(host.name, Seen())
        now = time.time()
        seen.first = seen.first or now
        seen.requests += 1
        seen.paths.add(path)
        seen.in_flight += 1
        seen.most_in_flight = max(seen.most_in_flight, seen.in_flight)
        try:
            await asyncio.sleep(host.latency)
        finally:
            seen.in_flight -= 1
            seen.last = time.time()
        if path == "/robots.txt":
            return b"200 OK", b"User-agent: *\nAllow: /\n"
        if path.startswith("/gone/"):
            return b"404 Not Found", b"<!doctype html><title>Not found</title>"
        return b"200 OK", b"<!doctype html><html><head><title>Doc</title></head><body><p>ok</p></body></html>"


def main() -> None:
    config = json.loads(Path(sys.argv[1]).read_text())
    asyncio.run(Internet(config).serve())


if __name__ == "__main__":
    main()
