"""The shape of a finding, and the stable identity that lets the next crawl recognise it.

A finding is a plain dict with the export fields of the design note (``type``, ``page_url``,
``severity`` plus the fields of its type) and a ``key``: what the problem is, normalised, so that
the same problem on the same page gets the same fingerprint crawl after crawl.
"""

from __future__ import annotations

import hashlib
from typing import Any

TYPES = ("link", "spelling", "grammar")
SEVERITIES = ("error", "warning")

# Export fields per type, in the order ``scrapy report`` writes them.
COMMON_FIELDS = ("type", "page_url", "severity", "state")
TYPE_FIELDS: dict[str, tuple[str, ...]] = {
    "link": ("url", "status", "error", "element", "text", "final_url", "position"),
    "spelling": ("word", "suggestions", "context", "language"),
    "grammar": ("rule", "message", "text", "suggestions", "context"),
}


def finding(type: str, page_url: str, severity: str, key: str, **fields: Any) -> dict[str, Any]:
    """Build a finding dict; ``key`` is the normalised "what" part of its identity."""
    if type not in TYPES:
        raise ValueError(f"unknown finding type {type!r}")
    if severity not in SEVERITIES:
        raise ValueError(f"unknown severity {severity!r}")
    return {"type": type, "page_url": page_url, "severity": severity, "key": key, **fields}


def place(item: dict[str, Any]) -> str:
    """Where a finding lives, for its identity: its page, or ``block:<hash>`` for site-wide text.

    A site-wide finding (a typo in the footer) is one problem whatever page the crawl met it
    on first; its ``page_url`` is only the page shown to the owner, and ``pages`` lists the rest.
    """
    return item.get("place") or item["page_url"]


def fingerprint(site_id: int, item: dict[str, Any]) -> str:
    """Stable identity: site + type + where (:func:`place`) + what (``key``)."""
    raw = "\x1f".join((str(site_id), item["type"], place(item), item["key"]))
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]


def problem_key(type: str, data: dict[str, Any]) -> tuple[str, ...]:
    """What the owner fixes once: the one definition of "a problem" behind every count.

    A broken link target is one problem however many pages link to it (and whatever
    ``#fragment`` they add, unless the fragment itself is missing); a misspelt word is one
    problem; a grammar slip is one per rule and message. Digest, report and ``sites list``
    all count these.
    """
    if type == "link":
        url = str(data.get("url") or "")
        error = str(data.get("error") or "")
        if error != "missing_fragment":
            url = str(data.get("target") or "") or url.partition("#")[0] or url
        if not url:
            url = str(data.get("text") or "")
        return (type, url, "" if error in ("", "None") else error)
    if type == "spelling":
        return (type, str(data.get("word") or "").casefold())
    if type == "grammar":
        return (type, str(data.get("rule") or ""), str(data.get("message") or ""))
    return (type, str(data.get("message") or data.get("text") or ""))


# The columns of ``findings.data`` that :func:`problem_key` reads (to fetch only those).
PROBLEM_FIELDS = ("url", "target", "error", "text", "word", "rule", "message")
STATES = ("new", "open", "fixed")


def problem_state(states: Any) -> str:
    """The state of a problem from its findings' states: new wins, then open, then fixed.

    A misspelling fixed on one page but new on another is a new problem, shown once.
    """
    states = set(states)
    return next((s for s in STATES if s in states), "open")


def problems(rows: Any) -> dict[tuple[str, ...], str]:
    """Problem key → state, for finding rows (``type``, ``data``, ``state``) or export records."""
    seen: dict[tuple[str, ...], set[str]] = {}
    for row in rows:
        data = row.get("data", row)  # a stored row, or an exported record (fields at the top)
        data = data if isinstance(data, dict) else {}
        seen.setdefault(problem_key(row["type"], data), set()).add(row.get("state", "open"))
    return {key: problem_state(states) for key, states in seen.items()}


def count_problems(rows: Any) -> dict[str, int]:
    """Problems per state (``new``, ``open``, ``fixed``) and in all (``present``: new + open)."""
    counts = dict.fromkeys(STATES, 0)
    for state in problems(rows).values():
        counts[state] += 1
    counts["present"] = counts["new"] + counts["open"]
    return counts
