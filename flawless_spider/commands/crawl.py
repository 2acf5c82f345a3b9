"""``scrapy crawl``: Scrapy's own command, checking the ``site`` spider's arguments up front."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from scrapy.commands.crawl import Command as ScrapyCrawlCommand
from scrapy.exceptions import UsageError
from scrapy.settings import SETTINGS_PRIORITIES
from scrapy.spiderloader import get_spider_loader

from flawless_spider.cli import reject_unknown_options, use_help_formatter
from flawless_spider.config import validate_or_exit
from flawless_spider.crawls import reap_dead_crawls
from flawless_spider.db import Database, DatabaseError
from flawless_spider.db.migrations import SchemaTooNewError
from flawless_spider.sites import SiteError, SiteRegistry, normalize_root


def quiet_on_a_terminal(settings: Any) -> None:
    """At a terminal the live progress line says what the crawl does: Scrapy's start-up text
    and INFO lines only hide it. Warnings still show; ``-s LOG_LEVEL=INFO`` (or ``-L``) brings
    them all back, and logs written to a file or pipe keep the project's level."""
    if (sys.stderr.isatty() and settings.getbool("FLAWLESS_PROGRESS")
            and settings.getpriority("LOG_LEVEL") < SETTINGS_PRIORITIES["cmdline"]):
        settings.set("LOG_LEVEL", "WARNING", priority="cmdline")


class Command(ScrapyCrawlCommand):
    def short_desc(self) -> str:
        return "Crawl a site: scrapy crawl site -a url=URL (or -a site=SITE)"

    def long_desc(self) -> str:
        return (
            "Run a spider of the project. Flawless's spider is `site`:\n\n"
            "  scrapy crawl site -a url=https://example.com/   crawl a site (registered if new)\n"
            "  scrapy crawl site -a site=example.com           crawl a registered site (id or domain)\n\n"
            "With REDIS_URL set, `-a site=` started again (here or on another machine) while a "
            "crawl of the site runs joins that crawl as one more worker.\n\n"
            "The exit status is 1 when the site could not be crawled at all (a failed crawl)."
        )

    _parser: argparse.ArgumentParser | None = None

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        use_help_formatter(parser)
        self._parser = parser

    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        # Checked here, before Scrapy starts logging, so a mistake is one line, not a banner.
        super().process_options(args, opts)
        validate_or_exit(self.settings)  # a bad -s would otherwise fail mid-crawl
        reject_unknown_options(self._parser, args)
        quiet_on_a_terminal(self.settings)
        if not args:
            raise UsageError()  # Scrapy's own answer, the help, but without the start-up log
        if len(args) == 1:
            names = get_spider_loader(self.settings).list()
            if args[0] not in names:
                raise UsageError(f"no spider named {args[0]!r}: use `scrapy crawl site -a "
                                 f"url=URL` (spiders: {', '.join(sorted(names))})",
                                 print_help=False)
        if args == ["site"]:
            self.check_site_arguments(opts.spargs)

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        super().run(args, opts)
        if args == ["site"] and not self.exitcode and self.crawl_failed(opts.spargs):
            self.exitcode = 1

    def crawl_failed(self, spargs: dict[str, str]) -> bool:
        """True when the site's latest crawl record says ``failed`` (unreachable, blocked)."""
        try:
            db = Database.from_settings(self.settings)
            try:
                registry = SiteRegistry(db)
                site = registry.get(spargs["site"]) if spargs.get("site") else registry.ensure(
                    spargs["url"])
                rows = db.query("SELECT status FROM crawls WHERE site_id = %s ORDER BY id DESC"
                                " LIMIT 1", (site.id,))
            finally:
                db.close()
        except (SiteError, DatabaseError, SchemaTooNewError):
            return True
        return bool(rows) and rows[0]["status"] == "failed"

    def check_site_arguments(self, spargs: dict[str, str]) -> None:
        url, site = spargs.get("url"), spargs.get("site")
        if bool(url) == bool(site):
            raise UsageError("give exactly one of -a url=URL or -a site=ID_OR_DOMAIN",
                             print_help=False)
        try:
            if url:
                normalize_root(url)
            db = Database.from_settings(self.settings)
            try:
                db.connection()  # reachable and migrated, or a clear error now
                reap_dead_crawls(db, self.settings)
                if site:
                    SiteRegistry(db).get(site)
            finally:
                db.close()
        except (SiteError, DatabaseError, SchemaTooNewError) as exc:
            raise UsageError(str(exc), print_help=False) from None
        self.check_redis()

    def check_redis(self) -> None:
        """With REDIS_URL, Redis must answer before a worker joins (or opens) a crawl."""
        url = self.settings.get("REDIS_URL")
        if not url:
            return
        import redis

        try:
            server = redis.Redis.from_url(url, socket_connect_timeout=10, socket_timeout=10)
            try:
                server.ping()
            finally:
                server.close()
        except (redis.RedisError, ValueError) as exc:
            raise UsageError(f"cannot reach Redis at REDIS_URL ({_masked(url)}): {exc}",
                             print_help=False) from None


def _masked(url: str) -> str:
    """``url`` without its password (error lines end up in cron logs)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@", 1)
    return url
