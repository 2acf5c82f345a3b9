"""The crawl's request queue in one process: a few requests in memory, the rest on disk.

A site with shared navigation makes the spider discover most of its pages early: a crawl of
20,000 pages queues thousands of requests at once, each a ``Request`` with its headers, meta
and the fingerprint and parse caches Scrapy keeps beside it (about 2 KB a request). Past
``FLAWLESS_QUEUE_MEMORY`` requests in memory, :class:`SpillingScheduler` writes new ones to
Scrapy's own disk queues (``SCHEDULER_DISK_QUEUE``: pickled, LIFO) in a temporary folder that
is removed when the crawl closes, so the queue costs memory only up to that limit. Requests
that cannot be pickled (a callback that is not a spider method) stay in memory.

With ``JOBDIR`` set, Scrapy's behaviour is unchanged: every request goes to the job's disk
queue, which a later run resumes. A shared crawl (``REDIS_URL``) queues in Redis instead
(:mod:`flawless_spider.frontier`).
"""

from __future__ import annotations

import shutil
import tempfile
from typing import Any, Self

from scrapy import Request
from scrapy.core.scheduler import Scheduler
from scrapy.crawler import Crawler


class SpillingScheduler(Scheduler):
    """Scrapy's scheduler with at most ``FLAWLESS_QUEUE_MEMORY`` requests held in memory."""

    memory_limit = 1000
    _spill: str | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        scheduler = super().from_crawler(crawler)
        scheduler.memory_limit = max(0, crawler.settings.getint("FLAWLESS_QUEUE_MEMORY", 1000))
        return scheduler

    def _dqdir(self, jobdir: str | None) -> str | None:
        if jobdir:
            return super()._dqdir(jobdir)
        self._spill = tempfile.mkdtemp(prefix="flawless-queue-")
        return self._spill

    def _dqpush(self, request: Request) -> bool:
        if self._spill is not None and len(self.mqs) < self.memory_limit:
            return False  # room in memory: no pickling, no disk
        return super()._dqpush(request)

    def close(self, reason: str) -> Any:
        try:
            return super().close(reason)
        finally:
            if self._spill is not None:
                shutil.rmtree(self._spill, ignore_errors=True)

