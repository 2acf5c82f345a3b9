"""Turn a checked target into a verdict: broken (error), questionable (warning) or fine.

The rules lean towards silence: a server that only refuses robots, or asks us to slow down,
is reported as *unverified* (a warning), never as broken.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote

# Failures that mean a visitor cannot reach the target either.
BROKEN_ERRORS = frozenset({
    "dns", "refused", "timeout", "tls", "redirect_loop", "too_many_redirects", "network",
    "connection_lost", "invalid_url", "missing_fragment",
})
# Statuses and failures worth another attempt after a pause.
TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524})
TRANSIENT_ERRORS = frozenset({"timeout", "network", "connection_lost"})
PERMANENT_REDIRECTS = frozenset({301, 308})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

# Signs that a 403 (or 503) comes from a bot-protection layer rather than the site itself.
BOT_WALL_HEADERS = ("cf-mitigated", "cf-chl-bypass", "x-amzn-waf-action", "x-datadome",
                    "x-sucuri-id", "x-iinfo", "x-px-block")
BOT_WALL_SERVERS = ("cloudflare", "akamaighost", "ddos-guard", "sucuri", "datadome",
                    "imperva", "incapsula", "awselb")
BOT_WALL_BODY = re.compile(
    rb"just a moment|checking your browser|cf-browser-verification|challenge-platform|"
    rb"attention required|captcha|are you a (?:human|robot)|ddos protection|_incapsula_|"
    rb"incapsula incident|px-captcha|datadome|bot detection|enable javascript and cookies",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Verdict:
    """What the owner is told: ``severity`` (``error``/``warning``) and the error class."""

    severity: str
    error: str | None
    reason: str = ""


def is_bot_wall(status: int, headers: Mapping[str, str], body: bytes = b"") -> bool:
    """True when a refusal looks like bot protection (Cloudflare, Akamai, DataDome, ...)."""
    if status == 999:  # LinkedIn and others answer robots with this
        return True
    if status not in (401, 403, 405, 406, 503):
        return False
    lower = {k.lower(): v.lower() for k, v in headers.items()}
    if any(name in lower for name in BOT_WALL_HEADERS):
        return True
    server = lower.get("server", "")
    if any(name in server for name in BOT_WALL_SERVERS) and ("cf-ray" in lower or body == b""
                                                            or BOT_WALL_BODY.search(body[:65536])):
        return True
    return bool(body) and bool(BOT_WALL_BODY.search(body[:65536]))


def judge(status: int | None, error: str | None, reason: str = "",
          first_hop: int | None = None) -> Verdict | None:
    """The verdict for a final outcome; ``first_hop`` is the status of the first redirect, if any."""
    if error:
        if error in BROKEN_ERRORS:
            return Verdict("error", error)
        if error == "blocked":
            return Verdict("warning", "blocked")
        return None  # robots, too_large, ignored: the target answered or we may not ask
    if status is None:
        return None
    if reason == "bot_wall" or status == 999:
        return Verdict("warning", "unverified", "bot_wall")
    if status == 429:
        return Verdict("warning", "unverified", "rate_limited")
    if status >= 400:
        return Verdict("error", None)
    if first_hop in PERMANENT_REDIRECTS:
        return Verdict("warning", "permanent_redirect")
    return None


def is_client_route(fragment: str) -> bool:
    """Fragments a script interprets (``#/path``, ``#!/path``, text fragments), not element ids."""
    return fragment.startswith(("/", "!", ":~:")) or fragment in ("", "top")


def has_anchor(fragment: str, anchors: frozenset[str] | set[str]) -> bool:
    """True when the page has an element for ``#fragment`` (as written or percent-decoded)."""
    return fragment in anchors or unquote(fragment) in anchors


MAILTO_ADDRESS = re.compile(r"^[^@\s<>(),;:\"\[\]]+@(?:[A-Za-z0-9\-\u0080-\uffff]+\.)+"
                            r"[A-Za-z0-9\-\u0080-\uffff]{2,}$|^[^@\s]+@\[[0-9a-fA-F.:]+\]$")


def mailto_problem(url: str) -> str | None:
    """Why a ``mailto:`` link is malformed, or None (an empty address with headers is allowed)."""
    body = url.split(":", 1)[1] if ":" in url else ""
    to, _, query = body.partition("?")
    addresses = [unquote(a).strip() for a in to.split(",") if a.strip()]
    if not addresses and not query:
        return "no address"
    for address in addresses:
        if not MAILTO_ADDRESS.match(address):
            return f"not an e-mail address: {address}"
    return None
