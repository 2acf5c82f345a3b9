"""The shared crawl frontier (``REDIS_URL``): scrapy-redis's scheduler, keyed per site.

scrapy-redis keys its queue and duplicate filter by spider name; every Flawless crawl uses the
``site`` spider, so the keys here name the site instead, and two sites crawled at once never
share a queue. It also counts its stats without the ``spider`` argument Scrapy 2.14 deprecated.
"""

from __future__ import annotations

from typing import Any

from scrapy import Request
from scrapy_redis.dupefilter import RFPDupeFilter
from scrapy_redis.scheduler import Scheduler


class SiteRedisScheduler(Scheduler):
    """scrapy-redis scheduler whose Redis keys are ``flawless:<site domain>:requests|dupefilter``."""

    def open(self, spider: Any) -> None:
        from flawless_spider.lifecycle import CrawlLifecycle

        prefix = f"flawless:{CrawlLifecycle.of(spider.crawler).site.domain}"
        self.queue_key = f"{prefix}:requests"
        self.df = RFPDupeFilter(self.server, key=f"{prefix}:dupefilter",
                                debug=spider.settings.getbool("DUPEFILTER_DEBUG"))
        super().open(spider)

    def enqueue_request(self, request: Request) -> bool:
        if not request.dont_filter and self.df.request_seen(request):
            self.df.log(request, self.spider)
            return False
        if self.stats:
            self.stats.inc_value("scheduler/enqueued/redis")
        self.queue.push(request)
        return True

    def next_request(self) -> Request | None:
        request = self.queue.pop(self.idle_before_close)
        if request and self.stats:
            self.stats.inc_value("scheduler/dequeued/redis")
        return request
