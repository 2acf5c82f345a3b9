"""What each Flawless setting may hold, checked once before a command writes anything.

Every ``FLAWLESS_*`` setting (and ``DATABASE_URL``, ``REDIS_URL``, ``SMTP_URL``,
``LANGUAGETOOL_URL``) is declared in :data:`RULES` with what it accepts. :func:`validate`
checks the final values, whichever of the defaults, the environment or ``-s`` they came from,
so a mistake is one line naming the setting, the value and what is expected, instead of a
traceback in the middle of a crawl (and a crawl record left ``running``).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

from scrapy.settings import SETTINGS_PRIORITIES, BaseSettings


class SettingError(ValueError):
    """A setting holds a value Flawless cannot use; the message names both."""


@dataclass(frozen=True)
class Rule:
    """What one setting accepts: ``check(value)`` raises ``ValueError`` for anything else."""

    expected: str
    check: Callable[[Any], object]


def whole(minimum: int) -> Rule:
    def check(value: Any) -> int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError
        number = int(value)
        if number < minimum:
            raise ValueError
        return number

    return Rule(f"a whole number of at least {minimum}", check)


def number(minimum: float = 0.0, *, above: bool = False, unit: str = "seconds") -> Rule:
    def check(value: Any) -> float:
        if isinstance(value, bool):
            raise ValueError
        result = float(value)
        if result != result or result in (float("inf"), float("-inf")):
            raise ValueError  # nan and infinity are not durations
        if result < minimum or (above and result == minimum):
            raise ValueError
        return result

    bound = f"greater than {minimum:g}" if above else f"at least {minimum:g}"
    return Rule(f"a number of {unit} {bound}", check)


def _boolean(value: Any) -> bool:
    return BaseSettings({"value": value}).getbool("value")  # exactly what Scrapy accepts


BOOLEAN = Rule("true or false (or 1 or 0)", _boolean)
TEXT = Rule("text", lambda value: str(value))


def url(*schemes: str, empty: bool = True, host: bool = True) -> Rule:
    """A URL with one of ``schemes`` (and a host name); ``empty``: unset is allowed."""

    def check(value: Any) -> None:
        text = str(value or "").strip()
        if not text:
            if not empty:
                raise ValueError
            return
        if any(c.isspace() or ord(c) < 32 for c in text):
            raise ValueError
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a bad port
        if parts.scheme.lower() not in schemes or (host and not parts.hostname):
            raise ValueError

    shapes = " or ".join(f"{s}://..." if s != "mailto" else "mailto:..." for s in schemes)
    return Rule(("empty or " if empty else "") + f"a URL like {shapes}", check)


def _database_url(value: Any) -> None:
    import psycopg2.extensions

    if value:  # a postgresql:// URI or a libpq "key=value" string, as psycopg2 reads it
        try:
            psycopg2.extensions.parse_dsn(str(value))
        except psycopg2.ProgrammingError as exc:
            raise ValueError from exc


def _smtp_url(value: Any) -> None:
    from pipelines.digest.send import SMTPConfig

    if value:
        SMTPConfig.from_url(str(value))


def _mail_from(value: Any) -> None:
    from pipelines.digest.addresses import mail_from

    mail_from(str(value or ""))


def _selectors(value: Any) -> None:
    from pipelines.language.extract import compile_selectors

    if value:
        items = value.split(",") if isinstance(value, str) else [str(v) for v in value]
        compile_selectors([s for s in items if s.strip()])


def _public_url(value: Any) -> None:
    url("https", "http").check(value)
    parts = urlsplit(str(value or "").strip())
    if parts.query or parts.fragment:
        raise ValueError


def _secret_key(value: Any) -> None:
    if value and len(str(value).strip()) < 32:
        raise ValueError


def _folder(value: Any) -> None:
    if value and not Path(str(value)).expanduser().is_dir():
        raise ValueError


SECRETS = {"FLAWLESS_SECRET_KEY"}
"""Settings whose value an error message never repeats (it ends up in logs)."""
SECONDS = number()
RULES: dict[str, Rule] = {
    "FLAWLESS_CONTACT_URL": url("https", "http", "mailto", empty=False, host=False),
    "FLAWLESS_STATE_DIR": TEXT,
    "FLAWLESS_ALLOW_PRIVATE_NETWORKS": BOOLEAN,
    "FLAWLESS_MAX_PAGES": whole(1),
    "FLAWLESS_MAX_CRAWL_DELAY": SECONDS,
    "FLAWLESS_MAX_URL_LENGTH": whole(16),
    "FLAWLESS_FOLLOW_SITEMAPS": BOOLEAN,
    "FLAWLESS_REUSE_UNCHANGED": BOOLEAN,
    "FLAWLESS_TRAP_RUN": whole(1),
    "FLAWLESS_QUEUE_MEMORY": whole(0),
    "FLAWLESS_PROGRESS": BOOLEAN,
    "FLAWLESS_PROGRESS_INTERVAL": number(above=True),
    "FLAWLESS_DB_BATCH_SIZE": whole(1),
    "FLAWLESS_DB_MAX_BUFFER": whole(1),
    "FLAWLESS_DB_OUTAGE_TIMEOUT": number(above=True),
    "FLAWLESS_HEARTBEAT_INTERVAL": number(above=True),
    "FLAWLESS_HEARTBEAT_TIMEOUT": number(above=True),
    "FLAWLESS_LINKS_ENABLED": BOOLEAN,
    "FLAWLESS_LINK_CACHE_HOURS": number(unit="hours"),
    "FLAWLESS_LINK_TIMEOUT": number(above=True),
    "FLAWLESS_LINK_RETRIES": whole(0),
    "FLAWLESS_LINK_MAX_REDIRECTS": whole(0),
    "FLAWLESS_LINK_MAX_RETRY_AFTER": SECONDS,
    "FLAWLESS_CHECK_EXTERNAL": BOOLEAN,
    "FLAWLESS_LINK_RETRY_DELAY": SECONDS,
    "FLAWLESS_LINK_CONCURRENCY": whole(1),
    "FLAWLESS_LINK_HOST_CONCURRENCY": whole(1),
    "FLAWLESS_LINK_HOST_BUDGET": whole(0),
    "FLAWLESS_LINK_HOST_FAILURES": whole(1),
    "FLAWLESS_LANGUAGE_ENABLED": BOOLEAN,
    "FLAWLESS_SKIP_SELECTORS": Rule("comma-separated CSS selectors", _selectors),
    "FLAWLESS_LANGUAGE_WORKERS": whole(0),
    "FLAWLESS_LANGUAGETOOL_MAX_CHARS": whole(100),
    "LANGUAGETOOL_URL": url("http", "https"),
    "FLAWLESS_MAIL_FROM": Rule('one e-mail address, such as "Flawless <flawless@example.com>"',
                               _mail_from),
    "FLAWLESS_UNSUBSCRIBE_URL": url("https", "http", "mailto", host=False),
    "FLAWLESS_PUBLIC_URL": Rule("empty or the app's base URL, like https://flawless.example.com"
                                " (no query or #fragment)", _public_url),
    "FLAWLESS_SECRET_KEY": Rule("empty or a random string of at least 32 characters",
                                _secret_key),
    "FLAWLESS_TOKEN_DAYS": number(above=True, unit="days"),
    "FLAWLESS_WEEKLY_SUMMARY": BOOLEAN,
    "FLAWLESS_TEMPLATES_DIR": Rule("empty or a folder that exists", _folder),
    "FLAWLESS_OUTBOX_DIR": TEXT,
    "FLAWLESS_MAIL_CLAIM_TIMEOUT": number(above=True),
    "FLAWLESS_MAIL_RETRY_DELAY": SECONDS,
    "FLAWLESS_MAIL_MAX_ATTEMPTS": whole(1),
    "FLAWLESS_OUTAGE_CRAWLS": whole(1),
    "FLAWLESS_FAILED_RETRY_DELAY": SECONDS,
    "SMTP_URL": Rule("empty or a URL like smtp://user:pass@host:port or smtps://...", _smtp_url),
    "DATABASE_URL": Rule("empty or a URL like postgresql://user:pass@host:5432/dbname",
                         _database_url),
    "REDIS_URL": url("redis", "rediss", "unix", host=False),
    "FLAWLESS_WORKER_LEASE": number(1, unit="seconds"),
    "FLAWLESS_REDIS_EXPIRY": number(60, unit="seconds"),
}


def _shown(value: Any) -> str:
    """``repr(value)`` with any password in it masked: error lines end up in cron logs."""
    text = repr(value)
    text = re.sub(r"(://[^:/@\s]*:)[^@/\s]+@", r"\1***@", text)
    return re.sub(r"(password\s*=\s*)\S+", r"\1***", text)


def _secret_shown(value: Any) -> str:
    return f"a value of {len(str(value))} characters"


def _source(settings: Any, name: str) -> str:
    """Where a setting's value came from, for the error message."""
    if hasattr(settings, "getpriority") and settings.getpriority(name) == SETTINGS_PRIORITIES["cmdline"]:
        return " (set with -s)"
    if name in os.environ:
        return " (set in the environment)"
    return ""


def validate(settings: Any) -> None:
    """Check every declared setting; raise :class:`SettingError` naming the first bad one."""
    for name, rule in RULES.items():
        value = settings.get(name)
        if value is None:
            continue
        try:
            rule.check(value)
        except (ValueError, TypeError, OverflowError):
            raise SettingError(
                f"{name} must be {rule.expected}, not "
                f"{_secret_shown(value) if name in SECRETS else _shown(value)}{_source(settings, name)}"
            ) from None


def validate_or_exit(settings: Any) -> None:
    """:func:`validate` for command lines: a bad value is one line on stderr and exit status 2."""
    try:
        validate(settings)
    except SettingError as exc:
        fail(str(exc))


def fail(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)
