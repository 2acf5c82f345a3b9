"""Where a crawl's memory goes: tracemalloc snapshots at page counts, beside the process's RSS.

A Scrapy extension for investigating memory growth (not used by ``scripts/bench``'s figures).
Switched on by ``BENCH_MEMPROBE_DIR``. When the crawl has stored each of the page counts in
``BENCH_MEMPROBE_AT`` (comma-separated), and at the first ``spider_idle`` and at
``spider_closed``, it appends a line to ``<dir>/rss.jsonl``: RSS, PSS and pages, with

- by default, a census: the MB and objects reachable from each attribute of each pipeline,
  extension, downloader middleware and the scheduler (each object counted once, for the first
  attribute that reaches it), the attributes over 256 kB;
- with ``BENCH_MEMPROBE_FRAMES`` > 0, tracemalloc (that many frames per allocation; slows a
  crawl many times) and a snapshot ``<dir>/<label>.snap``: compare two with
  ``python -m bench.memprobe DIR A B`` (the largest growths by line and by traceback).
"""

from __future__ import annotations

import contextlib
import gc
import json
import sys
import time
import tracemalloc
import types
from pathlib import Path

import psutil
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

STOP_TYPES = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType,
              types.MethodType, types.CodeType, types.FrameType)


def deep_size(obj: object, stop: set[int], seen: set[int]) -> tuple[int, int]:
    """Bytes and objects reachable from ``obj`` (not through ``stop`` or what ``seen`` holds)."""
    size = count = 0
    todo = [obj]
    while todo:
        o = todo.pop()
        i = id(o)
        if i in seen or i in stop or isinstance(o, STOP_TYPES):
            continue
        seen.add(i)
        size += sys.getsizeof(o, 0)
        count += 1
        todo.extend(gc.get_referents(o))
    return size, count


def census(crawler: Crawler) -> dict[str, list[float]]:
    """MB and objects held by each attribute of the crawl's components (first come, first counted)."""
    engine = crawler.engine
    components: dict[str, object] = {}
    scraper = getattr(engine, "scraper", None)
    for mw in getattr(getattr(scraper, "itemproc", None), "middlewares", ()):
        components[type(mw).__name__] = mw
    for ext in getattr(crawler.extensions, "middlewares", ()):
        components[type(ext).__name__] = ext
    for mw in getattr(getattr(engine.downloader, "middleware", None), "middlewares", ()):
        components[type(mw).__name__] = mw
    slot = getattr(engine, "_slot", None) or getattr(engine, "slot", None)
    scheduler = getattr(slot, "scheduler", None) or getattr(engine, "scheduler", None)
    if scheduler is not None:
        components["scheduler"] = scheduler
    components["downloader"] = engine.downloader
    components["scraper"] = scraper
    components["spider"] = crawler.spider
    components["stats"] = crawler.stats
    stop = {id(crawler), id(engine), id(crawler.settings), id(crawler.signals), id(slot)}
    stop.update(id(c) for c in components.values())
    seen: set[int] = set()
    out: dict[str, list[float]] = {}
    for name, comp in components.items():
        attrs = getattr(comp, "__dict__", {})
        for attr, value in attrs.items():
            size, count = deep_size(value, stop, seen)
            if size > 256 * 1024:
                out[f"{name}.{attr}"] = [round(size / 2**20, 2), count]
    # Module-level state of the project (memos, caches), after the components.
    root = str(Path(__file__).resolve().parents[1])
    for module in list(sys.modules.values()):
        if not (getattr(module, "__file__", None) or "").startswith(root):
            continue
        for attr, value in list(vars(module).items()):
            if isinstance(value, STOP_TYPES) and not hasattr(value, "cache_info"):
                continue
            size, count = deep_size(value, stop, seen)
            if hasattr(value, "cache_info"):  # functools.lru_cache: its entries are not referents
                with contextlib.suppress(Exception):
                    count = value.cache_info().currsize
            if size > 256 * 1024 or count > 5000:
                out[f"{module.__name__}.{attr}"] = [round(size / 2**20, 2), count]
    return out


