"""Scrapy settings for Flawless.

Every ``FLAWLESS_*`` setting (and ``DATABASE_URL``, ``REDIS_URL``, ``SMTP_URL``,
``LANGUAGETOOL_URL``) may also come from an environment variable of the same name;
``scrapy ... -s NAME=VALUE`` wins over both.
"""

import os

BOT_NAME = "flawless"
SPIDER_MODULES = ["flawless_spider.spiders"]
NEWSPIDER_MODULE = "flawless_spider.spiders"
COMMANDS_MODULE = "flawless_spider.commands"

# --- Flawless's own settings (defaults; see the README) ---------------------------------

FLAWLESS_CONTACT_URL = "https://github.com/flawless-crawler/flawless"
FLAWLESS_STATE_DIR = ""  # default: ./state next to scrapy.cfg
FLAWLESS_ALLOW_PRIVATE_NETWORKS = False  # only way to reach loopback/private/link-local hosts
FLAWLESS_MAX_PAGES = 10_000  # per-site page budget of one crawl
FLAWLESS_MAX_CRAWL_DELAY = 10.0  # cap on robots.txt Crawl-delay, seconds
FLAWLESS_MAX_URL_LENGTH = 2048
FLAWLESS_FOLLOW_SITEMAPS = True
FLAWLESS_REUSE_UNCHANGED = True  # conditional requests; unchanged pages keep their stored checks
FLAWLESS_PROGRESS = True  # live progress on a terminal (periodic lines otherwise) and a summary
FLAWLESS_PROGRESS_INTERVAL = 30  # seconds between progress lines when output is not a terminal
FLAWLESS_TRAP_RUN = 20  # links in a row within one calendar or growing-query pattern, then a trap
FLAWLESS_QUEUE_MEMORY = 1000  # queued requests held in memory; the rest wait on disk
FLAWLESS_DB_BATCH_SIZE = 200  # pages per database write
FLAWLESS_DB_MAX_BUFFER = 2000  # pages held while the database is away; past it the crawl pauses
FLAWLESS_DB_OUTAGE_TIMEOUT = 3600  # seconds a crawl waits for the database before giving up
FLAWLESS_HEARTBEAT_INTERVAL = 30  # seconds between a running crawl's heartbeats
FLAWLESS_HEARTBEAT_TIMEOUT = 600  # seconds without a heartbeat before a crawl counts as dead

# Link checks.
FLAWLESS_LINKS_ENABLED = True
FLAWLESS_LINK_CACHE_HOURS = 168.0  # external results that work are reused this long (7 days)
FLAWLESS_LINK_TIMEOUT = 20.0
FLAWLESS_LINK_RETRIES = 2
FLAWLESS_LINK_MAX_REDIRECTS = 10
FLAWLESS_LINK_MAX_RETRY_AFTER = 60.0
FLAWLESS_CHECK_EXTERNAL = True
FLAWLESS_LINK_RETRY_DELAY = 1.0  # first backoff in seconds (doubles each retry)
FLAWLESS_LINK_CONCURRENCY = 64  # link checks in flight (on top of CONCURRENT_REQUESTS)
FLAWLESS_LINK_HOST_CONCURRENCY = 2  # link checks in flight per external host
FLAWLESS_LINK_HOST_BUDGET = 200  # external checks per host per crawl (0: no limit)
FLAWLESS_LINK_HOST_FAILURES = 3  # refusals/timeouts in a row before a host is given up this crawl

# Language checks.
FLAWLESS_LANGUAGE_ENABLED = True
FLAWLESS_SKIP_SELECTORS = ""  # comma-separated CSS selectors whose text is never checked
FLAWLESS_LANGUAGE_WORKERS = 1  # processes that check the pages' language (0: the crawl process)
FLAWLESS_LANGUAGETOOL_MAX_CHARS = 20_000  # text per LanguageTool request (its size limit)
LANGUAGETOOL_URL = ""  # a LanguageTool server: replaces the built-in grammar rules

