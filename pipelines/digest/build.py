"""The data of one digest, read from the database: what is new, fixed and still open on a site.

A digest covers the changes since the site's last digest (``sites.last_digest_at``):

- *new*: findings first seen after it and still open (a reopened finding counts as new);
- *fixed*: findings the owner was told about (first seen before it) and fixed after it;
- *open*: every other finding that is not fixed, as a short reminder.

Findings are grouped the way an owner fixes them: broken links by target (with the pages that
link to it), misspellings by word, grammar by rule and message (one problem each, as
:func:`flawless_spider.findings.problem_key` defines it). Everything in ``findings.data`` came from
somebody else's web page, so it is read defensively: wrong types and odd values become text,
never an exception.
"""

from __future__ import annotations

import datetime
import http
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flawless_spider.dismissals import Dismissals
from flawless_spider.findings import problem_key, problems
from flawless_spider.web.links import highlight_of, text_fragment

# How much of each list an e-mail shows; the rest is "and N more" (see ``scrapy report``).
MAX_GROUPS = {"new": 10, "fixed": 5, "open": 5}
MAX_PAGES = {"new": 5, "fixed": 3, "open": 0}

TYPE_ORDER = ("link", "spelling", "grammar")
TYPE_HEADINGS = {"link": "Broken links", "spelling": "Spelling", "grammar": "Grammar"}
# What to do about each type of problem: one line under its heading.
ADVICE = {
    "link": "Open each page listed and correct the link or remove it.",
    "spelling": "Correct the word on each page listed.",
    "grammar": "Reword the sentence on each page listed.",
}

LINK_ERRORS = {
    "dns": "host not found",
    "refused": "connection refused",
    "timeout": "timed out",
    "tls": "TLS/certificate error",
    "redirect_loop": "redirect loop",
    "too_many_redirects": "too many redirects",
    "missing_fragment": "anchor missing on the target page",
    "invalid_url": "invalid URL",
    "blocked": "blocked",
    "robots": "blocked by robots.txt",
    "refresh_offsite": "refreshes to another site",
}
ELEMENTS = {
    "a": "link",
    "img": "image",
    "script": "script",
    "link": "stylesheet/link",
    "iframe": "frame",
    "source": "media source",
    "style": "CSS url()",
}


# Control characters, line/paragraph separators and bidi overrides (which can disguise a URL).
_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def text(value: Any, limit: int = 300) -> str:
    """Untrusted ``value`` as one line of text of at most ``limit`` characters."""
    if value is None:
        return ""
    if not isinstance(value, str):
        value = str(value) if isinstance(value, int | float) else ""
    value = " ".join(_INVISIBLE.sub(" ", value).split())
    if len(value) > limit:
        value = value[: limit - 1].rstrip() + "\u2026"
    return value


def strings(value: Any, count: int = 5, limit: int = 60) -> list[str]:
    """Untrusted ``value`` as a short list of short strings (e.g. suggestions)."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        return []
    result = [text(v, limit) for v in value if isinstance(v, str | int | float)]
    return [v for v in result if v][:count]


def type_is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def link_problem(data: Mapping[str, Any]) -> str:
    """What is wrong with a link, in words: ``404 Not Found``, ``host not found``, ..."""
    error = text(data.get("error"), 60)
    status = data.get("status")
    if type_is_int(status) and 100 <= status <= 999:
        try:
            phrase = http.HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
        label = f"{status} {phrase}".strip()
        if error and error not in ("http", "status"):
            label += f" ({LINK_ERRORS.get(error, error)})"
        return label
    if error:
        return LINK_ERRORS.get(error, error.replace("_", " "))
    return "broken"


@dataclass
class Occurrence:
    """Where on a site a problem shows: a page, and what on that page."""

    page_url: str
    page_title: str = ""
    details: list[str] = field(default_factory=list)
    highlight: str = ""
    """Text to highlight on the page (the link text, the word, the flagged words)."""

    @property
    def url(self) -> str:
        """The page, with a text fragment that scrolls to and highlights the mistake."""
        return text_fragment(self.page_url, self.highlight) if self.highlight else self.page_url


@dataclass
class Group:
    """One thing to fix: a broken target, a misspelt word, a grammar rule."""

    type: str
    severity: str
    title: str
    """The target URL, the word, or the rule's message."""
    url: str = ""
    """For links: the target (may be anything a page wrote; the templates decide what is clickable)."""
    problem: str = ""
    """For links: ``404 Not Found``...; for grammar: the rule id."""
    suggestions: list[str] = field(default_factory=list)
    pages: list[Occurrence] = field(default_factory=list)
    more_pages: int = 0
    count: int = 0
    """Findings in this group (one per page and spot)."""
    finding_id: int | None = None
    """One of its findings (the first stored): what "Not a mistake" acts on."""
    first_page: Occurrence | None = None
    """The first of its pages, even when none is listed: a broken link's page to fix."""
    state: str = ""
    key: tuple[str, ...] = ()
    """Its :func:`~flawless_spider.findings.problem_key`."""

    @property
    def page_count(self) -> int:
        return len(self.pages) + self.more_pages


