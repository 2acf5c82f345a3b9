"""Compose a site's digest (build → render → message) and queue it in the outbox.

:func:`queue_digest` runs inside the transaction that closes a crawl, so the digest is queued
exactly when the crawl's results are committed: both happen or neither does.
"""

from __future__ import annotations

import datetime
import logging
import re
from dataclasses import dataclass
from typing import Any

import psycopg2

from flawless_spider.web.links import OwnerLinks
from pipelines.digest import outbox
from pipelines.digest.addresses import header_text, mail_from, recipient
from pipelines.digest.build import Digest, build_digest
from pipelines.digest.message import build_message, to_bytes, unsubscribe_target
from pipelines.digest.render import plural, render

logger = logging.getLogger(__name__)

FINISHED = ("complete", "incomplete")
WEEK = datetime.timedelta(days=7)


@dataclass
class Composed:
    """A rendered digest, ready to queue."""

    digest: Digest
    to_addr: str
    subject: str
    text: str
    html: str
    message: bytes


def full_list(cur: Any, digest: Digest) -> tuple[str, bytes] | None:
    """The full list of the crawl as CSV (file name, bytes): what the digest attaches when
    there is no web app to link to. ``None`` when there is nothing to list."""
    from flawless_spider.report import crawl_rows, records_of, to_csv

    records = records_of(crawl_rows(cur, digest.site_id, digest.crawl_id)[0])
    if not records:
        return None
    name = re.sub(r"[^a-z0-9.-]+", "_", digest.domain.lower())[:100]
    return f"flawless-{name}.csv", to_csv(records).encode("utf-8")


def subject_of(digest: Digest) -> str:
    """``Flawless: 3 new problems, 2 fixed on example.com``."""
    if not digest.changed:
        still = plural(digest.open_total, "open problem") if digest.open_total else "no problems"
        return f"Flawless weekly summary for {digest.domain}: {still}"
    parts = []
    if digest.new.count:
        parts.append(plural(digest.new.count, "new problem"))
    if digest.fixed.count:
        parts.append(f"{digest.fixed.count:,} fixed")
    return f"Flawless: {', '.join(parts)} on {digest.domain}"


def is_due(digest: Digest, settings: Any) -> bool:
    """Whether this digest should be sent: something changed, or a weekly summary is due."""
    if digest.crawl_status not in FINISHED or not digest.owner_email or digest.silenced:
        return False
    if digest.changed:
        return True
    if not settings.getbool("FLAWLESS_WEEKLY_SUMMARY"):
        return False
    now = digest.crawl_finished_at or datetime.datetime.now(datetime.UTC)
    return digest.since is None or now - digest.since >= WEEK


def compose(cur: Any, site_id: int, crawl_id: int, settings: Any) -> Composed | None:
    """Build and render the digest of ``site_id`` after crawl ``crawl_id``, if one is due.

    Only reads the database. Raises :class:`ValueError` for configuration problems (a bad
    ``FLAWLESS_MAIL_FROM``, an owner address that does not validate).
    """
    digest = build_digest(cur, site_id, crawl_id)
    if digest is None or not is_due(digest, settings):
        return None
    digest.weekly = not digest.changed
    sender = mail_from(settings.get("FLAWLESS_MAIL_FROM") or "Flawless <flawless@localhost>")
    to = recipient(digest.owner_email)
    links = OwnerLinks.from_settings(settings, site_id, digest.owner_email)
    app_unsubscribe = links.unsubscribe() if links else ""
    unsubscribe = unsubscribe_target(
        settings.get("FLAWLESS_UNSUBSCRIBE_URL") or "", sender, digest.domain, site_id,
        app=app_unsubscribe,
    )
    # Without the web app, the full list travels with the e-mail.
    attachment = None if links else full_list(cur, digest)
    subject = header_text(subject_of(digest), 180)
    text, html = render(digest, settings, subject=subject, unsubscribe=unsubscribe, links=links,
                        attachment=attachment[0] if attachment else "")
    message = build_message(
        sender=sender,
        to=to,
        subject=subject,
        text=text,
        html=html,
        unsubscribe=unsubscribe,
        site_id=site_id,
        crawl_id=crawl_id,
        one_click=bool(app_unsubscribe) and unsubscribe == app_unsubscribe,
        attachments=[(*attachment, "text/csv")] if attachment else [],
    )
    return Composed(digest, to.addr_spec, subject, text, html, to_bytes(message))


