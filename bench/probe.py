"""A Scrapy extension the bench adds to the crawls it measures (both Flawless and the bare spider).

It writes one JSON file (``BENCH_PROBE_FILE``) when the engine stops, with:

- ``stats``: the crawl's final Scrapy stats;
- ``cpu``: CPU seconds of the main thread by the stage whose code was running, sampled every few
  milliseconds of CPU time (the innermost frame under ``pipelines/<stage>/`` names the stage;
  else ``flawless_spider/`` or the bare spider is "spider"; else "other": Scrapy, Twisted and the
  rest), of every other thread by its name ("thread flawless-db", "thread asyncio", ...), and of
  the child processes that ended before the engine stopped ("child processes": the language
  stage's workers);
- ``dns``: names looked up by the resolver behind Scrapy's DNS cache, each with its count
  (a cache hit is no lookup);
- ``hosts``: for each host (and port) requested, ``[first request reached the downloader,
  last one left it, requests]``, times as ``time.time()``.
"""

from __future__ import annotations

import json
import re
import resource
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.resolver import HostResolution
from scrapy.utils.httpobj import urlparse_cached

ROOT = Path(__file__).resolve().parents[1]
PIPELINES = str(ROOT / "pipelines") + "/"
SPIDER = (str(ROOT / "flawless_spider") + "/", str(ROOT / "bench" / "bare.py"))
# Frames that only launch the crawl (below them on the stack is everything): never a stage.
LAUNCHERS = (str(ROOT / "flawless_spider" / "commands") + "/", str(ROOT / "flawless_spider" / "cli.py"))
INTERVAL = 0.005  # seconds of the process's CPU time between samples


def stage_of(frame: Any) -> str:
    """The stage a thread is in: the innermost frame under ``pipelines/<stage>/`` names it; else
    a frame of Flawless's spider, middlewares, lifecycle or database (or of the bare spider) makes
    it "spider"; else "other" (Scrapy, Twisted, asyncio, lxml's callers...)."""
    spider = False
    while frame is not None:
        code = frame.f_code
        name = code.co_filename
        if name.startswith(PIPELINES):
            return name[len(PIPELINES):].split("/", 1)[0]
        if (name.startswith(SPIDER) and not name.startswith(LAUNCHERS)
                and code.co_name not in ("main", "<module>")):
            spider = True
        frame = frame.f_back
    return "spider" if spider else "other"


class StageSampler:
    """Charges the main thread's CPU time to the stage its stack shows, and other threads' to them.

    The main thread (the reactor, so the spider and every stage) is sampled by a ``SIGPROF``
    handler every ``INTERVAL`` seconds of the process's CPU time: the handler runs in that thread,
    between two bytecodes, so it walks its own stack (walking another running thread's frames
    crashes Python 3.11). Other threads (the database's, asyncio's and Twisted's pools) are charged
    by name, from their CPU clocks read every 0.1 s.
    """

    def __init__(self) -> None:
        self.cpu: Counter[str] = Counter()
        self.samples = 0
        self.main_last = 0.0
        self.children_start = 0.0
        self.threads_last: dict[int, tuple[str, float]] = {}
        self.stopped = threading.Event()
        self.poller = threading.Thread(target=self.poll, name="bench-probe", daemon=True)

    def start(self) -> None:
        self.main_last = time.thread_time()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.children_start = children.ru_utime + children.ru_stime
        signal.signal(signal.SIGPROF, self.on_signal)
        signal.siginterrupt(signal.SIGPROF, False)  # other threads' system calls restart
        signal.setitimer(signal.ITIMER_PROF, INTERVAL, INTERVAL)
        self.poller.start()

    def stop(self) -> None:
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        signal.signal(signal.SIGPROF, signal.SIG_IGN)
        self.stopped.set()
        self.poller.join()
        self.poll_threads()
        now = time.thread_time()
        self.cpu["other"] += now - self.main_last
        self.main_last = now
        # Processes the crawl started and waited for (the language workers, shut down with
        # the spider, before the engine stops).
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cpu["child processes"] = children.ru_utime + children.ru_stime - self.children_start

    def on_signal(self, signum: int, frame: Any) -> None:
        now = time.thread_time()
        self.samples += 1
        self.cpu[stage_of(frame)] += now - self.main_last
        self.main_last = now

    def poll(self) -> None:
        while not self.stopped.wait(0.1):
            self.poll_threads()

    def poll_threads(self) -> None:
        main, me = threading.main_thread().ident, self.poller.ident
        for thread in threading.enumerate():
            ident = thread.ident
            if ident is None or ident in (main, me):
                continue
            try:
                used = time.clock_gettime(time.pthread_getcpuclockid(ident))
            except (OSError, ProcessLookupError):
                continue  # ended since enumerate()
            name = "thread " + re.sub(r"[_-]?\d+$", "", thread.name)
            self.cpu[name] += used - self.threads_last.get(ident, (name, 0.0))[1]
            self.threads_last[ident] = (name, used)


