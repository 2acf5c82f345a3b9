"""``scrapy sites``: register, list and remove sites, and manage each site's accepted words."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import Any

from scrapy.exceptions import UsageError

from flawless_spider.cli import FlawlessCommand
from flawless_spider.crawls import reap_dead_crawls
from flawless_spider.scope import compile_patterns
from flawless_spider.sites import (
    SCHEDULES,
    Site,
    SiteError,
    SiteRegistry,
    check_crawlable,
    normalize_root,
    site_domain,
)
from pipelines.digest.addresses import validate_email


class Command(FlawlessCommand):
    def syntax(self) -> str:
        return "add URL --email OWNER [--every daily|weekly|hourly] [--language en_US] " \
               "[--update] | list | set SITE [--exclude REGEX] [--include REGEX] " \
               "[--skip-selector CSS] [--workers N] [--every ...] | remove SITE [--yes] | " \
               "words add|list|remove SITE [WORD ...]"

    def short_desc(self) -> str:
        return "Register, list and remove the sites Flawless watches"

    def long_desc(self) -> str:
        return (
            "Manage the sites Flawless crawls.\n\n"
            "  scrapy sites add https://example.com/ --email owner@example.com --every daily\n"
            "  scrapy sites list\n"
            "  scrapy sites set example.com --exclude '/calendar/' --skip-selector .comments\n"
            "  scrapy sites set example.com             (show the site's options)\n"
            "  scrapy sites remove example.com          (SITE is an id or a domain; asks first)\n"
            "  scrapy sites words add example.com Flawless Scrapy   (words never flagged)\n"
            "  scrapy sites words list example.com\n"
            "  scrapy sites words remove example.com Scrapy\n\n"
            "`sites add` for a registered site updates its schedule and language; changing its\n"
            "address (scheme, port, path) or its owner needs --update.\n"
            "`sites set`: --exclude REGEX skips matching URLs (pages and links; not checked at\n"
            "all), --include REGEX crawls only matching pages (links elsewhere are still\n"
            "checked), --skip-selector CSS leaves that text unchecked; each may be repeated and\n"
            "replaces the list (give '' to clear it). --workers N crawl processes (with REDIS_URL)."
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
        parser.add_argument("--update", action="store_true",
                            help="add: allow changing a registered site's address or owner")
        parser.add_argument("--exclude", action="append", metavar="REGEX",
                            help="set: URLs matching it are neither crawled nor checked "
                                 "(repeatable; '' clears)")
        parser.add_argument("--include", action="append", metavar="REGEX",
                            help="set: only pages matching one are crawled (repeatable; '' clears)")
        parser.add_argument("--skip-selector", action="append", metavar="CSS",
                            dest="skip_selector",
                            help="set: text in these elements is never checked (repeatable; "
                                 "'' clears)")
        parser.add_argument("--workers", type=int, metavar="N",
                            help="set: crawl processes sharing one crawl (with REDIS_URL)")
        parser.add_argument("-y", "--yes", action="store_true",
                            help="remove: do not ask for confirmation")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if not args:
            raise UsageError("say what to do: add, list, remove or words")
        action, rest = args[0], args[1:]
        handlers = {"add": self.add, "list": self.list, "set": self.set, "remove": self.remove,
                    "words": self.words}
        if action not in handlers:
            raise UsageError(f"unknown action {action!r}: use add, list, set, remove or words")
        for option, actions in OPTION_ACTIONS.items():
            if getattr(opts, option.lstrip("-").replace("-", "_")) not in (None, False) \
                    and action not in actions:
                raise UsageError(f"{option} goes with `sites {' or '.join(actions)}`, not "
                                 f"`sites {action}`", print_help=False)
        self.guarded(handlers[action], rest, opts)

    def add(self, rest: list[str], opts: argparse.Namespace) -> None:
        if len(rest) != 1:
            raise UsageError("usage: scrapy sites add URL --email OWNER")
        if not opts.email and not self._has_owner(rest[0]):
            raise UsageError("--email OWNER is required: digests are sent to the site's owner")
        registry = SiteRegistry(self.db)
        url = rest[0]
        try:
            email = validate_email(opts.email) if opts.email else None
            existing = self._registered(url)
            if existing is not None and "://" not in url:
                url = existing.url  # "127.0.0.1:8080" names the site; it keeps its scheme
            changes = registry.changes(existing, url, email) if existing else []
            if changes and not opts.update:
                self.fail(f"{existing.domain} is already registered; this would change its "
                          f"{' and its '.join(changes)}. Add --update to do that")
                return
            warning = check_crawlable(normalize_root(url), self.settings)
            site, created = registry.add(url, email, opts.every, opts.language)
        except (SiteError, ValueError) as exc:
            self.fail(str(exc))
            return
        verb = "Added" if created else "Updated"
        print(f"{verb} site {site.id}: {site.url} (owner {site.owner_email}, crawled "
              f"{site.schedule}, language {site.language})")
        for change in changes:
            print(f"  changed: {change}")
        if warning:
            print(f"warning: {warning}", file=sys.stderr)
        if opts.language is not None:
            warn_without_dictionary(site.language)

    def _has_owner(self, url: str) -> bool:
        """True when ``url`` is a registered site with an owner (an update may omit --email)."""
        site = self._registered(url)
        return bool(site and site.owner_email)

    def _registered(self, url: str) -> Site | None:
        """The site registered under ``url``'s domain (exactly), or None."""
        try:
            domain = site_domain(normalize_root(url))
        except SiteError:
            return None
        rows = self.db.query("SELECT * FROM sites WHERE domain = %s", (domain,))
        return Site.from_row(rows[0]) if rows else None

    def list(self, rest: list[str], opts: argparse.Namespace) -> None:
        reap_dead_crawls(self.db, self.settings)
        rows = SiteRegistry(self.db).list()
        if not rows:
            print("No sites yet. Add one with: scrapy sites add URL --email OWNER")
            return
        retry_delay = self.settings.getfloat("FLAWLESS_FAILED_RETRY_DELAY")
        header = ("ID", "SITE", "OWNER", "EVERY", "LANG", "LAST CRAWL", "NEXT DUE", "PAGES",
                  "OPEN")
        table = [header] + [
            (str(r["id"]), r["url"], r["owner_email"] or "-", r["schedule"], r["language"],
             f"{r['last_status']} {r['last_crawl_at']:%Y-%m-%d %H:%M}" if r["last_crawl_at"]
             else (r["last_status"] or "never"), _next_due(r, retry_delay),
             "-" if r["last_pages"] is None else str(r["last_pages"]), str(r["open_findings"]))
            for r in rows
        ]
        widths = [max(len(row[i]) for row in table) for i in range(len(header))]
        for row in table:
            print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())

    def set(self, rest: list[str], opts: argparse.Namespace) -> None:
        if len(rest) != 1:
            raise UsageError("usage: scrapy sites set SITE [--exclude REGEX] [--include REGEX] "
                             "[--skip-selector CSS] [--workers N] [--every hourly|daily|weekly]",
                             print_help=False)
        registry = SiteRegistry(self.db)
        try:
            site = registry.get(rest[0])
            changes = site_options(opts)
        except (SiteError, ValueError) as exc:
            self.fail(str(exc), code=1 if isinstance(exc, SiteError) else 2)
            return
        if changes:
            site = registry.update_settings(site, changes)
        if opts.every:
            site = registry.set_schedule(site, opts.every)
        if changes or opts.every:
            print(f"Updated site {site.id}: {site.url}")
        show_options(site)

    def remove(self, rest: list[str], opts: argparse.Namespace) -> None:
        if len(rest) != 1:
            raise UsageError("usage: scrapy sites remove SITE [--yes]")
        registry = SiteRegistry(self.db)
        try:
            site = registry.get(rest[0])
        except SiteError as exc:
            self.fail(str(exc))
            return
        [counts] = self.db.query(
            "SELECT (SELECT count(*) FROM crawls WHERE site_id = %(s)s) AS crawls,"
            " (SELECT count(*) FROM findings WHERE site_id = %(s)s) AS findings", {"s": site.id})
        what = (f"site {site.id}: {site.url} and all its history ({counts['crawls']} crawls, "
                f"{counts['findings']} findings)")
        if not opts.yes:
            if not sys.stdin.isatty():
                self.fail(f"this would remove {what}; add --yes to confirm", code=2)
                return
            answer = input(f"Remove {what}? [y/N] ").strip().lower()
            if answer not in ("y", "yes"):
                print("Nothing removed")
                return
        registry.remove(str(site.id))
        print(f"Removed {what}")

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


