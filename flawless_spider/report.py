"""The findings of one crawl, as ``scrapy report`` exports them (text, jsonl, csv)."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from typing import Any, TextIO

import psycopg2.extras

from flawless_spider.db import Database
from flawless_spider.dismissals import Dismissals
from flawless_spider.findings import (
    COMMON_FIELDS,
    TYPE_FIELDS,
    count_problems,
    problem_key,
    problem_state,
)
from flawless_spider.sites import Site
from pipelines.digest.build import link_problem

STATE_ORDER = {"new": 0, "open": 1, "fixed": 2}
TYPE_ORDER = {"link": 0, "spelling": 1, "grammar": 2}
# Characters a terminal acts on (ESC sequences, BEL, C1 controls, bidi overrides): page text
# must not repaint or retitle the operator's terminal.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def latest_crawl(db: Database, site: Site) -> dict[str, Any] | None:
    """The site's latest crawl that saw the site (complete or incomplete, not failed)."""
    rows = db.query(
        "SELECT * FROM crawls WHERE site_id = %s AND status IN ('complete', 'incomplete')"
        " ORDER BY id DESC LIMIT 1",
        (site.id,),
    )
    return rows[0] if rows else None


# The site as of a crawl: every finding open then (``new`` in it, or ``open``: seen earlier and
# not fixed, whether or not this crawl reached its page) plus those it ``fixed``.
CRAWL_FINDINGS_SQL = """
SELECT f.id, f.data, f.type, f.severity, f.page_url, f.first_seen, f.fixed_at,
       coalesce(p.title, '') AS page_title,
       CASE WHEN f.fixed_crawl_id = %(c)s THEN 'fixed'
            WHEN f.first_crawl_id = %(c)s THEN 'new' ELSE 'open' END AS state
FROM findings f
LEFT JOIN pages p ON p.crawl_id = f.last_crawl_id AND p.url = f.page_url
WHERE f.site_id = %(s)s AND f.first_crawl_id <= %(c)s
  AND (f.fixed_crawl_id IS NULL OR f.fixed_crawl_id >= %(c)s)
-- A link problem on several pages is shown by its record on the first page (the same one
-- whatever order the crawl, or its workers, stored them in).
ORDER BY f.page_url, f.fingerprint
"""