# Digests.
FLAWLESS_MAIL_FROM = "Flawless <flawless@localhost>"
FLAWLESS_UNSUBSCRIBE_URL = ""  # List-Unsubscribe when set (else the web app's, else a mailto:)
FLAWLESS_PUBLIC_URL = ""  # base URL of the owners' web app (scrapy serve, gunicorn) in e-mails
FLAWLESS_SECRET_KEY = ""  # signs the owners' links; default: a key kept in <state>/secret_key
FLAWLESS_TOKEN_DAYS = 90  # how long the links in an e-mail keep working
FLAWLESS_WEEKLY_SUMMARY = False
FLAWLESS_TEMPLATES_DIR = ""  # folder whose digest.html/.txt override templates/
FLAWLESS_OUTBOX_DIR = ""  # default: <FLAWLESS_STATE_DIR>/outbox
FLAWLESS_MAIL_CLAIM_TIMEOUT = 900  # seconds; a crashed sender's claimed digest is retried after this
FLAWLESS_MAIL_RETRY_DELAY = 60  # seconds to the first retry after a temporary failure, doubling, max 6 h
FLAWLESS_MAIL_MAX_ATTEMPTS = 12
FLAWLESS_OUTAGE_CRAWLS = 2  # failed crawls in a row before the owner hears "we could not check"
FLAWLESS_FAILED_RETRY_DELAY = 900  # seconds before a failed scheduled crawl is retried, doubling
SMTP_URL = ""

DATABASE_URL = ""
REDIS_URL = ""  # set: crawls are shared by every worker started for them (see the README)
FLAWLESS_WORKER_LEASE = 60  # seconds; a dead worker's requests go back to the queue after this
FLAWLESS_REDIS_EXPIRY = 86400  # seconds a shared crawl's Redis keys outlive its last activity

# --- Scrapy: polite defaults for crawling other people's sites ---------------------------

ROBOTSTXT_OBEY = True
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 4
DOWNLOAD_DELAY = 0.0
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 0.5
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 2.0
DOWNLOAD_TIMEOUT = 30
# Items (and requests) of one response processed at once. A page yields its new links' requests
# (handed to the scheduler at once) and one item, so more only costs time: Scrapy starts that
# many cooperative tasks for every response (16 took 11% of a re-crawl's reactor thread).
CONCURRENT_ITEMS = 1
DOWNLOAD_MAXSIZE = 10 * 1024 * 1024
DOWNLOAD_WARNSIZE = 2 * 1024 * 1024
DEPTH_LIMIT = 50
REDIRECT_MAX_TIMES = 10
# A meta refresh is no redirect: the page is parsed and checked, its target checked as a link.
METAREFRESH_ENABLED = False
RETRY_ENABLED = True
RETRY_TIMES = 2
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429]
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False  # no control port on machines that crawl the web
HTTPERROR_ALLOW_ALL = True  # a 404 page is a result, not an error
REFERER_ENABLED = True
# Resolves IPv6 as well as IPv4 (and IPv6 literals such as http://[::1]:8080/); the default one is
# IPv4-only. It has no DNS_TIMEOUT of its own: DOWNLOAD_TIMEOUT bounds the lookup with the request.
TWISTED_DNS_RESOLVER = "scrapy.resolver.CachingHostnameResolver"
LOG_LEVEL = "INFO"
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
FEED_EXPORT_ENCODING = "utf-8"

# The crawl's components (middlewares, pipelines, extensions) and the settings derived from
# others (the scheduler from REDIS_URL, the User-Agent from FLAWLESS_CONTACT_URL) come from the
# add-on, which Scrapy applies after the environment and -s: see flawless_spider/addon.py.
ADDONS = {"flawless_spider.addon.FlawlessAddon": 0}


def _from_environment(names: dict) -> None:
    """Let environment variables override the defaults above (``-s`` still wins)."""
    for name, value in os.environ.items():
        if name.startswith("FLAWLESS_") or name in (
            "DATABASE_URL",
            "REDIS_URL",
            "SMTP_URL",
            "LANGUAGETOOL_URL",
        ):
            names[name] = value


_from_environment(globals())
