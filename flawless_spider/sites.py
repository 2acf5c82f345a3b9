"""The site registry: which sites Flawless crawls, who owns them, how often, in which language."""

from __future__ import annotations

import contextlib
import difflib
import ipaddress
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from flawless_spider.db import Database
from flawless_spider.findings import PROBLEM_FIELDS, count_problems

SCHEDULES = ("hourly", "daily", "weekly")
# SQL: a throwaway site row of `scrapy verify` (never listed, scheduled or digested).
VERIFY_ROW = "coalesce((settings->>'verify')::boolean, false)"


class SiteError(ValueError):
    """A user-facing problem with a site argument (bad URL, unknown site, ...)."""


@dataclass
class Site:
    id: int
    url: str
    domain: str
    owner_email: str | None = None
    schedule: str = "daily"
    language: str = "en_US"
    settings: dict[str, Any] = field(default_factory=dict)
    _origins: dict[str, bool] = field(default_factory=dict, repr=False, compare=False)
    """Verdicts per ``scheme://host:port``: pages have thousands of links to a few origins."""

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Site:
        return cls(
            id=row["id"],
            url=row["url"],
            domain=row["domain"],
            owner_email=row["owner_email"],
            schedule=row["schedule"],
            language=row["language"],
            settings=dict(row["settings"] or {}),
        )

    def is_same_site(self, url: str) -> bool:
        """True when ``url`` belongs to this site (same host; ``www.`` and the bare domain are one)."""
        if not url[:8].lower().startswith(("http://", "https://")):
            return False  # mailto:, data:, ... (and no scheme at all) are never pages of ours
        end = url.find("/", url.find("//") + 2)
        origin = url[:end] if end >= 0 else url
        same = self._origins.get(origin)
        if same is None:
            try:
                same = site_domain(origin) == self.domain
            except SiteError:
                same = False
            if len(self._origins) < 10_000:
                self._origins[origin] = same
        return same


def normalize_root(url: str) -> str:
    """Validate a site URL given by a person and return its root (``scheme://host[:port]/``).

    IP hosts are written the standard way: ``http://[::1]:8080/`` keeps its brackets and
    ``http://2130706433/`` (a number for 127.0.0.1, as browsers read it) becomes
    ``http://127.0.0.1/``.
    """
    url = (url or "").strip()
    if not url:
        raise SiteError("a site URL is required, for example https://example.com/")
    bare = "://" not in url
    if bare:
        url = "https://" + url
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise SiteError(f"not a valid URL: {url!r} ({exc})") from None
    if (bare and parts.hostname and "." not in parts.hostname and ":" not in parts.hostname
            and port is None):
        # "example" is more likely a typo than an intranet host; those can be given in full.
        raise SiteError(f"not a valid URL: {url[8:]!r} (give a full address such as "
                        "https://example.com/)")
    if parts.scheme not in ("http", "https"):
        raise SiteError(f"only http:// and https:// sites can be crawled, not {parts.scheme}://")
    if not parts.hostname or any(c in parts.hostname for c in " \t\r\n"):
        raise SiteError(f"not a valid URL (no host name): {url!r}")
    if parts.username or parts.password:
        raise SiteError("site URLs must not contain a user name or password")
    host = canonical_host(parts.hostname, url)
    netloc = host if port is None else f"{host}:{port}"
    path = parts.path or "/"
    return urlunsplit((parts.scheme, netloc, path, parts.query, ""))


def canonical_host(host: str, url: str = "") -> str:
    """``host`` (as ``urlsplit().hostname`` gives it) the way Flawless stores and compares it.

    Lowercase ASCII (IDNA); IPv6 addresses compressed and in brackets (``[::1]``); IPv4
    addresses in dotted-quad form, including the numeric spellings a URL parser accepts
    (``2130706433``, ``0x7f000001``, ``0177.0.0.1``, ``127.1``). :class:`SiteError` if malformed.
    """
    if ":" in host:
        try:
            address = ipaddress.IPv6Address(host)
        except ValueError:
            raise SiteError(f"not a valid URL (bad IPv6 address {host!r}): {url or host!r}") from None
        if address.scope_id:
            raise SiteError(f"IPv6 zone ids ({host!r}) cannot be used in a site URL")
        return f"[{address.compressed}]"
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise SiteError(f"not a valid URL (bad host name {host!r}): {url or host!r}") from None
    labels = host.rstrip(".").split(".")
    if _IPV4_PART.fullmatch(labels[-1]):  # a name ending in a number is an IPv4 address
        address = _ipv4(labels)
        if address is None:
            raise SiteError(f"not a valid URL (bad IPv4 address {host!r}): {url or host!r}")
        return address
    return host


