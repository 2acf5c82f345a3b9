"""Bad settings: one line naming the setting, the value and what is expected; nothing written."""

from __future__ import annotations

import subprocess
import sys

import pytest
from scrapy.settings import Settings

from flawless_spider import settings as project_settings
from flawless_spider.config import RULES, SettingError, validate
from tests.conftest import PROJECT

BAD = [
    ("FLAWLESS_MAX_PAGES", "abc", "FLAWLESS_MAX_PAGES must be a whole number of at least 1, not 'abc'"),
    ("FLAWLESS_MAX_PAGES", "-5", "FLAWLESS_MAX_PAGES must be a whole number of at least 1, not '-5'"),
    ("FLAWLESS_ALLOW_PRIVATE_NETWORKS", "maybe",
     "FLAWLESS_ALLOW_PRIVATE_NETWORKS must be true or false (or 1 or 0), not 'maybe'"),
]


def test_every_setting_is_declared_with_what_it_accepts():
    """A setting added to settings.py without a rule would go unchecked: declare it in config."""
    names = {n for n in vars(project_settings) if n.startswith("FLAWLESS_")}
    names |= {"DATABASE_URL", "REDIS_URL", "SMTP_URL", "LANGUAGETOOL_URL"}
    assert names == set(RULES)


def test_the_defaults_are_valid():
    validate(Settings({n: getattr(project_settings, n) for n in RULES if hasattr(project_settings, n)}))


@pytest.mark.parametrize(("name", "value"), [
    ("FLAWLESS_MAX_PAGES", "1"), ("FLAWLESS_MAX_PAGES", 500), ("FLAWLESS_LINK_RETRIES", "0"),
    ("FLAWLESS_LINK_TIMEOUT", "0.5"), ("FLAWLESS_MAX_CRAWL_DELAY", "0"),
    ("FLAWLESS_CHECK_EXTERNAL", "false"), ("FLAWLESS_CHECK_EXTERNAL", "True"),
    ("FLAWLESS_CHECK_EXTERNAL", "0"), ("FLAWLESS_CHECK_EXTERNAL", False),
    ("DATABASE_URL", "postgresql://u:p@db:5432/flawless"), ("DATABASE_URL", "dbname=x host=/tmp"),
    ("REDIS_URL", "redis://127.0.0.1:6379/0"), ("SMTP_URL", "smtps://u:p@mail.example.com"),
    ("LANGUAGETOOL_URL", "http://[::1]:8081"), ("FLAWLESS_SKIP_SELECTORS", ".ad, #cookie"),
    ("FLAWLESS_UNSUBSCRIBE_URL", "https://example.com/u/{site_id}"),
])  # fmt: skip
def test_good_values_pass(name, value):
    validate(Settings({name: value}))


@pytest.mark.parametrize(("name", "value"), [
    ("FLAWLESS_MAX_PAGES", "2.5"), ("FLAWLESS_MAX_PAGES", "0"), ("FLAWLESS_MAX_PAGES", ""),
    ("FLAWLESS_LINK_RETRIES", "-1"), ("FLAWLESS_LINK_TIMEOUT", "0"),
    ("FLAWLESS_LINK_TIMEOUT", "nan"), ("FLAWLESS_MAX_CRAWL_DELAY", "-1"),
    ("FLAWLESS_CHECK_EXTERNAL", "yes"), ("FLAWLESS_FOLLOW_SITEMAPS", "off"),
    ("DATABASE_URL", "not a dsn"), ("REDIS_URL", "127.0.0.1:6379"), ("SMTP_URL", "mail.example.com"),
    ("LANGUAGETOOL_URL", "localhost:8081"), ("FLAWLESS_SKIP_SELECTORS", "p[["),
    ("FLAWLESS_MAIL_FROM", "a@example.com, b@example.com"),
    ("FLAWLESS_CONTACT_URL", "https://example.com/\r\nX-Evil: 1"),
    ("FLAWLESS_TEMPLATES_DIR", "/no/such/folder"),
])  # fmt: skip
def test_bad_values_name_the_setting(name, value):
    with pytest.raises(SettingError, match=f"^{name} must be .*, not "):
        validate(Settings({name: value}))


def test_passwords_are_not_repeated_in_the_error():
    with pytest.raises(SettingError) as error:
        validate(Settings({"SMTP_URL": "http://user:s3cret@mail.example.com"}))
    assert "s3cret" not in str(error.value) and "user:***@" in str(error.value)


def crawl_ids(db) -> list:
    return db.query("SELECT id FROM crawls")


@pytest.mark.parametrize(("name", "value", "message"), BAD, ids=["abc", "negative", "maybe"])
def test_a_bad_setting_stops_a_crawl_before_its_record_is_opened(serve, scrapy, db, name, value,
                                                                   message):
    srv = serve("basic")
    via_s = scrapy("crawl", "site", "-a", f"url={srv.url}", "-s", f"{name}={value}", check=False)
    assert (via_s.returncode, via_s.stderr) == (2, f"error: {message} (set with -s)\n")
    via_env = scrapy("crawl", "site", "-a", f"url={srv.url}", check=False, **{name: value})
    assert (via_env.returncode, via_env.stderr) == (2, f"error: {message} (set in the environment)\n")
    assert crawl_ids(db) == [] and db.query("SELECT id FROM sites") == []
    assert srv.paths() == []


@pytest.mark.parametrize(("args", "bad"), [
    (("sites", "add", "http://example.com/", "--email", "owner@example.com"), BAD[0]),
    (("sites", "list"), BAD[1]), (("report", "example.com"), BAD[2]), (("digest", "--send"), BAD[0]),
])  # fmt: skip
def test_every_command_checks_its_settings_first(scrapy, db, args, bad):
    name, value, message = bad
    result = scrapy(*args, check=False, **{name: value})
    assert (result.returncode, result.stderr) == (2, f"error: {message} (set in the environment)\n")
    assert db.query("SELECT id FROM sites") == []


def test_cron_refuses_bad_settings_before_crawling(serve, scrapy, scrapy_env, db):
    srv = serve("basic")
    scrapy("sites", "add", srv.url, "--email", "owner@example.com")
    for extra_env, args, message in [
        ({"FLAWLESS_MAX_PAGES": "abc"}, (), BAD[0][2] + " (set in the environment)"),
        ({}, ("-s", "FLAWLESS_MAX_PAGES=-5"), BAD[1][2] + " (set with -s)"),
        ({"FLAWLESS_ALLOW_PRIVATE_NETWORKS": "maybe"}, (), BAD[2][2] + " (set in the environment)"),
        ({}, ("-s", "FLAWLESS_MAX_PAGES"), "-s takes NAME=VALUE, not 'FLAWLESS_MAX_PAGES'"),
    ]:
        result = subprocess.run([sys.executable, "-m", "flawless_spider.cron", "--no-digest", *args],
                                cwd=PROJECT, env={**scrapy_env, **extra_env}, capture_output=True,
                                text=True, timeout=120)
        assert result.returncode != 0
        assert result.stderr == f"error: {message}\n"
    assert crawl_ids(db) == []
    assert srv.paths() == []
