"""Versioned schema migrations: ``NNNN_name.sql`` files applied in order, each once, under a lock."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import psycopg2.extensions

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# Any constant shared by all Flawless processes: serialises migrations across machines.
_LOCK_ID = 0x466C61776C657373 & 0x7FFFFFFFFFFFFFFF


class SchemaTooNewError(Exception):
    """The database was migrated by a newer Flawless than this one."""


def available() -> list[tuple[int, str, Path]]:
    """The migrations this code knows, in order."""
    found = []
    for path in MIGRATIONS_DIR.iterdir():
        match = _NAME.match(path.name)
        if match:
            found.append((int(match.group(1)), match.group(2), path))
    return sorted(found)


def migrate(conn: psycopg2.extensions.connection) -> list[int]:
    """Apply the missing migrations, one transaction each, holding an advisory lock.

    Returns the versions applied. Raises :class:`SchemaTooNewError` when the database knows a
    version this code does not.
    """
    applied_now: list[int] = []
    known = available()
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
    conn.commit()
    try:
        with conn.cursor() as cur:
            cur.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            cur.execute("SELECT version FROM schema_migrations")
            done = {row[0] for row in cur.fetchall()}
        conn.commit()
        newest = max((v for v, _, _ in known), default=0)
        if done and max(done) > newest:
            raise SchemaTooNewError(
                f"the database schema is at version {max(done)}, but this Flawless only knows "
                f"versions up to {newest}: upgrade Flawless before using this database"
            )
        for version, name, path in known:
            if version in done:
                continue
            logger.info("Applying database migration %04d_%s", version, name)
            try:
                with conn.cursor() as cur:
                    cur.execute(path.read_text(encoding="utf-8"))
                    cur.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                        (version, name),
                    )
                conn.commit()
            except Exception:
                conn.rollback()
                raise
            applied_now.append(version)
    finally:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))
        conn.commit()
    return applied_now
