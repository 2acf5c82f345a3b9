"""The Flawless add-on: wires the components of a crawl and derives settings from final values.

Scrapy applies add-ons (the ``ADDONS`` setting) once every other source of settings is in:
the defaults in ``settings.py``, the environment variables it reads, and ``-s NAME=VALUE``.
So settings derived from others are derived here, from the values that won, and
defaults < environment < ``-s`` holds for them too:

- ``REDIS_URL`` chooses the scheduler: the shared frontier (:mod:`flawless_spider.frontier`)
  when set, else Scrapy's own scheduler holding at most ``FLAWLESS_QUEUE_MEMORY`` requests in
  memory and the rest on disk (:mod:`flawless_spider.queue`);
- ``DOWNLOADER`` is :class:`~flawless_spider.downloader.PoliteDownloader` (Scrapy's, keeping
  each host's concurrency limit), and ``http``/``https`` in ``DOWNLOAD_HANDLERS`` are
  :class:`~flawless_spider.handler.ReuseSafeDownloadHandler` (Scrapy's, never reusing a
  connection that is being closed);
- ``FLAWLESS_CONTACT_URL`` goes into the ``USER_AGENT`` (unless ``USER_AGENT`` itself was set);
- ``CONCURRENT_REQUESTS`` is raised by ``FLAWLESS_LINK_CONCURRENCY``: link checks go through
  the downloader, and Scrapy holds the crawl's own requests back while ``CONCURRENT_REQUESTS``
  downloads are in flight, so checks of many external hosts would otherwise stall the crawl.

Components are added with ``setdefault``: a project that lists one of them (or disables it
with ``None``) keeps its own choice.
"""

from __future__ import annotations

from typing import Any

from scrapy.settings import BaseSettings, get_settings_priority
from scrapy.utils.misc import load_object

from flawless_spider import __version__

DOWNLOADER_MIDDLEWARES = {
    "flawless_spider.middlewares.addressguard.AddressGuardMiddleware": 50,
    "flawless_spider.recrawl.ConditionalRequests": 560,
}
ITEM_PIPELINES = {
    "pipelines.links.LinkCheckPipeline": 300,
    "pipelines.language.LanguagePipeline": 400,
    "pipelines.store.StorePipeline": 900,
}
EXTENSIONS = {
    "scrapy.extensions.throttle.AutoThrottle": None,
    "flawless_spider.throttle.CrawlDelayAutoThrottle": 0,
    "flawless_spider.lifecycle.CrawlLifecycle": 100,
    "flawless_spider.recrawl.Recrawl": 150,
    "flawless_spider.crawls.CrawlHeartbeat": 500,
    "flawless_spider.progress.CrawlProgress": 900,
    "flawless_spider.memory.MallocTrim": 950,
    # Findings feeds (FEEDS / -o) are written by our exporter, which drops pages and writes
    # findings; Scrapy's own would write every item.
    "scrapy.extensions.feedexport.FeedExporter": None,
    "flawless_spider.feeds.FindingsFeedExporter": 0,
}
SHARED_SCHEDULER = {"SCHEDULER": "flawless_spider.frontier.SharedScheduler"}
LOCAL_SCHEDULER = "flawless_spider.queue.SpillingScheduler"
HANDLER = "flawless_spider.handler.ReuseSafeDownloadHandler"


def user_agent(contact_url: str) -> str:
    return f"Flawless/{__version__} (+{contact_url}; link and spelling checker)"


class FlawlessAddon:
    """Scrapy add-on (``ADDONS = {"flawless_spider.addon.FlawlessAddon": 0}``)."""

    def update_settings(self, settings: BaseSettings) -> None:
        for name, components in (("DOWNLOADER_MIDDLEWARES", DOWNLOADER_MIDDLEWARES),
                                 ("ITEM_PIPELINES", ITEM_PIPELINES),
                                 ("EXTENSIONS", EXTENSIONS)):
            for path, order in components.items():
                settings.setdefault_in_component_priority_dict(name, load_object(path), order)
        if _unset(settings, "DOWNLOADER"):
            settings.set("DOWNLOADER", "flawless_spider.downloader.PoliteDownloader", "addon")
        handlers = settings["DOWNLOAD_HANDLERS"]
        for scheme in ("http", "https"):
            if scheme not in handlers:
                handlers.set(scheme, HANDLER, "addon")
        if _unset(settings, "USER_AGENT"):
            settings.set("USER_AGENT", user_agent(settings.get("FLAWLESS_CONTACT_URL")), "addon")
        try:
            checks = settings.getbool("FLAWLESS_LINKS_ENABLED") and max(
                1, settings.getint("FLAWLESS_LINK_CONCURRENCY"))
            pages = settings.getint("CONCURRENT_REQUESTS")
        except ValueError:
            checks = 0  # flawless_spider.config reports the bad value in one line
        if checks:
            # At the priority of the value it adds to: whoever set CONCURRENT_REQUESTS keeps it
            # for the crawl's pages, and link checks come on top.
            settings.set("CONCURRENT_REQUESTS", pages + checks,
                         settings.getpriority("CONCURRENT_REQUESTS"))
        if settings.get("REDIS_URL") and _unset(settings, "SCHEDULER"):
            for name, value in SHARED_SCHEDULER.items():
                if _unset(settings, name):
                    settings.set(name, value, "addon")
        elif _unset(settings, "SCHEDULER"):
            settings.set("SCHEDULER", LOCAL_SCHEDULER, "addon")


def _unset(settings: BaseSettings, name: str) -> bool:
    """True when ``name`` still has Scrapy's default (nobody set it, so it is ours to derive)."""
    priority: Any = settings.getpriority(name)
    return priority is None or priority <= get_settings_priority("default")