def queue_digest(cur: Any, site_id: int, crawl_id: int, settings: Any) -> int | None:
    """Render the digest for crawl ``crawl_id`` of ``site_id`` and put it in the outbox.

    Called in the transaction that closes the crawl (``cur`` is its ``RealDictCursor``).
    Returns the outbox id, or ``None`` when there is nothing to send: the crawl failed, the
    site has no owner, nothing changed (and no weekly summary is due), or this crawl's digest
    is already queued. Database errors propagate; any other problem (bad data, a bad setting)
    is logged and yields ``None`` so the crawl still closes, and ``scrapy digest`` retries it.
    """
    if not lock_site(cur, site_id):
        return None
    try:
        composed = compose(cur, site_id, crawl_id, settings)
    except psycopg2.Error:
        raise
    except Exception:
        logger.exception("cannot compose the digest of site %s, crawl %s", site_id, crawl_id)
        return None
    return None if composed is None else enqueue(cur, composed)


def lock_site(cur: Any, site_id: int) -> bool:
    """Lock the site's row so two processes never compose its digest at once."""
    cur.execute("SELECT id FROM sites WHERE id = %s FOR UPDATE", (site_id,))
    return cur.fetchone() is not None


def enqueue(cur: Any, composed: Composed) -> int | None:
    """Queue a composed digest and move the site's ``last_digest_at`` past what it shows."""
    digest = composed.digest
    outbox_id = outbox.enqueue(
        cur,
        site_id=digest.site_id,
        crawl_id=digest.crawl_id,
        to_addr=composed.to_addr,
        subject=composed.subject,
        message=composed.message,
        html=composed.html,
    )
    if outbox_id is None:
        return None
    # Everything up to now is covered: the next digest starts after the latest change shown.
    cur.execute(
        """
        UPDATE sites SET last_digest_at = GREATEST(
            clock_timestamp(),
            (SELECT max(GREATEST(first_seen, fixed_at)) FROM findings WHERE site_id = %(id)s))
        WHERE id = %(id)s
        """,
        {"id": digest.site_id},
    )
    logger.info(
        "queued digest %s for %s to %s: %s",
        outbox_id, digest.domain, composed.to_addr, composed.subject,
    )
    return outbox_id


DUE_SQL = """
SELECT s.id AS site_id, s.domain, c.id AS crawl_id
FROM sites s
JOIN LATERAL (
    SELECT id, status, finished_at FROM crawls
    WHERE site_id = s.id AND finished_at IS NOT NULL AND kind = 'full'
    ORDER BY finished_at DESC, id DESC LIMIT 1
) c ON true
WHERE c.status IN ('complete', 'incomplete')
  AND coalesce(s.owner_email, '') <> ''
  AND (s.last_digest_at IS NULL OR c.finished_at > s.last_digest_at)
  AND NOT EXISTS (
      SELECT 1 FROM outbox o
      WHERE o.site_id = s.id AND o.kind = 'digest'
        AND (o.status IN ('queued', 'sending') OR o.crawl_id = c.id))
  AND (%(site_id)s::integer IS NULL OR s.id = %(site_id)s)
ORDER BY s.id
"""


def due(cur: Any, site_id: int | None = None) -> list[dict[str, Any]]:
    """Sites whose latest full crawl finished after their last digest, with none queued.

    Normally the crawl's close queues the digest; this catches the rest (an owner added
    later, a digest that failed to render, a crawl closed by an older version).
    """
    cur.execute(DUE_SQL, {"site_id": site_id})
    return [dict(r) for r in cur.fetchall()]