def crawl_rows(cur: Any, site_id: int, crawl_id: int
               ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The finding rows of the site as of the crawl, split into (kept, dismissed).

    Dismissed ("not a mistake") findings are no problem: they are left out of every list and
    count; those the crawl already stopped reporting (``fixed``) are dropped altogether.
    """
    kept, dismissed = [], []
    for row, is_dismissed in _classified_rows(cur, site_id, crawl_id):
        (dismissed if is_dismissed else kept).append(row)
    return kept, dismissed


def _classified_rows(cur: Any, site_id: int, crawl_id: int, batch: int = 0
                     ) -> Iterator[tuple[dict[str, Any], bool]]:
    """Each finding row of the site as of the crawl, with whether it is dismissed (see
    :func:`crawl_rows`); with ``batch``, read that many rows at a time (a server-side cursor)."""
    dismissals = Dismissals.load(cur, site_id)
    if batch:
        source = cur.connection.cursor(name="flawless_crawl_findings",
                                       cursor_factory=psycopg2.extras.RealDictCursor)
        source.itersize = batch
    else:
        source = cur
    try:
        source.execute(CRAWL_FINDINGS_SQL, {"c": crawl_id, "s": site_id})
        for row in source:
            row = dict(row)
            data = row["data"] if isinstance(row["data"], dict) else {}
            if dismissals and dismissals.matches(row["type"], data):
                if row["state"] != "fixed":
                    yield row, True
            else:
                yield row, False
    finally:
        if source is not cur:
            source.close()


def crawl_findings(db: Database, site: Site, crawl_id: int) -> list[dict[str, Any]]:
    """The site as of the crawl, as export records (see :data:`CRAWL_FINDINGS_SQL`)."""
    with db.transaction() as cur:
        return records_of(crawl_rows(cur, site.id, crawl_id)[0])


def crawl_problem_counts(db: Database, site: Site, crawl_id: int) -> dict[str, int]:
    """The problems of the site as of the crawl, counted as in its export (:func:`crawl_findings`
    and :func:`~flawless_spider.findings.count_problems`): ``broken`` and ``questionable`` links,
    ``spelling``, ``grammar``, and ``new``, ``fixed`` and ``open`` in all.

    The rows are read a batch at a time and only their problem keys are kept: every crawl ends
    with these counts, and a big site's findings (a misspelling on each of 20,000 pages is 20,000
    rows) would otherwise all be in the crawl process's memory at once.
    """
    groups: dict[tuple, list[Any]] = {}
    """Link records grouped as :func:`group_links` does: key -> [severity, state, problem key]."""
    others: dict[tuple, set[str]] = {}
    """Other records: (type, severity, problem key) -> their states."""
    with db.transaction() as cur:
        for row, dismissed in _classified_rows(cur, site.id, crawl_id, batch=2000):
            if dismissed:
                continue
            record = record_of(row)
            if record["type"] == "link":
                key, url = link_group(record)
                group = groups.get(key)
                if group is None:
                    groups[key] = [record["severity"], record["state"],
                                   problem_key("link", {**record, "url": url})]
                elif record["state"] != group[1]:
                    group[1] = "open"
            else:
                others.setdefault((record["type"], record["severity"],
                                   problem_key(record["type"], record)), set()).add(record["state"])
    found = [("link", severity, key, state) for severity, state, key in groups.values()]
    found += [(type, severity, key, state)
              for (type, severity, key), states in others.items() for state in states]

    def states(type: str | None = None, severity: str | None = None) -> list[str]:
        seen: dict[tuple, set[str]] = {}
        for kind, level, key, state in found:
            if type in (None, kind) and severity in (None, level):
                seen.setdefault(key, set()).add(state)
        return [problem_state(s) for s in seen.values()]

    def present(type: str, severity: str | None = None) -> int:
        return sum(state != "fixed" for state in states(type, severity))

    total = states()
    return {"broken": present("link", "error"), "questionable": present("link", "warning"),
            "spelling": present("spelling"), "grammar": present("grammar"),
            "new": total.count("new"), "fixed": total.count("fixed"),
            "open": len(total) - total.count("fixed")}


def record_of(row: dict[str, Any]) -> dict[str, Any]:
    """A finding row as an export record (fields at the top)."""
    data = dict(row["data"])
    record = {"type": row["type"], "page_url": row["page_url"], "severity": row["severity"],
              "state": row["state"]}
    for name in TYPE_FIELDS.get(row["type"], ()):
        record[name] = data.get(name)
    for name, value in data.items():
        if name not in record and name not in ("key", "place"):
            record[name] = value
    record["first_seen"] = row["first_seen"].isoformat()
    return record


def records_of(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Finding rows as export records, broken link targets grouped."""
    return group_links([record_of(row) for row in rows])


def link_group(record: dict[str, Any]) -> tuple[tuple, str]:
    """The group of a link record (one per target and answer, present or fixed), and its URL."""
    present = record["state"] != "fixed"
    # A 404 is one problem whatever #fragment each page adds; a missing anchor is per fragment.
    url = record.get("url") or ""
    if record.get("error") != "missing_fragment":
        url = record.get("target") or url.partition("#")[0] or url
    return (url, record.get("error"), record.get("status"), present), url


