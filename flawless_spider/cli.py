"""Shared base for Flawless's custom commands: a database handle and clear errors."""

from __future__ import annotations

import argparse
import difflib
import os
import sys
import textwrap
from typing import Any

from scrapy.commands import ScrapyCommand, ScrapyHelpFormatter
from scrapy.exceptions import UsageError

from flawless_spider.config import validate_or_exit
from flawless_spider.db import Database, DatabaseError
from flawless_spider.db.migrations import SchemaTooNewError


class HelpFormatter(ScrapyHelpFormatter):
    """Scrapy's help layout, but the description keeps its line breaks and indented examples."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n".join(
            indent + line if not line.strip() or line.startswith(" ")
            else textwrap.fill(line, width, initial_indent=indent, subsequent_indent=indent)
            for line in text.splitlines()
        )


def use_help_formatter(parser: argparse.ArgumentParser) -> None:
    """Make ``--help`` show a command's ``long_desc`` as written (Scrapy's reflows it)."""
    parser.formatter_class = HelpFormatter


def reject_unknown_options(parser: argparse.ArgumentParser | None, args: list[str]) -> None:
    """Scrapy parses options with ``parse_known_args``: what it does not know lands in ``args``.

    Name such an option as the mistake it is (with the nearest known one), instead of taking
    it for an argument or ignoring it.
    """
    for arg in args:
        if arg.startswith("-") and arg != "-" and not arg.lstrip("-").isdigit():
            known = [o for a in (parser._actions if parser else []) for o in a.option_strings]
            close = difflib.get_close_matches(arg.split("=", 1)[0], known, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise UsageError(f"unknown option {arg}{hint}", print_help=False)


def quiet_broken_pipe() -> None:
    """The reader went away (``scrapy report ... | head``): end quietly, as peers do.

    Further writes, and the interpreter's final flush, go to /dev/null instead of raising.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


class FlawlessCommand(ScrapyCommand):
    """Base for Flawless commands: a database handle and clear, traceback-free errors."""

    requires_project = True
    default_settings = {"LOG_LEVEL": "WARNING"}
    _db: Database | None = None

    _parser: argparse.ArgumentParser | None = None

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        use_help_formatter(parser)
        self._parser = parser

    def process_options(self, args: list[str], opts: Any) -> None:
        super().process_options(args, opts)
        reject_unknown_options(self._parser, args)
        # The project's LOG_LEVEL suits crawls; commands print results, so only warnings show.
        if not getattr(opts, "loglevel", None) and not getattr(opts, "verbose", False):
            self.settings.set("LOG_LEVEL", "WARNING", priority="cmdline")
        validate_or_exit(self.settings)  # before anything is read or written

    @property
    def db(self) -> Database:
        if self._db is None:
            self._db = Database.from_settings(self.settings)
        return self._db

    def fail(self, message: str, code: int = 1) -> None:
        """Print ``message`` as an error and make the command exit with ``code``."""
        print(f"error: {message}", file=sys.stderr)
        self.exitcode = code

    def guarded(self, func: Any, *args: Any) -> Any:
        """Run ``func``, turning database problems into one clear line instead of a traceback."""
        try:
            result = func(*args)
            sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's last flush
            return result
        except BrokenPipeError:
            quiet_broken_pipe()
        except (DatabaseError, SchemaTooNewError) as exc:
            self.fail(str(exc))
        finally:
            if self._db is not None:
                self._db.close()
                self._db = None
        return None
