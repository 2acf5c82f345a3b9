"""The outbox table: digests waiting to be delivered, claimed by one sender at a time.

A row is ``queued`` → ``sending`` (claimed) → ``sent``, or back to ``queued`` with a later
``next_attempt_at`` after a temporary failure, or ``failed`` for good with ``last_error``.
Claims use ``FOR UPDATE SKIP LOCKED`` so concurrent senders never take the same row, and expire
after a timeout so the rows of a sender that crashed mid-way are picked up again. Each state
change checks ``claimed_by``, so a sender whose claim expired cannot overwrite the new owner's.
"""

from __future__ import annotations

import os
import socket
import uuid
from typing import Any

CLAIM_SQL = """
UPDATE outbox o
SET status = 'sending', claimed_by = %(worker)s, claimed_at = clock_timestamp(),
    attempts = o.attempts + 1
FROM sites s
WHERE s.id = o.site_id AND o.id = (
    SELECT id FROM outbox
    WHERE ((status = 'queued' AND next_attempt_at <= clock_timestamp())
           OR (status = 'sending'
               AND claimed_at < clock_timestamp() - make_interval(secs => %(timeout)s)))
      AND (%(site_id)s::integer IS NULL OR site_id = %(site_id)s)
      AND NOT (id = ANY(%(skip)s::bigint[]))
    ORDER BY next_attempt_at, id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
RETURNING o.id, o.site_id, o.crawl_id, o.attempts, o.to_addr, o.subject, o.message, o.html,
          o.created_at, s.domain
"""


def worker_id() -> str:
    """A name for this sender, unique per process and call: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def enqueue(
    cur: Any,
    *,
    site_id: int,
    crawl_id: int,
    to_addr: str,
    subject: str,
    message: bytes,
    html: str,
    kind: str = "digest",
) -> int | None:
    """Queue one message; ``None`` if this crawl's message of that kind is already queued (or sent).

    ``kind``: ``digest``, or an ``outage``/``recovered`` notice.
    """
    cur.execute(
        """
        INSERT INTO outbox (site_id, crawl_id, to_addr, subject, message, html, kind)
        VALUES (%s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (site_id, crawl_id, kind) DO NOTHING
        RETURNING id
        """,
        (site_id, crawl_id, to_addr, subject, message, html, kind),
    )
    row = cur.fetchone()
    return None if row is None else row["id"]


def claim(
    cur: Any, worker: str, timeout: float, site_id: int | None = None, skip: Any = ()
) -> dict | None:
    """Take the next due row for ``worker`` (commit right after, before sending).

    ``skip``: ids this run already tried, so a row retried "now" is not hammered in a loop.
    """
    params = {"worker": worker, "timeout": float(timeout), "site_id": site_id, "skip": list(skip)}
    cur.execute(CLAIM_SQL, params)
    row = cur.fetchone()
    if row is not None:
        row = dict(row)
        row["message"] = bytes(row["message"])
    return row


def mark_sent(cur: Any, outbox_id: int, worker: str) -> bool:
    cur.execute(
        """
        UPDATE outbox SET status = 'sent', sent_at = clock_timestamp(), last_error = NULL
        WHERE id = %s AND claimed_by = %s AND status = 'sending'
        """,
        (outbox_id, worker),
    )
    return cur.rowcount == 1


def mark_retry(cur: Any, outbox_id: int, worker: str, error: str, delay: float) -> bool:
    """Back to the queue, due again in ``delay`` seconds."""
    cur.execute(
        """
        UPDATE outbox SET status = 'queued', last_error = %s, claimed_by = NULL,
            claimed_at = NULL,
            next_attempt_at = clock_timestamp() + make_interval(secs => %s)
        WHERE id = %s AND claimed_by = %s AND status = 'sending'
        """,
        (error[:2000], float(delay), outbox_id, worker),
    )
    return cur.rowcount == 1


def mark_failed(cur: Any, outbox_id: int, worker: str, error: str) -> bool:
    """Give up: a permanent failure (or too many temporary ones), reason recorded."""
    cur.execute(
        """
        UPDATE outbox SET status = 'failed', last_error = %s
        WHERE id = %s AND claimed_by = %s AND status = 'sending'
        """,
        (error[:2000], outbox_id, worker),
    )
    return cur.rowcount == 1


def release(cur: Any, outbox_id: int, worker: str) -> bool:
    """Return a claimed row untouched (not attempted): the attempt is not counted."""
    cur.execute(
        """
        UPDATE outbox SET status = 'queued', claimed_by = NULL, claimed_at = NULL,
            attempts = greatest(attempts - 1, 0)
        WHERE id = %s AND claimed_by = %s AND status = 'sending'
        """,
        (outbox_id, worker),
    )
    return cur.rowcount == 1


def retry_now(cur: Any, site_id: int | None = None) -> int:
    """Make digests waiting for a retry (after a temporary failure) due at once; how many."""
    cur.execute(
        """
        UPDATE outbox SET next_attempt_at = clock_timestamp()
        WHERE status = 'queued' AND next_attempt_at > clock_timestamp()
          AND (%(site_id)s::integer IS NULL OR site_id = %(site_id)s)
        """,
        {"site_id": site_id},
    )
    return cur.rowcount


def pending(cur: Any, site_id: int | None = None) -> list[dict]:
    """Rows not yet delivered (queued or being sent), oldest first."""
    cur.execute(
        """
        SELECT o.id, o.site_id, s.domain, o.status, o.attempts, o.next_attempt_at, o.to_addr,
               o.subject, o.last_error
        FROM outbox o JOIN sites s ON s.id = o.site_id
        WHERE o.status IN ('queued', 'sending')
          AND (%(site_id)s::integer IS NULL OR o.site_id = %(site_id)s)
        ORDER BY o.id
        """,
        {"site_id": site_id},
    )
    return [dict(r) for r in cur.fetchall()]
