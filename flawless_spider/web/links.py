"""Links to the owners' web app (``FLAWLESS_PUBLIC_URL``), and text fragments to owners' pages.

Used by the digest, the outage notices and the app itself; imports nothing of the web
framework, so crawls and ``scrapy digest`` can make links without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from flawless_spider.web.tokens import Signer, signer_from_settings


def public_url(settings: Any) -> str:
    """``FLAWLESS_PUBLIC_URL`` without a trailing slash, or ``""``."""
    value = (settings.get("FLAWLESS_PUBLIC_URL") if settings is not None else "") or ""
    return str(value).strip().rstrip("/")


@dataclass
class OwnerLinks:
    """The signed links of one site: report, one finding, unsubscribe."""

    base: str
    signer: Signer
    site_id: int
    owner: str

    @classmethod
    def from_settings(cls, settings: Any, site_id: int, owner: str) -> OwnerLinks | None:
        """``None`` without ``FLAWLESS_PUBLIC_URL`` (or without an owner): no app to link to."""
        base = public_url(settings)
        if not base or not owner:
            return None
        return cls(base, signer_from_settings(settings), site_id, owner)

    def _url(self, path: str, purpose: str, **params: Any) -> str:
        query = {"t": self.signer.make(self.site_id, purpose, self.owner)}
        query.update({k: v for k, v in params.items() if v not in (None, "")})
        return f"{self.base}/sites/{self.site_id}/{path}?{urlencode(query)}"

    def report(self, **params: Any) -> str:
        """The report page (``type``, ``state``, ``q``, ``finding`` filter it)."""
        return self._url("report", "report", **params)

    def finding(self, finding_id: int | None) -> str:
        """The report narrowed to the problem of one finding, with its "Not a mistake" button."""
        return self.report(finding=finding_id) if finding_id else self.report()

    def unsubscribe(self) -> str:
        """GET: the confirmation page (unsubscribe, pause); POST: RFC 8058 one-click unsubscribe."""
        return self._url("unsubscribe", "unsubscribe")


def _fragment_part(text: str) -> str:
    # Text directives reserve "-", "," and "&": percent-encode them with everything else.
    return quote(text, safe="").replace("-", "%2D")


def text_fragment(page_url: str, text: Any) -> str:
    """``page_url#:~:text=...``: browsers that support text fragments scroll to ``text`` and
    highlight it on the owner's own page; others just open the page.

    Long text is given by its first and last words (``text=start,end``). Only for
    ``http(s)`` pages; anything else is returned unchanged.
    """
    if not isinstance(text, str) or not isinstance(page_url, str):
        return page_url
    words = text.split()
    if not words or urlsplit(page_url).scheme.lower() not in ("http", "https"):
        return page_url
    if len(words) > 8:
        directive = f"{_fragment_part(' '.join(words[:4]))},{_fragment_part(' '.join(words[-4:]))}"
    else:
        directive = _fragment_part(" ".join(words))
    return f"{page_url.partition('#')[0]}#:~:text={directive}"


def highlight_of(type: str, data: Any) -> str:
    """What to highlight on the page for a finding: the link text, the word, the flagged text."""
    if not isinstance(data, dict):
        return ""
    value = {"link": data.get("text"), "spelling": data.get("word"),
             "grammar": data.get("text")}.get(type)
    return value.strip() if isinstance(value, str) and len(value) <= 500 else ""