def group_links(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per broken link target (per state group), listing every page linking to it."""
    grouped: dict[tuple, dict[str, Any]] = {}
    others = []
    for record in records:
        if record["type"] != "link":
            others.append(record)
            continue
        key, url = link_group(record)
        group = grouped.get(key)
        if group is None:
            group = grouped[key] = {**record, "url": url, "pages": []}
        elif record["state"] != group["state"]:
            group["state"] = "open"
        group["pages"].append(record["page_url"])
    for group in grouped.values():
        group["pages"] = sorted(set(group["pages"]))
        group["page_url"] = group["pages"][0]
    result = list(grouped.values()) + others
    result.sort(key=lambda r: (TYPE_ORDER.get(r["type"], 9), STATE_ORDER.get(r["state"], 9),
                               r["severity"] != "error", r["page_url"], r.get("url") or "",
                               r.get("word") or "", r.get("rule") or ""))
    return result


def export_fields(records: list[dict[str, Any]]) -> list[str]:
    fields = list(COMMON_FIELDS)
    for type_fields in TYPE_FIELDS.values():
        fields += [f for f in type_fields if f not in fields]
    fields.append("pages")
    for record in records:
        fields += [f for f in record if f not in fields]
    return fields


FORMATS = ("text", "jsonl", "csv")


def write(out: TextIO, fmt: str, site: Site, crawl: dict[str, Any],
          records: list[dict[str, Any]]) -> None:
    """Write ``records`` to ``out`` as ``fmt`` (one of :data:`FORMATS`); report and verify share it."""
    if fmt == "jsonl":
        for line in to_jsonl(records):
            out.write(line + "\n")
    elif fmt == "csv":
        out.write(to_csv(records))
    else:
        out.write(to_text(site, crawl, records) + "\n")


def to_jsonl(records: list[dict[str, Any]]) -> Iterator[str]:
    for record in records:
        yield json.dumps(record, ensure_ascii=False, sort_keys=False)


def to_csv(records: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    fields = export_fields(records)
    writer = csv.DictWriter(out, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({k: _cell(v) for k, v in record.items()})
    return out.getvalue()


def _cell(value: Any) -> Any:
    if isinstance(value, list):
        value = " | ".join(str(v) for v in value)
    elif isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, str):
        if value.startswith(_FORMULA):
            value = "'" + value  # keep spreadsheets from evaluating page text as formulas
        # The csv module leaves a lone CR unquoted, but spreadsheets end a row there: page
        # text could start a row of its own (and a formula) mid-cell.
        return value.replace("\r\n", "\n").replace("\r", "\n")
    return value


def _printable(line: str) -> str:
    """``line`` without control characters: whitespace ones become spaces, others U+FFFD."""
    return _CONTROL.sub(lambda m: " " if m.group().isspace() else "\ufffd", line)


def summary_line(records: list[dict[str, Any]]) -> str:
    """``12 open problems (3 new): 2 links, 9 words, 1 grammar; 4 fixed``: counted as problems,
    the way the digest and ``sites list`` count them."""
    total = count_problems(records)
    per_type = {t: count_problems([r for r in records if r["type"] == t])["present"]
                for t in TYPE_ORDER}
    return (f"{total['present']} open problems ({total['new']} new): {per_type['link']} broken or"
            f" questionable links, {per_type['spelling']} misspelt words, {per_type['grammar']}"
            f" grammar; {total['fixed']} fixed in this crawl")


def to_text(site: Site, crawl: dict[str, Any], records: list[dict[str, Any]]) -> str:
    """A readable report grouped by type, then by page (links: by target, with their pages)."""
    lines = [f"Flawless report for {site.url}",
             f"Crawl {crawl['id']}: {crawl['status']}"
             + (f" ({crawl['reason']})" if crawl.get("reason") else "")
             + f", {crawl['pages']} pages, finished {crawl['finished_at']:%Y-%m-%d %H:%M %Z}"]
    lines.append(summary_line(records))
    titles = {"link": "Links", "spelling": "Spelling", "grammar": "Grammar"}
    for type_name, title in titles.items():
        group = [r for r in records if r["type"] == type_name]
        if not group:
            continue
        lines += ["", title, "=" * len(title)]
        if type_name == "link":
            for r in group:
                what = link_problem(r)
                extra = f" -> {r['final_url']}" if r.get("final_url") else ""
                lines.append(f"[{r['state']}] {r['severity']}: {r.get('url')} ({what}){extra}")
                for page in r["pages"]:
                    lines.append(f"    on {page}")
            continue
        page = None
        for r in sorted(group, key=lambda r: (r["page_url"], STATE_ORDER.get(r["state"], 9))):
            if r["page_url"] != page:
                page = r["page_url"]
                lines.append(page)
            if type_name == "spelling":
                hint = f" (did you mean {', '.join(r['suggestions'][:3])}?)" if r.get(
                    "suggestions") else ""
                lines.append(f"    [{r['state']}] {r.get('word')}{hint}")
            else:
                lines.append(f"    [{r['state']}] {r.get('rule')}: {r.get('message')}"
                             f" \u2014 \u201c{r.get('text')}\u201d")
            if r.get("context"):
                lines.append(f"        {r['context']}")
    if not records:
        lines += ["", "No problems found."]
    return "\n".join(_printable(line) for line in lines)