_IPV4_PART = re.compile(r"0[xX][0-9a-fA-F]*|[0-9]+")


def _ipv4(labels: list[str]) -> str | None:
    """The WHATWG URL standard's IPv4 parser: 1-4 decimal, octal (0...) or hex (0x...) parts."""
    if len(labels) > 4:
        return None
    numbers = []
    for label in labels:
        if not _IPV4_PART.fullmatch(label):
            return None
        if label[:2].lower() == "0x":
            numbers.append(int(label[2:] or "0", 16))
        elif len(label) > 1 and label.startswith("0"):
            try:
                numbers.append(int(label, 8))
            except ValueError:
                return None
        else:
            numbers.append(int(label))
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(numbers)):
        return None
    value = sum(n << (8 * (3 - i)) for i, n in enumerate(head)) + last
    return str(ipaddress.IPv4Address(value))


def check_crawlable(root: str, settings: Any) -> str | None:
    """Refuse (:class:`SiteError`) a site URL the crawl would refuse; a warning, or None.

    Too long for ``FLAWLESS_MAX_URL_LENGTH``; a host that is, or resolves to, a non-public
    address (the address guard's own test) unless ``FLAWLESS_ALLOW_PRIVATE_NETWORKS``.
    A name that does not resolve now is a warning: the site may not be online yet.
    """
    from flawless_spider.middlewares.addressguard import host_problem

    limit = settings.getint("FLAWLESS_MAX_URL_LENGTH")
    if len(root) > limit:
        raise SiteError(f"the site URL is {len(root)} characters long; crawls fetch URLs of at"
                        f" most {limit} characters (FLAWLESS_MAX_URL_LENGTH)")
    if settings.getbool("FLAWLESS_ALLOW_PRIVATE_NETWORKS"):
        return None
    parts = urlsplit(root)
    host = parts.hostname or ""
    try:
        problem = host_problem(host, parts.port or (443 if parts.scheme == "https" else 80))
    except OSError as exc:
        return f"{host} does not resolve now ({exc}); crawls will fail until it does"
    if problem:
        raise SiteError(f"{root} cannot be crawled: {problem}")
    return None


def normalize_language(tag: str) -> str:
    """A site language as a dictionary tag (``en-gb`` → ``en_GB``); :class:`SiteError` if malformed."""
    match = re.fullmatch(r"([A-Za-z]{2,3})(?:[-_]([A-Za-z]{2}))?", (tag or "").strip())
    if not match:
        raise SiteError(f"not a language tag: {tag!r} (use a dictionary name such as en_US or en_GB)")
    primary, region = match.group(1).lower(), match.group(2)
    return f"{primary}_{region.upper()}" if region else primary


def site_domain(url: str) -> str:
    """The site's identity: lowercase host without ``www.``, plus the port when one is given.

    IP hosts are in their standard form (``[::1]:8080``, ``127.0.0.1``), so every spelling
    of one address is one site.
    """
    if "://" not in url and ":" in url and "[" not in url:
        with contextlib.suppress(ValueError):
            url = f"[{ipaddress.IPv6Address(url).compressed}]"  # "::1" for "[::1]"
    try:
        parts = urlsplit(url if "://" in url else "https://" + url)
        port = parts.port
    except ValueError as exc:
        raise SiteError(f"not a valid URL: {url!r} ({exc})") from None
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise SiteError(f"not a valid URL (no host name): {url!r}")
    host = canonical_host(host, url)
    if host.startswith("www."):
        host = host[4:]
    return host if port is None else f"{host}:{port}"