def heap_figures() -> dict[str, float]:
    """MB in use and free in glibc's malloc (mallinfo2), and in pymalloc's arenas."""
    import ctypes
    import os
    import tempfile

    out: dict[str, float] = {}
    with contextlib.suppress(Exception):
        class MallInfo2(ctypes.Structure):
            _fields_ = [(name, ctypes.c_size_t) for name in (
                "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
                "uordblks", "fordblks", "keepcost")]
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = MallInfo2
        info = libc.mallinfo2()
        out.update(malloc_used_mb=info.uordblks / 2**20, malloc_free_mb=info.fordblks / 2**20,
                   malloc_mmap_mb=info.hblkhd / 2**20)
    with contextlib.suppress(Exception), tempfile.TemporaryFile("w+") as f:
        saved = os.dup(2)
        sys.stderr.flush()
        os.dup2(f.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        f.seek(0)
        for line in f:
            if line.startswith("# bytes in allocated blocks"):
                out["pymalloc_used_mb"] = int(line.split("=")[1].replace(",", "")) / 2**20
            elif line.startswith("# arenas allocated current"):
                out["pymalloc_arenas_mb"] = int(line.split("=")[1].replace(",", ""))  # 1 MiB each
    return out


class MemProbe:
    """See the module docstring. Switched on by the ``BENCH_MEMPROBE_DIR`` setting."""

    def __init__(self, crawler: Crawler, folder: Path, at: list[int], frames: int):
        """``frames`` 0: no tracing, only the census of components (fast)."""
        self.crawler = crawler
        self.folder = folder
        self.at = sorted(at)
        self.frames = frames
        self.idle_done = False
        folder.mkdir(parents=True, exist_ok=True)
        crawler.signals.connect(self.engine_started, signal=signals.engine_started)
        crawler.signals.connect(self.item_scraped, signal=signals.item_scraped)
        crawler.signals.connect(self.spider_idle, signal=signals.spider_idle)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> MemProbe:
        folder = crawler.settings.get("BENCH_MEMPROBE_DIR")
        if not folder:
            raise NotConfigured
        at = [int(n) for n in crawler.settings.getlist("BENCH_MEMPROBE_AT")]
        return cls(crawler, Path(folder), at, crawler.settings.getint("BENCH_MEMPROBE_FRAMES", 0))

    def engine_started(self) -> None:
        if self.frames:
            tracemalloc.start(self.frames)
        self.take("start")

    def item_scraped(self, item: object) -> None:
        pages = self.pages()
        while self.at and pages >= self.at[0]:
            self.take(f"p{self.at.pop(0)}")

    def pages(self) -> int:
        return int(self.crawler.stats.get_value("flawless/pages_stored", 0)
                   or self.crawler.stats.get_value("item_scraped_count", 0))

    def spider_idle(self) -> None:
        if not self.idle_done:
            self.idle_done = True
            self.take("idle")

    def spider_closed(self) -> None:
        self.take("closed")
        if self.frames:
            tracemalloc.stop()

    def take(self, label: str) -> None:
        gc.collect()
        started = time.perf_counter()
        memory = psutil.Process().memory_full_info()
        line: dict[str, object] = {"label": label, "pages": self.pages(),
                                   "rss_kb": memory.rss // 1024, "pss_kb": memory.pss // 1024}
        if self.frames:
            current, peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            tracemalloc.take_snapshot().dump(str(self.folder / f"{label}.snap"))
            line.update(traced_mb=current / 2**20, traced_peak_since_last_mb=peak / 2**20)
        else:
            line["census"] = census(self.crawler)
            line["gc_objects"] = len(gc.get_objects())
            line.update(heap_figures())
        line["probe_s"] = time.perf_counter() - started
        with (self.folder / "rss.jsonl").open("a") as f:
            f.write(json.dumps(line) + "\n")


def compare(folder: Path, a: str, b: str, top: int = 30) -> None:
    old = tracemalloc.Snapshot.load(str(folder / f"{a}.snap"))
    new = tracemalloc.Snapshot.load(str(folder / f"{b}.snap"))
    for key, frames in (("lineno", 1), ("traceback", 8)):
        print(f"== growth {a} -> {b} by {key}")
        for stat in new.compare_to(old, key)[:top]:
            print(f"{stat.size_diff / 2**20:8.2f} MB {stat.count_diff:+9d}  "
                  f"(now {stat.size / 2**20:.2f} MB)")
            lines = stat.traceback.format(limit=frames) if key == "traceback" else [
                f"  {stat.traceback[0].filename}:{stat.traceback[0].lineno}"]
            for text in lines[-2 * frames:]:
                print("      " + text.strip())


if __name__ == "__main__":
    compare(Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 30)
