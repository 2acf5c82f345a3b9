"""Scrapy's downloader, with each host's concurrency limit kept when requests queue for it.

Scrapy 2.19's downloader starts the requests queued for a slot (a host) in a loop that runs
while ``slot.free_transfer_slots() > 0``, but with the asyncio reactor each request is counted
as transferring only when the task that downloads it first runs, after the loop: so the loop
starts *every* queued request at once. A Flawless crawl always has more requests in the
downloader than a host's limit (``CONCURRENT_REQUESTS`` is raised by the link checks), so a host
got up to ``CONCURRENT_REQUESTS`` requests at a time instead of ``CONCURRENT_REQUESTS_PER_DOMAIN``
(measured: 55 in flight with a limit of 16) and, with more connections in use than its
connection pool keeps, every other request opened and closed a TCP connection.

Here a request counts as transferring from the moment it leaves the queue.
"""

from __future__ import annotations

from time import monotonic

from scrapy.core.downloader import Downloader, Slot
from scrapy.utils.asyncio import call_later
from scrapy.utils.defer import _schedule_coro


class PoliteDownloader(Downloader):
    """Scrapy's downloader that never has more requests in flight to a host than its slot allows."""

    def _process_queue(self, slot: Slot) -> None:
        # Scrapy's own, but for the one marked line.
        if slot.latercall:
            return
        now = monotonic()
        delay = slot.download_delay()
        if delay:
            penalty = delay - now + slot.lastseen
            if penalty > 0:
                slot.latercall = call_later(penalty, self._latercall, slot)
                return
        while slot.queue and slot.free_transfer_slots() > 0:
            slot.lastseen = now
            request, queue_dfd = slot.queue.popleft()
            slot.transferring.add(request)  # counted now, not when its task first runs
            _schedule_coro(self._wait_for_download(slot, request, queue_dfd))
            if delay:  # one at a time when there is a delay between requests
                self._process_queue(slot)
                break