class CountingResolver:
    """Wraps the resolver Scrapy's caching resolver falls back to, counting lookups per name.

    A lookup of a name under ``.invalid`` (the bench's dead hosts) is delayed ``delay`` seconds
    before it fails, as a failing lookup takes time on the real internet and none on loopback.
    """

    def __init__(self, resolver: Any, counts: Counter[str], delay: float):
        self.resolver = resolver
        self.counts = counts
        self.delay = delay

    def resolveHostName(self, receiver: Any, name: str, *args: Any, **kwargs: Any) -> Any:  # noqa: N802
        self.counts[name] += 1
        if self.delay <= 0 or not name.endswith(".invalid"):
            return self.resolver.resolveHostName(receiver, name, *args, **kwargs)
        from twisted.internet import reactor

        resolution = HostResolution(name)
        receiver.resolutionBegan(resolution)
        reactor.callLater(self.delay, self.resolver.resolveHostName, _Begun(receiver), name,
                          *args, **kwargs)
        return resolution


class _Begun:
    """A resolution receiver that was told already that its resolution began."""

    def __init__(self, receiver: Any):
        self.receiver = receiver

    def resolutionBegan(self, resolution: Any) -> None:  # noqa: N802
        pass

    def addressResolved(self, address: Any) -> None:  # noqa: N802
        self.receiver.addressResolved(address)

    def resolutionComplete(self) -> None:  # noqa: N802
        self.receiver.resolutionComplete()


class Probe:
    """See the module docstring. Switched on by the ``BENCH_PROBE_FILE`` setting."""

    def __init__(self, crawler: Crawler, path: Path):
        self.crawler = crawler
        self.path = path
        self.sampler = StageSampler()
        self.dns: Counter[str] = Counter()
        self.dns_delay = crawler.settings.getfloat("BENCH_DNS_FAILURE_DELAY")
        self.hosts: dict[str, list[float]] = {}
        self.started = time.monotonic()
        crawler.signals.connect(self.engine_started, signal=signals.engine_started)
        crawler.signals.connect(self.reached, signal=signals.request_reached_downloader)
        crawler.signals.connect(self.left, signal=signals.request_left_downloader)
        crawler.signals.connect(self.engine_stopped, signal=signals.engine_stopped)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Probe:
        path = crawler.settings.get("BENCH_PROBE_FILE")
        if not path:
            raise NotConfigured
        return cls(crawler, Path(path))

    def engine_started(self) -> None:
        from twisted.internet import reactor

        resolver = getattr(reactor, "nameResolver", None)
        if hasattr(resolver, "original_resolver"):
            resolver.original_resolver = CountingResolver(resolver.original_resolver, self.dns,
                                                          self.dns_delay)
        self.sampler.start()

    def reached(self, request: Any, spider: Any) -> None:
        seen = self.hosts.setdefault(urlparse_cached(request).netloc, [time.time(), 0.0, 0])
        seen[2] += 1

    def left(self, request: Any, spider: Any) -> None:
        now = time.time()
        self.hosts.setdefault(urlparse_cached(request).netloc, [now, now, 1])[1] = now

    def engine_stopped(self) -> None:
        self.sampler.stop()
        stats = self.crawler.stats.get_stats() if self.crawler.stats else {}
        self.path.write_text(json.dumps({
            "stats": stats,
            "cpu": dict(self.sampler.cpu),
            "samples": self.sampler.samples,
            "dns": dict(self.dns),
            "hosts": self.hosts,
            "seconds": time.monotonic() - self.started,
        }, default=str))
