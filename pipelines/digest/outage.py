"""Outage notices: "we could not check your site" after repeated failures, "back to normal" after.

Like Search Console, an owner hears once when their site could not be crawled
``FLAWLESS_OUTAGE_CRAWLS`` times in a row (with the reason), and once when a crawl works again;
never once per failed crawl. Only full crawls count (a partial ``-a url=`` crawl never does).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import psycopg2

from flawless_spider.web.links import OwnerLinks
from pipelines.digest import outbox
from pipelines.digest.addresses import header_text, mail_from, recipient
from pipelines.digest.build import silenced, text
from pipelines.digest.message import build_message, to_bytes, unsubscribe_target
from pipelines.digest.render import render_template

logger = logging.getLogger(__name__)


@dataclass
class Notice:
    """What an outage or recovery notice shows."""

    kind: str
    """``outage`` or ``recovered``."""
    domain: str
    site_url: str
    owner_email: str
    failures: int
    reason: str
    since: Any
    """When the first failed crawl of the outage started."""


def record(cur: Any, site_id: int, crawl_id: int, status: str, settings: Any) -> int | None:
    """Count a full crawl's outcome towards an outage; queue a notice when one is due."""
    if status == "failed":
        cur.execute(
            "UPDATE sites SET failed_crawls = failed_crawls + 1 WHERE id = %s"
            " RETURNING failed_crawls, outage_notified, owner_email, unsubscribed_at, paused_until",
            (site_id,))
        site = cur.fetchone()
        threshold = max(1, settings.getint("FLAWLESS_OUTAGE_CRAWLS", 2))
        if site is None or site["outage_notified"] or site["failed_crawls"] < threshold:
            return None
        if not site["owner_email"] or silenced(site["unsubscribed_at"], site["paused_until"]):
            return None
        queued = queue_notice(cur, "outage", site_id, crawl_id, site["failed_crawls"], settings)
        if queued is not None:
            cur.execute("UPDATE sites SET outage_notified = true WHERE id = %s", (site_id,))
        return queued
    cur.execute(
        "UPDATE sites s SET failed_crawls = 0, outage_notified = false FROM sites old"
        " WHERE s.id = %s AND old.id = s.id RETURNING old.outage_notified, old.failed_crawls,"
        " s.unsubscribed_at, s.paused_until",
        (site_id,))
    site = cur.fetchone()
    if site is None or not site["outage_notified"]:
        return None
    if silenced(site["unsubscribed_at"], site["paused_until"]):
        return None
    return queue_notice(cur, "recovered", site_id, crawl_id, site["failed_crawls"], settings)


def queue_notice(cur: Any, kind: str, site_id: int, crawl_id: int, failures: int,
                 settings: Any) -> int | None:
    """Render the ``kind`` notice for the site and put it in the outbox (``None`` if it cannot)."""
    cur.execute("SELECT domain, url, owner_email FROM sites WHERE id = %s", (site_id,))
    site = cur.fetchone()
    cur.execute(
        "SELECT reason, started_at FROM crawls WHERE site_id = %s AND kind = 'full'"
        " AND status = 'failed' AND id <= %s ORDER BY id DESC LIMIT %s",
        (site_id, crawl_id, max(1, failures)))
    failed = cur.fetchall()
    notice = Notice(
        kind=kind, domain=site["domain"], site_url=site["url"], owner_email=site["owner_email"],
        failures=failures, reason=text(failed[0]["reason"], 300) if failed else "",
        since=failed[-1]["started_at"] if failed else None,
    )
    try:
        sender = mail_from(settings.get("FLAWLESS_MAIL_FROM") or "Flawless <flawless@localhost>")
        to = recipient(notice.owner_email)
        links = OwnerLinks.from_settings(settings, site_id, notice.owner_email)
        app_unsubscribe = links.unsubscribe() if links else ""
        unsubscribe = unsubscribe_target(settings.get("FLAWLESS_UNSUBSCRIBE_URL") or "", sender,
                                         notice.domain, site_id, app=app_unsubscribe)
        subject = header_text(subject_of(notice), 180)
        plain, html = render_template("notice", settings, notice=notice, subject=subject,
                                      unsubscribe=unsubscribe, links=links)
        message = build_message(sender=sender, to=to, subject=subject, text=plain, html=html,
                                unsubscribe=unsubscribe, site_id=site_id, crawl_id=crawl_id,
                                one_click=bool(app_unsubscribe) and unsubscribe == app_unsubscribe)
    except psycopg2.Error:
        raise
    except Exception:
        logger.exception("cannot compose the %s notice of site %s", kind, site_id)
        return None
    queued = outbox.enqueue(cur, site_id=site_id, crawl_id=crawl_id, to_addr=to.addr_spec,
                            subject=subject, message=to_bytes(message), html=html, kind=kind)
    if queued is not None:
        logger.info("queued %s notice %s for %s to %s", kind, queued, notice.domain, to.addr_spec)
    return queued


def subject_of(notice: Notice) -> str:
    if notice.kind == "outage":
        return f"Flawless could not check {notice.domain}"
    return f"Flawless can check {notice.domain} again"
