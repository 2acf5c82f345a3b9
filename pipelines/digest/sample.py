"""A realistic sample digest, without a database: for previews (``scripts/render_digest_png``)."""

from __future__ import annotations

import datetime
from typing import Any

from pipelines.digest.build import Digest, group_findings


def _link(page: str, title: str, url: str, status: int | None, error: str | None,
          text: str, element: str = "a", line: int = 0) -> dict[str, Any]:
    return {
        "type": "link", "severity": "error", "page_url": page, "page_title": title,
        "data": {"url": url, "status": status, "error": error, "element": element,
                 "text": text, "position": line},
    }


def _word(page: str, title: str, word: str, suggestions: list[str], context: str) -> dict:
    return {
        "type": "spelling", "severity": "warning", "page_url": page, "page_title": title,
        "data": {"word": word, "suggestions": suggestions, "context": context,
                 "language": "en_US"},
    }


def _grammar(page: str, title: str, rule: str, message: str, text: str, context: str) -> dict:
    return {
        "type": "grammar", "severity": "warning", "page_url": page, "page_title": title,
        "data": {"rule": rule, "message": message, "text": text, "suggestions": [],
                 "context": context},
    }


def sample_digest(domain: str = "example.com") -> Digest:
    """A digest with a bit of everything: grouped links, words, a rule, fixed and open items."""
    rows = sample_rows(domain)
    finished = datetime.datetime(2026, 3, 2, 6, 5, tzinfo=datetime.UTC)
    return Digest(
        site_id=1, domain=domain, site_url=f"https://{domain}/", owner_email=f"owner@{domain}",
        crawl_id=42, crawl_status="complete", crawl_reason="", crawl_pages=128,
        crawl_finished_at=finished, since=finished - datetime.timedelta(days=1),
        new=group_findings(rows["new"], "new"), fixed=group_findings(rows["fixed"], "fixed"),
        open=group_findings(rows["open"], "open"),
    )


def sample_rows(domain: str = "example.com") -> dict[str, list[dict[str, Any]]]:
    """Finding rows (with ids and states) by section: ``new``, ``fixed``, ``open``, and one
    ``dismissed`` ("not a mistake")."""
    base = f"https://{domain}"
    pages = [
        (f"{base}/", "Home"),
        (f"{base}/pricing", "Pricing"),
        (f"{base}/blog/2026/spring-release", "Spring release notes"),
        (f"{base}/docs/install", "Installing <Flawless>"),
        (f"{base}/about", "About us"),
        (f"{base}/careers", "Careers"),
        (f"{base}/contact", "Contact"),
    ]
    new = [
        *[_link(p, t, f"{base}/downloads/flawless-1.2.tar.gz", 404, None, "Download 1.2", line=40 + i)
          for i, (p, t) in enumerate(pages)],
        _link(pages[2][0], pages[2][1], "https://partner.example.net/offer", None, "dns",
              "our partner"),
        _link(pages[3][0], pages[3][1], f"{base}/docs/install#requirements", 200,
              "missing_fragment", "requirements"),
        _word(pages[1][0], pages[1][1], "recieve", ["receive", "relieve"],
              "You will recieve an invoice every month."),
        _word(pages[2][0], pages[2][1], "recieve", ["receive", "relieve"],
              "Owners recieve one digest per crawl."),
        _word(pages[4][0], pages[4][1], "accomodate", ["accommodate"],
              "We accomodate teams of every size."),
        _grammar(pages[2][0], pages[2][1], "EN_A_VS_AN", "Use \u201can\u201d instead of "
                 "\u201ca\u201d before a vowel sound.", "a update", "This is a update for you."),
    ]
    fixed = [
        _link(pages[0][0], pages[0][1], f"{base}/old-pricing", 404, None, "Old prices"),
        _word(pages[5][0], pages[5][1], "teh", ["the"], "Join teh team."),
    ]
    still = [
        _link(pages[6][0], pages[6][1], "http://twitter.example/flawless", None, "timeout",
              "Follow us"),
        _word(pages[4][0], pages[4][1], "Flawles", ["Flawless"], "Flawles was founded in 2024."),
        _word(pages[5][0], pages[5][1], "colour", ["color"], "Pick a colour."),
    ]
    dismissed = [_word(pages[1][0], pages[1][1], "zyntrix", ["zyn trix"],
                       "The zyntrix plan suits small teams.")]
    rows = {"new": new, "fixed": fixed, "open": still, "dismissed": dismissed}
    number = 0
    for state, items in rows.items():
        for row in items:
            number += 1
            row.update(id=number, state="open" if state == "dismissed" else state)
    return rows
