"""The shared crawl frontier (``REDIS_URL``): one crawl's request queue in Redis, for all its workers.

Built on scrapy-redis (its request serialisation and duplicate filter), with what a shared
crawl needs on top, and none of its gaps on Scrapy 2.14+:

- keys per (site, crawl), not per spider name (every Flawless crawl uses the ``site`` spider),
  so two sites, or two crawls of one site, never share a queue;
- a request taken from the queue is *leased* to the worker (in one atomic step): it goes back
  to the queue if the worker dies before its page is stored (see
  :class:`~flawless_spider.shared.SharedCrawl`);
- requests that only make sense in this process stay here: the lifecycle's end-of-crawl
  ``data:`` request, and the next hop of a redirect this worker is following (so one worker
  sees the whole chain, as a single process would);
- closing a worker never flushes the queue others still use (the lifecycle deletes the
  crawl's keys when the last worker closes it), and stats are counted without the ``spider``
  argument Scrapy 2.14 deprecated.
"""

from __future__ import annotations

import logging
from collections import deque

import redis
from scrapy import Request, Spider
from scrapy.core.scheduler import BaseScheduler
from scrapy.crawler import Crawler
from scrapy.utils.request import request_from_dict
from scrapy_redis import picklecompat
from scrapy_redis.dupefilter import RFPDupeFilter

from flawless_spider.lifecycle import CrawlLifecycle

logger = logging.getLogger(__name__)


class SharedScheduler(BaseScheduler):
    """Scheduler whose queue is the crawl's shared queue in Redis (see the module docstring)."""

    def __init__(self, crawler: Crawler):
        self.crawler = crawler
        self.stats = crawler.stats
        self.local: deque[Request] = deque()
        self.spider: Spider | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SharedScheduler:
        return cls(crawler)

    def open(self, spider: Spider) -> None:
        self.spider = spider
        lifecycle = CrawlLifecycle.of(self.crawler)
        if lifecycle is None or lifecycle.shared is None:
            raise RuntimeError("SharedScheduler needs a Flawless crawl with REDIS_URL")
        self.lifecycle = lifecycle
        self.shared = lifecycle.shared
        self.df = RFPDupeFilter(self.shared.server, key=self.shared.key("dupefilter"),
                                debug=self.crawler.settings.getbool("DUPEFILTER_DEBUG"))
        queued = self.shared.queued()
        if queued:
            logger.info("Joining crawl %d of %s: %d requests are queued", lifecycle.crawl_id,
                        lifecycle.site.domain, queued)

    def close(self, reason: str) -> None:
        self.local.clear()

    def has_pending_requests(self) -> bool:
        if self.local:
            return True
        try:
            return self.shared.queued() > 0
        except redis.RedisError as exc:
            self.lifecycle.redis_lost(exc)
            return False

    def enqueue_request(self, request: Request) -> bool:
        try:
            if request.meta.get("flawless_local") or "flawless_lease" in request.meta:
                # Ours: the end of the crawl, a redirect we follow.
                if not request.dont_filter and self.df.request_seen(request):
                    self.df.log(request, self.spider)
                    return False
                self.local.append(request)
            else:
                fingerprint = self.df.request_fingerprint(request)
                data = picklecompat.dumps(request.to_dict(spider=self.spider))
                queued = self.lifecycle.schedule_page(request, fingerprint, data)
                if queued is None:  # not a page (a sitemap): the duplicate filter decides
                    queued = request.dont_filter or self.shared.schedule(
                        fingerprint, data, request.priority)
                    if request.dont_filter:
                        self.shared.push(data, request.priority)
                if not queued:
                    self.df.log(request, self.spider)
                    return False
        except redis.RedisError as exc:
            self.lifecycle.redis_lost(exc)
            return False
        self.stats.inc_value("scheduler/enqueued/redis")
        return True

    def next_request(self) -> Request | None:
        if self.local:
            return self.local.popleft()
        if self.lifecycle.stopping:
            return None
        try:
            data = self.shared.pop()
        except redis.RedisError as exc:
            self.lifecycle.redis_lost(exc)
            return None
        if data is None:
            return None
        request = request_from_dict(picklecompat.loads(data), spider=self.spider)
        self.lifecycle.leased(request, data)
        self.stats.inc_value("scheduler/dequeued/redis")
        return request

    def __len__(self) -> int:
        return len(self.local) + self.shared.queued()

