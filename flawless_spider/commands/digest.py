"""``scrapy digest [--site SITE] [--send | --dry-run]``: queue due digests, and send the outbox.

Each crawl queues its digest when it closes; this command catches any digest still due (an
owner added later, a digest that failed to render), and with ``--send`` delivers the outbox
over ``SMTP_URL`` or, without it, as ``.eml`` files in the outbox folder.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from scrapy.exceptions import UsageError

from flawless_spider.cli import FlawlessCommand
from flawless_spider.crawls import reap_dead_crawls
from flawless_spider.sites import SiteError, SiteRegistry
from pipelines.digest import compose as digests
from pipelines.digest import outbox
from pipelines.digest.send import Sender, transport_from_settings


class Command(FlawlessCommand):
    def syntax(self) -> str:
        return "[--site SITE] [--send [--now] | --dry-run]"

    def short_desc(self) -> str:
        return "Queue due digests; with --send, also deliver the outbox"

    def long_desc(self) -> str:
        return (
            "Render and queue the digest of every site whose latest crawl finished after its "
            "last digest (or of SITE, an id or a domain). --send also delivers queued digests "
            "over SMTP_URL, or writes them as .eml files into the outbox folder when SMTP_URL "
            "is unset. --send --now also retries at once the digests waiting for a retry after a "
            "temporary SMTP failure. --dry-run prints what would be queued and sent, and "
            "changes nothing."
        )

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--site", metavar="SITE", help="only this site (id or domain)")
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--send", action="store_true", help="also send the queued digests")
        mode.add_argument(
            "--dry-run", action="store_true", help="show what would be sent; change nothing"
        )
        parser.add_argument("--now", action="store_true",
                            help="with --send: retry waiting digests now, not at their next "
                                 "attempt time")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if args:
            raise UsageError(f"unexpected argument {args[0]!r}; use --site SITE", print_help=False)
        if opts.now and not opts.send:
            raise UsageError("--now goes with --send", print_help=False)
        self.guarded(self.digest, opts)

    def digest(self, opts: argparse.Namespace) -> None:
        reap_dead_crawls(self.db, self.settings)
        site_id = None
        if opts.site:
            try:
                site_id = SiteRegistry(self.db).get(opts.site).id
            except SiteError as exc:
                self.fail(str(exc))
                return
        try:
            if opts.dry_run:
                self.dry_run(site_id)
                return
            self.queue(site_id, quiet=opts.send)
            if opts.now:
                with self.db.transaction() as cur:
                    waiting = outbox.retry_now(cur, site_id)
                if waiting:
                    print(f"retrying {waiting} waiting digest(s) now")
            if opts.send:
                self.send(site_id)
        except ValueError as exc:  # a bad FLAWLESS_MAIL_FROM, SMTP_URL, owner address, ...
            self.fail(str(exc))

    def queue(self, site_id: int | None, quiet: bool = False) -> None:
        """Compose and queue every due digest, each in its own transaction.

        ``quiet``: say nothing when none was due (``--send`` reports what it sends instead;
        a crawl queues its own digest, so "none due" then "sent #1" only confused).
        """
        with self.db.transaction() as cur:
            due = digests.due(cur, site_id)
        queued = 0
        for entry in due:
            with self.db.transaction() as cur:
                if not digests.lock_site(cur, entry["site_id"]):
                    continue
                try:
                    composed = digests.compose(cur, entry["site_id"], entry["crawl_id"], self.settings)
                except ValueError as exc:
                    self.fail(f"{entry['domain']}: {exc}")
                    continue
                outbox_id = None if composed is None else digests.enqueue(cur, composed)
            if composed is not None and outbox_id is not None:
                queued += 1
                print(f"queued digest #{outbox_id} for {entry['domain']} to {composed.to_addr}: "
                      f"{composed.subject}")
        if not queued and not quiet:
            print("no new digest due" + (" for this site" if site_id else ""))

    def send(self, site_id: int | None) -> None:
        sender = Sender(self.db, self.settings)
        print(f"sending via {sender.transport.describe()}")
        result = sender.run(site_id=site_id)
        for row in result.sent:
            print(f"sent #{row['id']} to {row['to_addr']}: {row['subject']}")
        for row, reason in result.retry:
            print(f"not sent #{row['id']} to {row['to_addr']}, will retry: {reason}",
                  file=sys.stderr)
        for row, reason in result.failed:
            print(f"failed #{row['id']} to {row['to_addr']}: {reason}", file=sys.stderr)
        if result.stopped:
            self.fail(f"stopped: {result.stopped}; the queue is kept for the next run")
        elif result.failed or result.retry:
            self.exitcode = 1
        elif not result.sent:
            print("nothing to send")

    def dry_run(self, site_id: int | None) -> None:
        """Print the digests that would be queued and the ones waiting to be sent."""
        transport = transport_from_settings(self.settings)  # validates SMTP_URL
        shown = 0
        with self.db.transaction() as cur:
            due = digests.due(cur, site_id)
            for entry in due:
                try:
                    composed = digests.compose(cur, entry["site_id"], entry["crawl_id"], self.settings)
                except ValueError as exc:
                    self.fail(f"{entry['domain']}: {exc}")
                    continue
                if composed is not None:
                    shown += 1
                    self._show(composed)
            pending = outbox.pending(cur, site_id)
        for row in pending:
            shown += 1
            when = f", next attempt {row['next_attempt_at']:%Y-%m-%d %H:%M:%S %Z}"
            error = f", last error: {row['last_error']}" if row["last_error"] else ""
            print(f"queued #{row['id']} for {row['domain']} to {row['to_addr']}: {row['subject']}"
                  f" ({row['status']}, {row['attempts']} attempts{when}{error})")
        if shown:
            print(f"\n(dry run: nothing queued or sent; --send would deliver via "
                  f"{transport.describe()})")
        else:
            print("nothing to send")

    @staticmethod
    def _show(composed: Any) -> None:
        digest = composed.digest
        print(f"=== would queue: {digest.domain} (site {digest.site_id}, crawl {digest.crawl_id})")
        print(f"To: {composed.to_addr}")
        print(f"Subject: {composed.subject}")
        print()
        print(composed.text.rstrip())
        print()
