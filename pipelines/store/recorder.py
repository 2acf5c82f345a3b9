"""How a crawl ended, and closing its record: status, reason, stats, fixed findings and the
digest, in one transaction. Called by :class:`~flawless_spider.lifecycle.CrawlLifecycle`."""

from __future__ import annotations

import json
from typing import Any

from flawless_spider.crawls import WORKER_DIED, html_pages
from flawless_spider.db import Database
from pipelines.digest import outage, queue_digest

# Scrapy close reasons that mean the crawl did not see the whole site.
INCOMPLETE_REASONS = {
    "shutdown": "stopped before the end (shutdown requested)",
    "cancelled": "cancelled before the end",
    "closespider_timeout": "the crawl's time limit was reached",
    "closespider_itemcount": "the item limit was reached",
    "closespider_pagecount": "the page limit was reached",
    "closespider_errorcount": "too many errors",
    "memusage_exceeded": "the memory limit was reached",
}


def crawl_outcome(reason: str, root_error: str | None, root_detail: str,
                  left_out: dict[str, int], item_errors: int, stats: dict[str, Any], *,
                  max_pages: int, depth_limit: int, trap_cut: dict[str, int] | None = None
                  ) -> tuple[str, str | None]:
    """How a crawl ended: ``(status, reason in words)`` from Scrapy's close reason, the start
    page, the limits that left URLs out (``trap_cut``: URLs per trap pattern), and pages a
    stage could not process."""
    if root_error:
        return "failed", start_page_problem(root_error, root_detail)
    if reason != "finished":
        return "incomplete", INCOMPLETE_REASONS.get(reason, f"stopped early ({reason})")
    cuts = [LIMIT_REASONS[name].format(max_pages=max_pages, depth_limit=depth_limit,
                                       urls=_plural(left_out[name], "URL"),
                                       more=_pages(left_out[name]).replace(" ", " more ", 1),
                                       patterns=trap_patterns(trap_cut or {}))
            for name in LIMIT_REASONS if left_out.get(name)]
    if cuts:
        return "incomplete", "; ".join(cuts)
    if item_errors:
        return "incomplete", f"{_pages(item_errors)} could not be processed (see the log)"
    unchecked = sum(v for k, v in stats.items() if k.startswith("flawless/check_errors/"))
    if unchecked:
        return "incomplete", f"{_pages(unchecked)} could not be fully checked (see the log)"
    return "complete", None


# Why a crawl stopped short of the site, with the number of pages (URLs) it left unfetched.
LIMIT_REASONS = {
    "budget": "the page budget of {max_pages} pages was reached ({more} not fetched)",
    "depth": "the depth limit (DEPTH_LIMIT={depth_limit}) was reached ({more} not fetched)",
    "trap": "{urls} that looked like a crawler trap not fetched{patterns}",
}


def trap_patterns(cut: dict[str, int]) -> str:
    """``: session ids in ?sid= (30 URLs), calendar /events/<n>/<n>/ (2 URLs)``, or ``""``."""
    return (": " + ", ".join(f"{pattern} ({_plural(count, 'URL')})"
                             for pattern, count in sorted(cut.items(), key=lambda kv: -kv[1]))
            if cut else "")


START_PAGE_PROBLEMS = {
    "robots": "robots.txt does not allow crawling the start page",
    "too_long": "the start URL is longer than FLAWLESS_MAX_URL_LENGTH",
    "offsite": "the start page redirects to another site",
    "blocked": "the start page was blocked",
}
NETWORK_WORDS = {
    "dns": "host name not found",
    "refused": "connection refused",
    "timeout": "no answer in time",
    "tls": "TLS or certificate error",
}


def start_page_problem(error: str, detail: str = "") -> str:
    """Why a crawl failed, in words: ``the start page answered HTTP 503``."""
    if error.startswith("HTTP "):
        why = f"the start page answered {error}"
    else:
        why = START_PAGE_PROBLEMS.get(error) or (
            f"the start page could not be fetched ({NETWORK_WORDS.get(error, error)})")
    return f"{why}: {detail}" if detail else why


def checked_kinds(stats: dict[str, Any]) -> list[str]:
    """Finding kinds this crawl checked in full (``flawless/checked/*`` stats set by the stages)."""
    prefix = "flawless/checked/"
    return sorted(k[len(prefix):] for k, v in stats.items() if k.startswith(prefix) and v)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _pages(count: int) -> str:
    return _plural(count, "page")


# A finding is fixed only with evidence: this crawl fetched its place (2xx HTML of the site,
# every stage checked it, or an address now serving the same document as a checked one), the
# stage that finds its kind ran in full, and the finding is gone. A site-wide finding needs
# every page it was on to be such evidence.
FIX_SQL = """
WITH evidence AS (
    SELECT p.url FROM pages p
    WHERE p.crawl_id = %(crawl)s AND (p.checked OR (p.canonical_url IS NOT NULL AND EXISTS (
        SELECT 1 FROM pages q WHERE q.crawl_id = %(crawl)s AND q.url = p.canonical_url
        AND q.checked)))
)
UPDATE findings f SET fixed_at = now(), fixed_crawl_id = %(crawl)s
WHERE f.site_id = %(site)s AND f.fixed_at IS NULL
  AND f.type || CASE WHEN f.type = 'link' AND f.data->>'external' = 'true'
                     THEN ':external' ELSE '' END = ANY(%(checked)s)
  AND NOT EXISTS (SELECT 1 FROM crawl_findings cf
                  WHERE cf.crawl_id = %(crawl)s AND cf.finding_id = f.id)
  AND CASE WHEN f.place LIKE 'block:%%' THEN
        EXISTS (SELECT 1 FROM finding_pages fp WHERE fp.finding_id = f.id)
        AND NOT EXISTS (SELECT 1 FROM finding_pages fp WHERE fp.finding_id = f.id
                        AND fp.url NOT IN (SELECT url FROM evidence))
      ELSE f.page_url IN (SELECT url FROM evidence) END
"""

def finish_crawl(db: Database, site_id: int, crawl_id: int, status: str, reason: str | None,
                 stats: dict[str, Any], settings: Any, checked: list[str] | tuple = (),
                 left_out: dict[str, int] | None = None) -> None:
    """Close the record: fix what has evidence, count outages, queue the digest or a notice.

    A failed crawl changes no finding; a partial crawl (``-a url=``) never sends a digest and
    never counts towards the schedule or an outage. All in one transaction.
    """
    with db.transaction() as cur:
        cur.execute("SELECT kind, status, reason FROM crawls WHERE id = %s FOR UPDATE", (crawl_id,))
        row = cur.fetchone()
        if row and row["status"] != "running" and row["reason"] != WORKER_DIED:
            return  # a retry after a commit whose answer was lost: already recorded
        kind = row["kind"] if row else "full"
        if status != "failed" and checked:
            cur.execute(FIX_SQL, {"crawl": crawl_id, "site": site_id, "checked": list(checked)})
        cur.execute(html_pages("%s"), (crawl_id,))
        pages = cur.fetchone()["count"]
        cur.execute(
            "UPDATE crawls SET status = %s, reason = %s, finished_at = now(), stats = %s,"
            " pages = %s, checked = %s, left_out = %s WHERE id = %s",
            (status, reason, json.dumps(stats), pages, list(checked), json.dumps(left_out or {}),
             crawl_id),
        )
        if kind != "full":
            return
        outage.record(cur, site_id, crawl_id, status, settings)
        if status != "failed":
            queue_digest(cur, site_id, crawl_id, settings)
