"""Crawler traps: URL patterns whose values never repeat, recognised and cut early.

Depth and the page budget bound any crawl, but a trap spends them on nothing: a calendar
whose "next month" never ends, a session id (``?sid=<random>``) that makes every link new,
a query that grows by one filter per click. :class:`TrapGuard` tells the spider which URLs
fall in such a pattern, and names the pattern, so the crawl record can say what it skipped:

- **repeated path segments** (``/a/b/a/b/a/b``), very deep paths, very long queries
  (relative-link loops): recognised from the URL alone;
- **session ids**: a query parameter known to carry one (``sid``, ``PHPSESSID``, ...), or
  whose values all look random (generated, never chosen by a person). A URL that differs
  from an address already crawled only by that parameter is the same page again;
- **calendars** (a date in the path or query) and **ever-growing queries** (a link to the
  same path whose query extends the page's own): followed for ``FLAWLESS_TRAP_RUN`` links
  in a row from one URL of the pattern to the next, then cut.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Container
from dataclasses import dataclass, field
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit, urlunsplit

from w3lib.url import canonicalize_url

# Query parameters that carry a session id on common platforms (compared in lowercase).
SESSION_PARAMS = frozenset({
    "sid", "sessid", "sessionid", "session_id", "session", "phpsessid", "jsessionid",
    "aspsessionid", "cfid", "cftoken", "zenid", "oscsid", "s_id",
})
# Values that look generated: long runs of hex, or letters and digits mixed.
_RANDOM = re.compile(r"(?=.*\d)(?=.*[A-Za-z])[A-Za-z0-9_-]{12,}|[0-9a-fA-F]{16,}")
# A date: a year with a month (``/2024/05``, ``2024-05-17``, ``?year=2024&month=5``).
_DATE = re.compile(r"(?<!\d)(1[89]\d\d|2\d\d\d)([/_-]|%2F)(0?[1-9]|1[0-2])(?!\d)")
_DATE_PARAMS = frozenset({"year", "month", "y", "m", "date", "day", "week", "ym", "yearmonth"})
_DIGITS = re.compile(r"\d+")
# How many different random-looking values make an unknown parameter a session id.
SESSION_EVIDENCE = 5
MEMORY = 200_000


@dataclass
class _Param:
    values: set[str] = field(default_factory=set)
    chosen: bool = False
    """A value a person would choose (``page=2``, ``lang=en``) was seen: no session id."""


class TrapGuard:
    """Decides, URL by URL, whether the crawl is walking into a trap (see the module doc).

    ``seen``: the canonical URLs the crawl already requested (its frontier's, not a copy).
    ``run_limit``: links in a row within one calendar or growing-query pattern.
    """

    def __init__(self, seen: Container[str], run_limit: int = 20):
        self.seen = seen
        self.run_limit = run_limit
        self.params: dict[str, _Param] = {}
        self.without: dict[str, set[str]] = {}
        """Per session-like parameter: the addresses crawled without it."""
        self.runs: dict[str, tuple[str, int]] = {}
        """Canonical URL → (its pattern, links in a row within that pattern to reach it)."""
        self.cut: Counter[str] = Counter()

    def check(self, url: str, referer: str = "") -> str | None:
        """The name of the trap pattern ``url`` falls in, or None to crawl it."""
        parts = urlsplit(url)
        static = _static_trap(parts.path, parts.query)
        if static:
            return static
        query = parse_qsl(parts.query, keep_blank_values=True)
        for name, value in query:
            if self._session_param(name, value):
                stripped = _without(parts, name)
                if stripped in self.seen or stripped in self.without.get(name.lower(), ()):
                    return f"session ids in ?{name}="
        pattern, run = self._run(url, referer)
        if pattern and run > self.run_limit:
            return pattern
        return None

    def accept(self, key: str, referer: str = "") -> None:
        """``key`` (canonical) is being crawled: remember what the checks above need."""
        parts = urlsplit(key)
        for name, _ in parse_qsl(parts.query, keep_blank_values=True):
            lower = name.lower()
            param = self.params.get(lower)
            if param is not None and _is_session(lower, param):
                bucket = self.without.setdefault(lower, set())
                if len(bucket) < MEMORY:
                    bucket.add(_without(parts, name))
        pattern, run = self._run(key, referer)
        if pattern and len(self.runs) < MEMORY:
            self.runs[key] = (pattern, run)

    # -- session ids ----------------------------------------------------------------------

    def _session_param(self, name: str, value: str) -> bool:
        lower = name.lower()
        param = self.params.get(lower)
        if param is None:
            if len(self.params) >= 1000:
                return lower in SESSION_PARAMS
            param = self.params[lower] = _Param()
        if not _RANDOM.fullmatch(value):
            param.chosen = True
        elif len(param.values) < SESSION_EVIDENCE:
            param.values.add(value)
        return _is_session(lower, param)

    # -- calendars and growing queries ----------------------------------------------------

    def _run(self, url: str, referer: str) -> tuple[str, int]:
        """The url's calendar or growing-query pattern (or ``""``), and its run within it."""
        parts = urlsplit(url)
        pattern = _calendar(parts.path, parts.query)
        came_from = self.runs.get(canonicalize_url(referer, keep_fragments=False)) if referer \
            else None
        if not pattern and referer:
            ref = urlsplit(referer)
            if ref.path == parts.path and _extends(ref.query, parts.query):
                pattern = f"ever-growing query on {parts.path or '/'}"
        if not pattern:
            return "", 0
        if came_from and came_from[0] == pattern:
            return pattern, came_from[1] + 1
        return pattern, 0


def _is_session(lower: str, param: _Param) -> bool:
    if lower in SESSION_PARAMS:
        return True
    return not param.chosen and len(param.values) >= SESSION_EVIDENCE


def _without(parts: SplitResult, name: str) -> str:
    """The canonical URL of ``parts`` without the query parameter ``name``."""
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != name]
    return canonicalize_url(urlunsplit((parts.scheme, parts.netloc, parts.path,
                                        urlencode(query), "")), keep_fragments=False)


