"""glibc's ``malloc_trim``: memory a process has freed handed back to the system.

glibc's ``malloc`` keeps freed memory for reuse: pages that held a response, a parsed tree or a
batch of rows stay in the process, one set per thread's arena. ``malloc_trim(0)`` hands every
whole free page of every arena back, in a few milliseconds. The crawl process calls it from
:class:`flawless_spider.memory.MallocTrim`, a language worker from :class:`Trimmer` (this
module imports neither Scrapy nor Twisted, which a worker never loads).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import time
from collections.abc import Callable

INTERVAL = 5.0
"""Seconds between two trims."""


def malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None on another C library."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


class Trimmer:
    """``malloc_trim(0)`` when asked, at most every ``interval`` seconds (the first time at once:
    what start-up freed); for a process without a reactor to schedule it."""

    def __init__(self, interval: float = INTERVAL):
        self.trim = malloc_trim()
        self.interval = interval
        self.last = float("-inf")

    def __call__(self) -> bool:
        """Trim if it is time to; whether it trimmed."""
        now = time.monotonic()
        if self.trim is None or now - self.last < self.interval:
            return False
        self.last = now
        self.trim(0)
        return True
