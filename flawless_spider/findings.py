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


def fingerprint(site_id: int, item: dict[str, Any]) -> str:
    """Stable identity: site + type + where (page URL) + what (``key``)."""
    raw = "\x1f".join((str(site_id), item["type"], item["page_url"], item["key"]))
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]