def _calendar(path: str, query: str) -> str:
    """``calendar /events/<n>/<n>/`` when the URL holds a date, else ``""``."""
    names = {k.lower() for k, _ in parse_qsl(query, keep_blank_values=True)}
    if not (_DATE.search(path) or _DATE.search(query) or ({"year", "y"} & names
                                                           and names & _DATE_PARAMS - {"year", "y"})):
        return ""
    shape = _DIGITS.sub("<n>", path or "/")
    if query:
        shape += "?" + "&".join(sorted(names))
    return f"calendar {shape}"


def _extends(before: str, after: str) -> bool:
    """True when query ``after`` holds every parameter of ``before`` and more."""
    if not after or len(after) <= len(before):
        return False
    have = Counter(parse_qsl(after, keep_blank_values=True))
    need = Counter(parse_qsl(before, keep_blank_values=True))
    return bool(need) and all(have[k] >= n for k, n in need.items()) and sum(have.values()) > sum(
        need.values())


def _static_trap(path: str, query: str) -> str | None:
    """Traps seen in the URL alone: a segment repeated (``/a/b/a/b/a/b``), very deep paths,
    very long queries (relative-link loops, query strings that grew out of control)."""
    segments = [s for s in path.split("/") if s]
    if len(segments) > 25:
        return "very deep paths (more than 25 segments)"
    if query.count("&") >= 20:
        return "very long queries (20 parameters or more)"
    if segments:
        segment, count = Counter(segments).most_common(1)[0]
        if count > 3:
            first = path.find("/" + segment + "/")
            head = path[:first] if first >= 0 else ""
            return f"repeated path segments ({head or ''}/{segment}/{segment}/...)"
    return None
