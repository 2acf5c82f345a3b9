"""``scrapy crawl``: Scrapy's own command, checking the ``site`` spider's arguments up front."""

from __future__ import annotations

import argparse

from scrapy.commands.crawl import Command as ScrapyCrawlCommand
from scrapy.exceptions import UsageError

from flawless_spider.db import Database, DatabaseError
from flawless_spider.db.migrations import SchemaTooNewError
from flawless_spider.sites import SiteError, SiteRegistry, normalize_root


class Command(ScrapyCrawlCommand):
    def long_desc(self) -> str:
        return (
            "Run a spider of the project. Flawless's spider is `site`:\n\n"
            "  scrapy crawl site -a url=https://example.com/   crawl a site (registered if new)\n"
            "  scrapy crawl site -a site=example.com           crawl a registered site (id or domain)"
        )

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if args == ["site"]:
            self.check_site_arguments(opts.spargs)
        super().run(args, opts)

    def check_site_arguments(self, spargs: dict[str, str]) -> None:
        url, site = spargs.get("url"), spargs.get("site")
        if bool(url) == bool(site):
            raise UsageError("give exactly one of -a url=URL or -a site=ID_OR_DOMAIN")
        try:
            if url:
                normalize_root(url)
            db = Database.from_settings(self.settings)
            try:
                db.connection()  # reachable and migrated, or a clear error now
                if site:
                    SiteRegistry(db).get(site)
            finally:
                db.close()
        except (SiteError, DatabaseError, SchemaTooNewError) as exc:
            raise UsageError(str(exc), print_help=False) from None
