"""E-mail addresses and header values: validated once, and never able to smuggle in a header.

Owner addresses come from an operator (``scrapy sites add``); subjects carry site names that
came from the web. Both end up in message headers, where a newline would start a new header
(``Bcc: ...``) and a comma would add a recipient, so every value passes through here first.
"""

from __future__ import annotations

import re
from email.headerregistry import Address
from email.utils import getaddresses

import email_validator

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\u0085]+")


def validate_email(addr: str) -> str:
    """Check one owner address and return its normalised, ASCII form.

    Syntax only (no DNS lookup, ``check_deliverability=False``), so adding a site works offline.
    Raises :class:`ValueError` with a message fit for the command line.
    """
    if not isinstance(addr, str) or not addr.strip():
        raise ValueError("an e-mail address is required")
    value = addr.strip()
    if _CONTROL.search(value):
        raise ValueError(f"{value!r} is not a valid e-mail address: it contains control characters")
    if "," in value or ";" in value or len(getaddresses([value])) > 1:
        raise ValueError(f"{value!r}: give exactly one e-mail address")
    try:
        result = email_validator.validate_email(
            value, check_deliverability=False, allow_smtputf8=False, allow_display_name=False
        )
    except email_validator.EmailNotValidError as exc:
        raise ValueError(f"{value!r} is not a valid e-mail address: {exc}") from None
    return result.ascii_email or result.normalized


def header_text(value: object, limit: int = 200) -> str:
    """A one-line header value: control characters (CR, LF, ...) collapsed, length capped."""
    text = _CONTROL.sub(" ", str(value))
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "\u2026"
    return text


def mail_from(value: str) -> Address:
    """Parse ``FLAWLESS_MAIL_FROM`` (``"Name <addr>"`` or ``addr``) into exactly one address.

    Only the syntax is checked loosely (``flawless@localhost`` is a fine sender for the outbox
    folder); a value with a second address or a newline is refused.
    """
    if not value or _CONTROL.search(value):
        raise ValueError(f"FLAWLESS_MAIL_FROM {value!r} must be one address on one line")
    pairs = getaddresses([value])
    if len(pairs) != 1 or not pairs[0][1] or pairs[0][1].count("@") != 1:
        raise ValueError(f"FLAWLESS_MAIL_FROM {value!r} must be exactly one address")
    name, addr = pairs[0]
    local, _, domain = addr.rpartition("@")
    if not local or not domain or any(c in addr for c in ' <>"(),;:\\[]'):
        raise ValueError(f"FLAWLESS_MAIL_FROM {value!r} is not a valid address")
    return Address(display_name=header_text(name, 80), username=local, domain=domain)


def recipient(value: str) -> Address:
    """The ``To`` address of a digest: the stored owner address, re-validated."""
    addr = validate_email(value)
    local, _, domain = addr.rpartition("@")
    return Address(username=local, domain=domain)
