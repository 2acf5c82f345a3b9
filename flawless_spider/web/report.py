"""The data of the report page: the latest crawl's findings grouped as in the digest, filtered."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flawless_spider.db import Database
from flawless_spider.findings import TYPES, count_problems, problem_key
from flawless_spider.report import crawl_rows, records_of
from pipelines.digest.build import Block, Group, Section, group_findings, sort_by_problem

STATES = ("new", "open", "fixed", "dismissed")
SECTION_TITLES = {"new": "New in this crawl", "open": "Still open", "fixed": "Fixed in this crawl",
                  "dismissed": "Not a mistake"}
MAX_GROUPS = 300
"""Problems listed per type and section; the rest are in the downloads (or found by a filter)."""
MAX_QUERY = 200


@dataclass
class Filters:
    """What the owner asked to see: ``type``, ``state``, a search text, or one finding's problem."""

    type: str = ""
    state: str = ""
    q: str = ""
    finding: int | None = None

    @classmethod
    def from_args(cls, args: Any) -> Filters:
        """From query or form fields; anything unknown is ignored, never echoed into a URL."""
        finding = str(args.get("finding") or "")
        return cls(
            type=args.get("type") if args.get("type") in TYPES else "",
            state=args.get("state") if args.get("state") in STATES else "",
            q=" ".join(str(args.get("q") or "").split())[:MAX_QUERY],
            finding=int(finding) if finding.isdigit() and len(finding) < 18 else None,
        )

    def params(self) -> dict[str, Any]:
        """The filters that are set, for building a link back to the same view."""
        values = {"type": self.type, "state": self.state, "q": self.q, "finding": self.finding}
        return {k: v for k, v in values.items() if v not in ("", None)}

    @property
    def active(self) -> bool:
        return bool(self.params())


@dataclass
class ReportView:
    """Everything the report page shows."""

    crawl: dict[str, Any] | None
    counts: dict[str, int] = field(default_factory=dict)
    type_counts: dict[str, int] = field(default_factory=dict)
    sections: list[Section] = field(default_factory=list)
    shown: int = 0
    """Problems listed after filtering (over all sections)."""
    focus: dict[str, Any] | None = None
    """The finding a digest's "Not a mistake" link named, when it is this site's."""


def latest_crawl(db: Database, site_id: int) -> dict[str, Any] | None:
    rows = db.query("SELECT id, status, reason, pages, started_at, finished_at FROM crawls"
                    " WHERE site_id = %s AND status IN ('complete', 'incomplete')"
                    " ORDER BY id DESC LIMIT 1", (site_id,))
    return rows[0] if rows else None


def finding_of(db: Database, site_id: int, finding_id: int | None) -> dict[str, Any] | None:
    """One finding of this site (never another site's), or ``None``."""
    if finding_id is None:
        return None
    rows = db.query("SELECT id, type, data, page_url FROM findings WHERE id = %s AND site_id = %s",
                    (finding_id, site_id))
    return rows[0] if rows else None


def _matches(group: Group, query: str) -> bool:
    texts = [group.title, group.url, group.problem, *group.suggestions]
    for page in group.pages:
        texts += [page.page_url, page.page_title, *page.details]
    return any(query in t.casefold() for t in texts if t)


def build_view(db: Database, site_id: int, filters: Filters) -> ReportView:
    """The report of the site's latest crawl that saw it, as filtered."""
    crawl = latest_crawl(db, site_id)
    if crawl is None:
        return ReportView(None)
    with db.transaction() as cur:
        kept, dismissed = crawl_rows(cur, site_id, crawl["id"])
    return view_of(crawl, kept, dismissed, filters, finding_of(db, site_id, filters.finding))


def view_of(crawl: dict[str, Any], kept: list[dict[str, Any]], dismissed: list[dict[str, Any]],
            filters: Filters, focus: dict[str, Any] | None = None) -> ReportView:
    """The page's data from a crawl's finding rows (see :func:`~flawless_spider.report.crawl_rows`).

    ``focus``: the finding whose problem alone is shown (a digest's "Not a mistake" link).
    """
    view = ReportView(crawl, focus=focus)
    # Counted exactly as the digest and ``scrapy report`` count (flawless_spider.findings).
    view.counts = count_problems(kept)
    view.type_counts = {t: count_problems([r for r in kept if r["type"] == t])["present"]
                        for t in TYPES}
    focus_key = None
    if focus is not None:
        focus_key = problem_key(focus["type"], dict(focus["data"]))
    by_state = {**sort_by_problem(kept), "dismissed": dismissed}
    query = filters.q.casefold()
    for state in STATES:
        if filters.state and state != filters.state:
            continue
        section = group_findings(by_state[state], state, capped=False)
        shown = Section(state)
        for block in section.blocks:
            if filters.type and block.type != filters.type:
                continue
            groups = [g for g in block.groups
                      if (focus_key is None or g.key == focus_key)
                      and (not query or _matches(g, query))]
            if groups:
                shown.blocks.append(Block(block.type, block.heading, groups[:MAX_GROUPS],
                                          max(0, len(groups) - MAX_GROUPS), len(groups)))
                view.shown += len(groups)
        if shown.blocks:
            view.sections.append(shown)
    return view


def export_records(db: Database, site_id: int) -> list[dict[str, Any]] | None:
    """The latest crawl's findings as ``scrapy report`` exports them (``None``: no crawl yet)."""
    crawl = latest_crawl(db, site_id)
    if crawl is None:
        return None
    with db.transaction() as cur:
        return records_of(crawl_rows(cur, site_id, crawl["id"])[0])