# Options of one action only: given to another, they are a mistake, not silently ignored.
OPTION_ACTIONS = {
    "--email": ("add",), "--language": ("add",), "--update": ("add",), "--every": ("add", "set"),
    "--exclude": ("set",), "--include": ("set",), "--skip-selector": ("set",),
    "--workers": ("set",), "--yes": ("remove",),
}


def site_options(opts: argparse.Namespace) -> dict[str, Any]:
    """The ``sites set`` options given, as ``sites.settings`` keys (``None``: remove the key).

    ``ValueError`` for a pattern that is no regular expression, a selector that is no CSS, or
    a worker count below 1.
    """
    from pipelines.language.extract import compile_selectors

    changes: dict[str, Any] = {}
    for key, values in (("exclude", opts.exclude), ("include", opts.include),
                        ("skip_selectors", opts.skip_selector)):
        if values is None:
            continue
        values = [v for v in values if v.strip()]
        if key == "skip_selectors":
            try:
                compile_selectors(values)
            except Exception:
                raise ValueError(f"--skip-selector: not a CSS selector: {values}") from None
        else:
            try:
                compile_patterns(values)
            except ValueError as exc:
                raise ValueError(f"--{key}: {exc}") from None
        changes[key] = values or None
    if opts.workers is not None:
        if opts.workers < 1:
            raise ValueError(f"--workers must be at least 1, not {opts.workers}")
        changes["workers"] = opts.workers
    return changes


def show_options(site: Site) -> None:
    settings = site.settings
    print(f"  crawled {site.schedule}, language {site.language}, "
          f"workers {settings.get('workers', 1)}")
    for key, title in (("exclude", "exclude"), ("include", "include"),
                       ("skip_selectors", "skip selector")):
        for value in settings.get(key) or []:
            print(f"  {title}: {value}")


def _next_due(row: dict[str, Any], retry_delay: float) -> str:
    """``now``, a time, or ``-`` for a site cron does not crawl (no owner)."""
    from flawless_spider.cron import next_due

    if not row["owner_email"]:
        return "-"
    when = next_due(row, retry_delay)
    if when is None or when <= datetime.now(when.tzinfo):
        return "now"
    return f"{when:%Y-%m-%d %H:%M}"


def warn_without_dictionary(language: str) -> None:
    """Say so on stderr when no installed Hunspell dictionary can check ``language``."""
    from pipelines.language.dictionaries import DictionaryChooser, installed_languages

    available = installed_languages()
    if DictionaryChooser(language, available).site_tag is None:
        print(f"warning: no Hunspell dictionary for {language} is installed "
              f"(installed: {', '.join(available) or 'none'}); this site's spelling will not "
              "be checked until one is", file=sys.stderr)
