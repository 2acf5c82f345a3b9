"""The digest as an e-mail: ``multipart/alternative`` (text, then HTML) with proper headers.

The message is built once, when the digest is queued, and stored as bytes in the outbox, so
every retry sends exactly the same message (same ``Message-ID``: receivers can drop a
duplicate). Every header value passes :mod:`pipelines.digest.addresses` first, so no value can
carry a newline or a second address.
"""

from __future__ import annotations

import datetime
import email.policy
import uuid
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from urllib.parse import quote, urlsplit

from pipelines.digest.addresses import header_text

POLICY = email.policy.SMTP.clone(max_line_length=78)
# Bodies are encoded with POLICY when set (QP lines <= 76); headers are folded when the message
# is written out, and a List-Unsubscribe URL split over two lines confuses some receivers.
WIRE_POLICY = POLICY.clone(max_line_length=998)


def unsubscribe_target(configured: str, sender: Address, domain: str, site_id: int,
                       app: str = "") -> str:
    """The ``List-Unsubscribe`` URI: ``FLAWLESS_UNSUBSCRIBE_URL``, else ``app`` (the web app's
    one-click URL, with ``FLAWLESS_PUBLIC_URL``), else a ``mailto:`` the sender.

    The configured URL may use ``{site_id}`` and ``{domain}`` placeholders. Only ``https``,
    ``http`` and ``mailto`` URLs are used; anything else falls back to the ``mailto:``.
    """
    if configured:
        try:
            url = configured.format(site_id=site_id, domain=quote(domain, safe=""))
        except (KeyError, IndexError, ValueError):
            url = configured
        scheme = urlsplit(url).scheme.lower()
        if scheme in ("https", "http", "mailto") and header_text(url, 2000) == url and " " not in url:
            return url
    if app:
        return app
    subject = quote(f"unsubscribe {domain}")
    return f"mailto:{sender.addr_spec}?subject={subject}"


def build_message(
    *,
    sender: Address,
    to: Address,
    subject: str,
    text: str,
    html: str,
    unsubscribe: str,
    site_id: int,
    crawl_id: int,
    date: datetime.datetime | None = None,
    one_click: bool = False,
    attachments: list[tuple[str, bytes, str]] = (),
) -> EmailMessage:
    """Assemble the message; ``unsubscribe`` comes from :func:`unsubscribe_target`.

    ``one_click``: ``unsubscribe`` is the web app's, which takes RFC 8058 POSTs whatever its
    scheme (mail providers offer the button for ``https`` only). ``attachments``: (file name,
    bytes, MIME type), e.g. the full list as CSV.
    """
    msg = EmailMessage(policy=POLICY)
    msg["Subject"] = header_text(subject, 180)
    msg["From"] = sender
    msg["To"] = to
    msg["Date"] = format_datetime(date or datetime.datetime.now(datetime.UTC))
    domain = header_text(sender.domain, 200).replace(" ", "") or "localhost"
    msg["Message-ID"] = f"<flawless.{site_id}.{crawl_id}.{uuid.uuid4().hex}@{domain}>"
    msg["List-Unsubscribe"] = f"<{unsubscribe}>"
    if unsubscribe.lower().startswith("https:") or one_click:
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Flawless-Site"] = str(site_id)
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    for name, data, mime in attachments:
        maintype, _, subtype = mime.partition("/")
        if maintype == "text":  # with its charset, so that mail clients read UTF-8 as UTF-8
            msg.add_attachment(data.decode("utf-8"), subtype=subtype, charset="utf-8",
                               filename=header_text(name, 100))
        else:
            msg.add_attachment(data, maintype=maintype, subtype=subtype,
                               filename=header_text(name, 100))
    return msg


def to_bytes(msg: EmailMessage) -> bytes:
    """The message as sent: CRLF line ends, headers unfolded up to 998 characters."""
    return msg.as_bytes(policy=WIRE_POLICY)
