"""``scrapy sites``: register, list and remove sites, and manage each site's accepted words."""

from __future__ import annotations

import argparse
import sys

from scrapy.exceptions import UsageError

from flawless_spider.cli import FlawlessCommand
from flawless_spider.crawls import reap_dead_crawls
from flawless_spider.sites import (
    SCHEDULES,
    SiteError,
    SiteRegistry,
    check_crawlable,
    normalize_root,
)
from pipelines.digest.addresses import validate_email


class Command(FlawlessCommand):
    def syntax(self) -> str:
        return "add URL --email OWNER [--every daily|weekly|hourly] [--language en_US] | list | " \
               "remove SITE | words add|list|remove SITE [WORD ...]"

    def short_desc(self) -> str:
        return "Register, list and remove the sites Flawless watches"

    def long_desc(self) -> str:
        return (
            "Manage the sites Flawless crawls.\n\n"
            "  scrapy sites add https://example.com/ --email owner@example.com --every daily\n"
            "  scrapy sites list\n"
            "  scrapy sites remove example.com          (SITE is an id or a domain)\n"
            "  scrapy sites words add example.com Flawless Scrapy   (words never flagged)\n"
            "  scrapy sites words list example.com\n"
            "  scrapy sites words remove example.com Scrapy"
        )

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--email", metavar="OWNER", help="the owner's e-mail address, "
                            "where digests go")
        parser.add_argument("--every", choices=SCHEDULES,
                            help="how often to crawl (default: daily; unchanged on update)")
        parser.add_argument("--language",
                            help="the site's main language, e.g. en_US or en_GB (default: en_US;"
                                 " unchanged on update)")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if not args:
            raise UsageError("say what to do: add, list, remove or words")
        action, rest = args[0], args[1:]
        handlers = {"add": self.add, "list": self.list, "remove": self.remove,
                    "words": self.words}
        if action not in handlers:
            raise UsageError(f"unknown action {action!r}: use add, list, remove or words")
        self.guarded(handlers[action], rest, opts)

    def add(self, rest: list[str], opts: argparse.Namespace) -> None:
        if len(rest) != 1:
            raise UsageError("usage: scrapy sites add URL --email OWNER")
        if not opts.email and not self._has_owner(rest[0]):
            raise UsageError("--email OWNER is required: digests are sent to the site's owner")
        try:
            email = validate_email(opts.email) if opts.email else None
            warning = check_crawlable(normalize_root(rest[0]), self.settings)
            site, created = SiteRegistry(self.db).add(rest[0], email, opts.every, opts.language)
        except (SiteError, ValueError) as exc:
            self.fail(str(exc))
            return
        verb = "Added" if created else "Updated"
        print(f"{verb} site {site.id}: {site.url} (owner {site.owner_email}, crawled "
              f"{site.schedule}, language {site.language})")
        if warning:
            print(f"warning: {warning}", file=sys.stderr)
        if opts.language is not None:
            warn_without_dictionary(site.language)

    def _has_owner(self, url: str) -> bool:
        """True when ``url`` is a registered site with an owner (an update may omit --email)."""
        try:
            return bool(SiteRegistry(self.db).get(url).owner_email)
        except SiteError:
            return False

    def list(self, rest: list[str], opts: argparse.Namespace) -> None:
        reap_dead_crawls(self.db, self.settings)
        rows = SiteRegistry(self.db).list()
        if not rows:
            print("No sites yet. Add one with: scrapy sites add URL --email OWNER")
            return
        header = ("ID", "SITE", "OWNER", "EVERY", "LANG", "LAST CRAWL", "PAGES", "OPEN")
        table = [header] + [
            (str(r["id"]), r["url"], r["owner_email"] or "-", r["schedule"], r["language"],
             f"{r['last_status']} {r['last_crawl_at']:%Y-%m-%d %H:%M}" if r["last_crawl_at"]
             else (r["last_status"] or "never"),
             "-" if r["last_pages"] is None else str(r["last_pages"]), str(r["open_findings"]))
            for r in rows
        ]
        widths = [max(len(row[i]) for row in table) for i in range(len(header))]
        for row in table:
            print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())

    def remove(self, rest: list[str], opts: argparse.Namespace) -> None:
        if len(rest) != 1:
            raise UsageError("usage: scrapy sites remove SITE")
        try:
            site = SiteRegistry(self.db).remove(rest[0])
        except SiteError as exc:
            self.fail(str(exc))
            return
        print(f"Removed site {site.id}: {site.url} and all its crawls and findings")

    def words(self, rest: list[str], opts: argparse.Namespace) -> None:
        if len(rest) < 2 or rest[0] not in ("add", "list", "remove"):
            raise UsageError("usage: scrapy sites words add|list|remove SITE [WORD ...]")
        action, ref, words = rest[0], rest[1], rest[2:]
        registry = SiteRegistry(self.db)
        try:
            site = registry.get(ref)
        except SiteError as exc:
            self.fail(str(exc))
            return
        if action == "list":
            for word in registry.words(site):
                print(word)
            return
        bad = [w for w in words if not w.strip() or any(c.isspace() for c in w) or len(w) > 100]
        if not words or bad:
            raise UsageError("give one or more words (no spaces, at most 100 characters each)")
        if action == "add":
            added = registry.add_words(site, words)
            print(f"Added {added} word(s) to {site.domain}'s dictionary")
        else:
            removed = registry.remove_words(site, words)
            print(f"Removed {removed} word(s) from {site.domain}'s dictionary")


def warn_without_dictionary(language: str) -> None:
    """Say so on stderr when no installed Hunspell dictionary can check ``language``."""
    from pipelines.language.dictionaries import DictionaryChooser, installed_languages

    available = installed_languages()
    if DictionaryChooser(language, available).site_tag is None:
        print(f"warning: no Hunspell dictionary for {language} is installed "
              f"(installed: {', '.join(available) or 'none'}); this site's spelling will not "
              "be checked until one is", file=sys.stderr)