@dataclass
class Block:
    """The groups of one finding type within a section, capped."""

    type: str
    heading: str
    groups: list[Group]
    more_groups: int
    count: int
    """Problems (groups) of this type, listed or not: a target linked from 3 pages is one."""

    @property
    def advice(self) -> str:
        return ADVICE.get(self.type, "")


@dataclass
class Section:
    """New, fixed or open: per-type blocks and the number of problems (what the owner fixes)."""

    state: str
    blocks: list[Block] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(b.count for b in self.blocks)

    def count_of(self, type: str) -> int:
        return sum(b.count for b in self.blocks if b.type == type)


@dataclass
class Digest:
    """Everything a digest template shows, for one site and one crawl."""

    site_id: int
    domain: str
    site_url: str
    owner_email: str
    crawl_id: int
    crawl_status: str
    crawl_reason: str
    crawl_pages: int
    crawl_finished_at: datetime.datetime | None
    since: datetime.datetime | None
    new: Section
    fixed: Section
    open: Section
    weekly: bool = False
    """A summary sent although nothing changed (``FLAWLESS_WEEKLY_SUMMARY``)."""
    unsubscribed_at: datetime.datetime | None = None
    paused_until: datetime.datetime | None = None

    @property
    def silenced(self) -> bool:
        """The owner unsubscribed, or paused their e-mails until a time still to come."""
        return silenced(self.unsubscribed_at, self.paused_until)

    @property
    def changed(self) -> bool:
        return bool(self.new.count or self.fixed.count)

    @property
    def open_total(self) -> int:
        """Problems still on the site: the new ones and the older ones."""
        return self.new.count + self.open.count

    @property
    def report_command(self) -> str:
        return f"scrapy report {self.domain}"


def silenced(unsubscribed_at: datetime.datetime | None,
             paused_until: datetime.datetime | None) -> bool:
    """No e-mail for this site: unsubscribed, or paused until a time still to come."""
    now = datetime.datetime.now(datetime.UTC)
    return unsubscribed_at is not None or (paused_until is not None and paused_until > now)


def _new_group(type: str, severity: str, data: Mapping[str, Any]) -> Group:
    if type == "link":
        key = problem_key(type, dict(data))
        url = text(key[1] or data.get("url"), 2000)
        return Group(type, severity, url or "(empty link)", url=url, problem=link_problem(data))
    if type == "spelling":
        return Group(
            type, severity, text(data.get("word"), 100) or "?",
            suggestions=strings(data.get("suggestions"), 3),
        )
    if type == "grammar":
        rule = text(data.get("rule"), 100)
        return Group(
            type, severity, text(data.get("message"), 300) or rule or "grammar",
            problem=rule, suggestions=strings(data.get("suggestions"), 3),
        )
    return Group(type, severity, text(data.get("message"), 300) or type)


def _detail(type: str, data: Mapping[str, Any]) -> str:
    """What on the page: the link text, the sentence with the word, the flagged span."""
    if type == "link":
        element = text(data.get("element"), 20)
        label = text(data.get("text"), 120)
        kind = ELEMENTS.get(element, element or "link")
        line = data.get("position")
        where = f" (line {line})" if type_is_int(line) and line > 0 else ""
        return f"{kind} \u201c{label}\u201d{where}" if label else f"{kind}{where}"
    if type in ("spelling", "grammar"):
        context = text(data.get("context"), 200)
        if type == "grammar" and not context:
            context = text(data.get("text"), 200)
        return context
    return text(data.get("context") or data.get("text"), 200)


