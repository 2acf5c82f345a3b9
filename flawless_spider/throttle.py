"""AutoThrottle that honours robots.txt ``Crawl-delay``: never faster than the site asked."""

from __future__ import annotations

from typing import Any

from scrapy import Request, Spider
from scrapy.extensions.throttle import AutoThrottle
from scrapy.http import Response


def apply_crawl_delay(crawler: Any, host: str, delay: float) -> None:
    """Make ``host``'s downloader slot wait ``delay`` seconds between requests, one at a time."""
    downloader = crawler.engine.downloader
    downloader.per_slot_settings[host] = {
        **downloader.per_slot_settings.get(host, {}), "delay": delay, "concurrency": 1, "jitter": 0,
    }
    slot = downloader.slots.get(host)
    if slot is not None:
        slot.delay, slot.concurrency, slot.jitter = max(slot.delay, delay), 1, 0.0


class CrawlDelayAutoThrottle(AutoThrottle):
    """Scrapy's AutoThrottle, with each host's Crawl-delay (the crawl lifecycle's
    ``crawl_delays``) as a floor."""

    def _response_downloaded(self, response: Response, request: Request, spider: Spider) -> None:
        super()._response_downloaded(response, request, spider)
        key, slot = self._get_slot(request, spider)
        floor = self._delays().get(key) if key else None
        if slot is not None and floor and slot.delay < floor:
            slot.delay = floor

    def _delays(self) -> dict[str, float]:
        from flawless_spider.lifecycle import CrawlLifecycle  # it applies the delays it reads

        lifecycle = CrawlLifecycle.of(self.crawler)
        return lifecycle.crawl_delays if lifecycle is not None else {}
