"""``scrapy verify URL``: a one-off check for CI, with an exit status to gate a build on.

It crawls URL (and what it leads to; the whole site from its root) like ``scrapy crawl site
-a url=URL``, prints the findings in the ``scrapy report`` schema, and exits 1 when one is at
or above ``--fail-on``. Owners never see it: the crawl runs under a throwaway site row (no
owner, flagged ``verify``: not listed, not scheduled, never a digest) that is deleted with
its crawl and findings when the command ends. A registered site's options (exclude and
include patterns, skipped selectors), language and words apply.
"""

from __future__ import annotations

import argparse
import sys

from scrapy.exceptions import UsageError

from flawless_spider import report
from flawless_spider.cli import FlawlessCommand
from flawless_spider.crawls import reap_dead_crawls
from flawless_spider.feeds import crawl_records
from flawless_spider.lifecycle import CrawlLifecycle
from flawless_spider.sites import SiteError, normalize_root

FORMATS = report.FORMATS
LEVELS = {"error": ("error",), "warning": ("error", "warning")}


class Command(FlawlessCommand):
    requires_crawler_process = True

    def syntax(self) -> str:
        return "URL [--format text|jsonl|csv] [--fail-on error|warning] [-s NAME=VALUE ...]"

    def short_desc(self) -> str:
        return "Check a site or page once, for CI: exit 1 when it has problems"

    def long_desc(self) -> str:
        return (
            "Crawl URL (a page and what it leads to; a whole site from its root), print its\n"
            "findings in the format of `scrapy report`, and exit 1 when one is at or above\n"
            "--fail-on (default: error; warning counts warnings too), 0 when none is, 2 on a\n"
            "usage mistake. Nothing is registered or kept and no one is e-mailed. Settings as\n"
            "for `scrapy crawl`, e.g. -s FLAWLESS_CHECK_EXTERNAL=false.\n\n"
            "  scrapy verify http://localhost:8000/ --format jsonl > findings.jsonl"
        )

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--format", dest="fmt", default="text", choices=FORMATS,
                            help="output format (default: text)")
        parser.add_argument("--fail-on", dest="fail_on", default="error", choices=tuple(LEVELS),
                            help="lowest severity that makes the exit status 1 (default: error)")

    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        super().process_options(args, opts)
        if len(args) != 1:
            raise UsageError("give one URL to check", print_help=False)
        try:
            normalize_root(args[0])
        except SiteError as exc:
            raise UsageError(str(exc), print_help=False) from None
        if "://" not in args[0]:
            raise UsageError(f"give a full URL, such as https://{args[0]}/", print_help=False)

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if self.guarded(reap_dead_crawls, self.db, self.settings) is None and self.exitcode:
            return
        assert self.crawler_process
        crawler = self.crawler_process.create_crawler("site")
        self.crawler_process.crawl(crawler, verify=args[0])
        self.crawler_process.start()
        lifecycle = CrawlLifecycle.of(crawler) if crawler.spider is not None else None
        if lifecycle is None:
            self.fail("the check could not start (see the messages above)")
            return
        self.guarded(self.finish, lifecycle, args[0], opts)

    def finish(self, lifecycle: CrawlLifecycle, url: str, opts: argparse.Namespace) -> None:
        site, crawl_id = lifecycle.site, lifecycle.crawl_id
        try:
            [crawl] = self.db.query("SELECT * FROM crawls WHERE id = %s", (crawl_id,))
            records = crawl_records(self.db, site, crawl_id)
        finally:
            # Nothing of a verify is kept: its site row goes, with its crawl and findings.
            self.db.query("DELETE FROM sites WHERE id = %s", (site.id,))
        if crawl["status"] not in ("complete", "incomplete"):
            self.fail(f"could not check {url}: {crawl['reason'] or crawl['status']}")
            return
        if crawl["status"] == "incomplete":
            print(f"note: the check is incomplete: {crawl['reason']}", file=sys.stderr)
        if any(r["severity"] in LEVELS[opts.fail_on] for r in records):
            self.exitcode = 1  # before printing: `verify ... | head` must still fail the build
        report.write(sys.stdout, opts.fmt, site, crawl, records)
