"""``scrapy report SITE``: the findings of the site's latest completed crawl."""

from __future__ import annotations

import argparse
import sys

from scrapy.exceptions import UsageError

from flawless_spider import report
from flawless_spider.cli import FlawlessCommand
from flawless_spider.crawls import reap_dead_crawls
from flawless_spider.sites import SiteError, SiteRegistry

FORMATS = report.FORMATS


class Command(FlawlessCommand):
    def syntax(self) -> str:
        return "SITE [--format text|jsonl|csv] [--crawl ID]"

    def short_desc(self) -> str:
        return "Print the findings of a site's latest crawl and its open problems"

    def long_desc(self) -> str:
        return (
            "Print the findings of a site's latest crawl that reached it, complete or incomplete\n"
            "(SITE is an id or a domain). Each finding has a state: new (first seen in that\n"
            "crawl), open (seen before and not fixed, also on pages that crawl did not reach)\n"
            "or fixed (this crawl checked its page and it is gone). jsonl gives one JSON object\n"
            "per finding; broken link targets are listed once, with every page linking to them\n"
            "in `pages`."
        )

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--format", dest="fmt", default="text", choices=FORMATS,
                            help="output format (default: text)")
        parser.add_argument("--crawl", type=int, metavar="ID",
                            help="report on this crawl instead of the latest")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if len(args) != 1:
            raise UsageError("give one SITE (an id or a domain; see `scrapy sites list`)")
        self.guarded(self.report, args[0], opts)

    def report(self, ref: str, opts: argparse.Namespace) -> None:
        reap_dead_crawls(self.db, self.settings)
        try:
            site = SiteRegistry(self.db).get(ref)
        except SiteError as exc:
            self.fail(str(exc))
            return
        if opts.crawl is not None:
            rows = self.db.query("SELECT * FROM crawls WHERE id = %s AND site_id = %s",
                                 (opts.crawl, site.id))
            crawl = rows[0] if rows else None
            if crawl is None or crawl["status"] == "running":
                self.fail(f"crawl {opts.crawl} of {site.domain} does not exist or is still running")
                return
        else:
            crawl = report.latest_crawl(self.db, site)
            last = self.db.query("SELECT id, status, reason FROM crawls WHERE site_id = %s"
                                 " AND status <> 'running' ORDER BY id DESC LIMIT 1", (site.id,))
            if crawl is None:
                if last:
                    self.fail(f"{site.domain} has no completed crawl yet: crawl {last[0]['id']} "
                              f"failed ({last[0]['reason']})")
                else:
                    self.fail(f"{site.domain} has no finished crawl yet: run "
                              f"`scrapy crawl site -a site={site.domain}`")
                return
            if last and last[0]["id"] != crawl["id"]:
                # On stderr, so that jsonl and csv stay clean.
                print(f"note: the latest crawl, {last[0]['id']}, is {last[0]['status']}"
                      f" ({last[0]['reason']}); this is crawl {crawl['id']}, the latest "
                      f"{crawl['status']} one", file=sys.stderr)
        records = report.crawl_findings(self.db, site, crawl["id"])
        report.write(sys.stdout, opts.fmt, site, crawl, records)