def _has_port(domain: str) -> bool:
    return domain.rsplit("]", 1)[-1].count(":") == 1


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class SiteRegistry:
    """CRUD for sites and their accepted words, on the real database."""

    def __init__(self, db: Database):
        self.db = db

    def add(
        self,
        url: str,
        owner_email: str | None = None,
        schedule: str | None = None,
        language: str | None = None,
        settings: dict[str, Any] | None = None,
    ) -> tuple[Site, bool]:
        """Register a site, or update the owner/schedule/language given; returns (site, created).

        What is not given (``None``) keeps its current value, or the default for a new site.
        """
        root = normalize_root(url)
        if schedule is not None and schedule not in SCHEDULES:
            raise SiteError(f"--every must be one of {', '.join(SCHEDULES)}, not {schedule!r}")
        if language is not None:
            language = normalize_language(language)
        domain = site_domain(root)
        with self.db.transaction() as cur:
            cur.execute(
                "INSERT INTO sites (url, domain, owner_email, schedule, language, settings)"
                " VALUES (%(url)s, %(domain)s, %(owner)s, coalesce(%(schedule)s, 'daily'),"
                "   coalesce(%(language)s, 'en_US'), %(settings)s)"
                " ON CONFLICT (domain) DO UPDATE SET url = EXCLUDED.url,"
                "   owner_email = COALESCE(%(owner)s, sites.owner_email),"
                "   schedule = COALESCE(%(schedule)s, sites.schedule),"
                "   language = COALESCE(%(language)s, sites.language)"
                " RETURNING *, (xmax = 0) AS created",
                {"url": root, "domain": domain, "owner": owner_email, "schedule": schedule,
                 "language": language, "settings": json.dumps(settings or {})},
            )
            row = cur.fetchone()
        return Site.from_row(row), bool(row["created"])

    def ensure(self, url: str) -> Site:
        """The site for an ad-hoc crawl URL, registered without an owner if new."""
        domain = site_domain(normalize_root(url))
        with self.db.transaction() as cur:
            cur.execute("SELECT * FROM sites WHERE domain = %s", (domain,))
            row = cur.fetchone()
        if row:
            return Site.from_row(row)
        return self.add(url)[0]

    def get(self, ref: str | int) -> Site:
        """A site by id or domain (``www.`` and scheme are ignored); :class:`SiteError` if unknown.

        A host without its port finds the one site on that host (``127.0.0.1`` for
        ``127.0.0.1:8080``); an unknown name gets a "did you mean" from the registered ones.
        """
        ref = str(ref).strip()
        with self.db.transaction() as cur:
            if ref.isdigit():
                cur.execute("SELECT * FROM sites WHERE id = %s AND NOT " + VERIFY_ROW, (int(ref),))
                row = cur.fetchone()
            else:
                try:
                    domain = site_domain(ref)
                except SiteError:
                    raise SiteError(f"no such site: {ref!r}") from None
                cur.execute("SELECT * FROM sites WHERE domain = %s", (domain,))
                row = cur.fetchone()
                if row is None and not _has_port(domain):
                    cur.execute("SELECT * FROM sites WHERE domain LIKE %s ESCAPE '\\' AND NOT "
                                + VERIFY_ROW + " ORDER BY id", (_like(domain) + ":%",))
                    rows = cur.fetchall()
                    if len(rows) > 1:
                        raise SiteError(f"{ref!r} matches several sites: "
                                        f"{', '.join(r['domain'] for r in rows)}; give the port")
                    row = rows[0] if rows else None
                if row is None:
                    cur.execute("SELECT domain FROM sites WHERE NOT " + VERIFY_ROW)
                    known = [r["domain"] for r in cur.fetchall()]
                    close = difflib.get_close_matches(domain, known, n=3, cutoff=0.6)
                    if close:
                        raise SiteError(f"no such site: {ref!r}; did you mean "
                                        f"{' or '.join(close)}?")
        if row is None:
            raise SiteError(f"no such site: {ref!r} (see `scrapy sites list`)")
        return Site.from_row(row)

    def create_verify(self, url: str) -> Site:
        """A throwaway site row for ``scrapy verify URL``, flagged ``verify`` in its settings.

        Owners never see it: it has no owner (cron skips it), ``sites list`` and lookups skip
        it, its crawls are partial (never a digest), and ``verify`` deletes it (with its crawls
        and findings) when done. Its domain is unique (``verify:<id>:<domain>``), so it never
        touches a registered site's findings; the returned :class:`Site` has the real domain,
        and the registered site's options, language and words when there is one.
        """
        root = normalize_root(url)
        domain = site_domain(root)
        with self.db.transaction() as cur:
            # Left over by a verify that was killed: nobody will read them.
            cur.execute("DELETE FROM sites WHERE " + VERIFY_ROW
                        + " AND created_at < now() - interval '1 day'")
            cur.execute("SELECT * FROM sites WHERE domain = %s", (domain,))
            registered = cur.fetchone()
            settings = dict(registered["settings"] or {}) if registered else {}
            settings = {k: v for k, v in settings.items()
                        if k in ("exclude", "include", "skip_selectors")}
            cur.execute(
                "INSERT INTO sites (url, domain, language, settings) VALUES"
                " (%s, 'verify:' || md5(random()::text) || ':' || %s, %s, %s) RETURNING *",
                (root, domain, registered["language"] if registered else "en_US",
                 json.dumps({**settings, "verify": True})))
            row = cur.fetchone()
            if registered:
                cur.execute("INSERT INTO site_words (site_id, word) SELECT %s, word FROM"
                            " site_words WHERE site_id = %s", (row["id"], registered["id"]))
        site = Site.from_row(row)
        site.domain = domain
        return site

    def changes(self, site: Site, url: str, owner_email: str | None) -> list[str]:
        """What ``sites add URL --email OWNER`` would change of a registered site's address
        (scheme, port, path) and owner, in words; ``[]`` when it would change neither."""
        found = []
        root = normalize_root(url)
        if root != site.url:
            found.append(f"address {site.url} -> {root}")
        if owner_email and site.owner_email and owner_email.lower() != site.owner_email.lower():
            found.append(f"owner {site.owner_email} -> {owner_email}")
        return found

    def update_settings(self, site: Site, changes: dict[str, Any]) -> Site:
        """Set (or, for ``None``, remove) keys of the site's ``settings``; the updated site."""
        keep = {k: v for k, v in changes.items() if v is not None}
        drop = [k for k, v in changes.items() if v is None]
        with self.db.transaction() as cur:
            cur.execute("UPDATE sites SET settings = (settings || %s::jsonb) - %s::text[]"
                        " WHERE id = %s RETURNING *", (json.dumps(keep), drop, site.id))
            row = cur.fetchone()
        return Site.from_row(row)

    def set_schedule(self, site: Site, schedule: str) -> Site:
        if schedule not in SCHEDULES:
            raise SiteError(f"--every must be one of {', '.join(SCHEDULES)}, not {schedule!r}")
        with self.db.transaction() as cur:
            cur.execute("UPDATE sites SET schedule = %s WHERE id = %s RETURNING *",
                        (schedule, site.id))
            return Site.from_row(cur.fetchone())

    def list(self) -> list[dict[str, Any]]:
        """Every site with its latest crawl (status, HTML pages) and its open problems."""
        sites = self.db.query(
            "SELECT s.*, c.status AS last_status, c.finished_at AS last_crawl_at,"
            " c.pages AS last_pages, f.last_started FROM sites s"
            " LEFT JOIN LATERAL (SELECT status, finished_at, pages FROM crawls"
            "   WHERE site_id = s.id ORDER BY id DESC LIMIT 1) c ON true"
            " LEFT JOIN LATERAL (SELECT max(started_at) AS last_started FROM crawls"
            "   WHERE site_id = s.id AND kind = 'full') f ON true"
            " WHERE NOT " + VERIFY_ROW.replace("settings", "s.settings") + " ORDER BY s.id"
        )
        fields = ", ".join(f"'{name}', f.data->'{name}'" for name in PROBLEM_FIELDS)
        rows = self.db.query(
            f"SELECT f.site_id, f.type, jsonb_build_object({fields}) AS data FROM findings f"
            " WHERE f.fixed_at IS NULL"
        )
        by_site: dict[int, list[dict[str, Any]]] = {}
        for row in rows:
            by_site.setdefault(row["site_id"], []).append(row)
        for site in sites:
            # Counted like the digest and ``scrapy report``: a broken target is one problem.
            site["open_findings"] = count_problems(by_site.get(site["id"], []))["present"]
        return sites

    def remove(self, ref: str) -> Site:
        site = self.get(ref)
        with self.db.transaction() as cur:
            cur.execute("DELETE FROM sites WHERE id = %s", (site.id,))
        return site

    def words(self, site: Site) -> list[str]:
        rows = self.db.query(
            "SELECT word FROM site_words WHERE site_id = %s ORDER BY lower(word), word", (site.id,)
        )
        return [r["word"] for r in rows]

    def add_words(self, site: Site, words: list[str]) -> int:
        with self.db.transaction() as cur:
            added = 0
            for word in words:
                cur.execute(
                    "INSERT INTO site_words (site_id, word) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                    (site.id, word),
                )
                added += cur.rowcount
        return added

    def remove_words(self, site: Site, words: list[str]) -> int:
        with self.db.transaction() as cur:
            cur.execute(
                "DELETE FROM site_words WHERE site_id = %s AND word = ANY(%s)", (site.id, words)
            )
            return cur.rowcount