def group_findings(rows: Iterable[Mapping[str, Any]], state: str, *, capped: bool = True
                   ) -> Section:
    """Group finding rows (``type, severity, page_url, page_title, data``, optionally ``id``) into
    a section, capped as an e-mail shows it unless ``capped`` is false (the web report)."""
    groups: dict[tuple[str, ...], Group] = {}
    pages: dict[tuple[str, ...], dict[str, Occurrence]] = {}
    extra: dict[tuple[str, ...], int] = {}
    for row in rows:
        type = text(row.get("type"), 30) or "other"
        severity = "error" if row.get("severity") == "error" else "warning"
        data = row.get("data")
        if not isinstance(data, Mapping):
            data = {}
        page_url = text(row.get("page_url"), 2000)
        key = problem_key(type, dict(data))
        group = groups.get(key)
        if group is None:
            group = groups[key] = _new_group(type, severity, data)
            group.state, group.key = state, key
            pages[key] = {}
        finding_id = row.get("id")
        if type_is_int(finding_id) and (group.finding_id is None or finding_id < group.finding_id):
            group.finding_id = finding_id
        if severity == "error":
            group.severity = "error"
        group.count += 1
        shared = data.get("pages")  # a boilerplate finding stands for this many pages
        if type_is_int(shared) and shared > 1:
            extra[key] = extra.get(key, 0) + min(shared, 1_000_000) - 1
        occurrence = pages[key].get(page_url)
        if occurrence is None:
            occurrence = pages[key][page_url] = Occurrence(
                page_url, text(row.get("page_title"), 150),
                highlight=text(highlight_of(type, dict(data)), 300),
            )
        detail = _detail(type, data)
        if detail and detail not in occurrence.details and len(occurrence.details) < 3:
            occurrence.details.append(detail)
    for key, group in groups.items():
        found = sorted(pages[key].values(), key=lambda o: o.page_url)
        group.first_page = found[0] if found else None
        limit = MAX_PAGES.get(state, 5) if capped else len(found)
        group.pages, group.more_pages = found[:limit], max(0, len(found) - limit)
        group.more_pages += extra.get(key, 0)

    section = Section(state)
    types = sorted({k[0] for k in groups}, key=lambda t: (_type_rank(t), t))
    for type in types:
        ordered = sorted(
            (g for k, g in groups.items() if k[0] == type),
            key=lambda g: (g.severity != "error", -g.page_count, -g.count, g.title.casefold()),
        )
        limit = MAX_GROUPS.get(state, 10) if capped else len(ordered)
        section.blocks.append(
            Block(
                type=type,
                heading=TYPE_HEADINGS.get(type, type.replace("_", " ").capitalize()),
                groups=ordered[:limit],
                more_groups=max(0, len(ordered) - limit),
                count=len(ordered),
            )
        )
    return section


def _type_rank(type: str) -> int:
    return TYPE_ORDER.index(type) if type in TYPE_ORDER else len(TYPE_ORDER)


FINDINGS_SQL = """
SELECT f.id, f.type, f.severity, f.page_url, f.data, coalesce(p.title, '') AS page_title,
       CASE WHEN f.fixed_at IS NOT NULL THEN 'fixed'
            WHEN %(since)s::timestamptz IS NULL OR f.first_seen > %(since)s THEN 'new'
            ELSE 'open' END AS state
FROM findings f
LEFT JOIN pages p ON p.crawl_id = f.last_crawl_id AND p.url = f.page_url
WHERE f.site_id = %(site_id)s
  AND (f.fixed_at IS NULL
       OR (f.fixed_at > %(since)s AND f.first_seen <= %(since)s))
ORDER BY f.id
"""


def sort_by_problem(rows: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """Rows into sections by their problem's state, so one problem shows in one section only.

    A problem still present somewhere is not "fixed" (its fixed rows are left out); one that
    is new somewhere is "new" (with its older pages too).
    """
    rows = [r for r in rows if r.get("type")]
    state_of = problems({"type": r["type"], "state": r["state"],
                         "data": dict(r["data"]) if isinstance(r.get("data"), Mapping) else {}}
                        for r in rows)
    by_state: dict[str, list[Mapping[str, Any]]] = {"new": [], "fixed": [], "open": []}
    for row in rows:
        data = dict(row["data"]) if isinstance(row.get("data"), Mapping) else {}
        state = state_of[problem_key(row["type"], data)]
        if state == "fixed" or row["state"] != "fixed":
            by_state[state].append(row)
    return by_state


def build_digest(cur: Any, site_id: int, crawl_id: int) -> Digest | None:
    """Read the digest of ``site_id`` as of crawl ``crawl_id``; ``None`` if either is missing.

    ``cur`` is a ``RealDictCursor``; this only reads.
    """
    cur.execute(
        "SELECT id, domain, url, owner_email, last_digest_at, unsubscribed_at, paused_until"
        " FROM sites WHERE id = %s", (site_id,)
    )
    site = cur.fetchone()
    cur.execute(
        "SELECT id, status, reason, pages, finished_at FROM crawls WHERE id = %s AND site_id = %s",
        (crawl_id, site_id),
    )
    crawl = cur.fetchone()
    if site is None or crawl is None:
        return None
    since = site["last_digest_at"]
    dismissals = Dismissals.load(cur, site_id)
    cur.execute(FINDINGS_SQL, {"site_id": site_id, "since": since})
    # "Not a mistake" is no problem: neither open nor fixed, not in the digest at all.
    by_state = sort_by_problem(
        r for r in cur.fetchall()
        if not (dismissals and dismissals.matches(r["type"], r["data"] if isinstance(
            r["data"], Mapping) else {})))
    return Digest(
        site_id=site["id"],
        domain=site["domain"],
        site_url=site["url"],
        owner_email=site["owner_email"] or "",
        crawl_id=crawl["id"],
        crawl_status=crawl["status"],
        crawl_reason=text(crawl["reason"], 200),
        crawl_pages=crawl["pages"],
        crawl_finished_at=crawl["finished_at"],
        since=since,
        new=group_findings(by_state["new"], "new"),
        fixed=group_findings(by_state["fixed"], "fixed"),
        open=group_findings(by_state["open"], "open"),
        unsubscribed_at=site["unsubscribed_at"],
        paused_until=site["paused_until"],
    )
