"""Migrations and the site registry against the real PostgreSQL server."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import psycopg2
import pytest

from flawless_spider.db import Database
from flawless_spider.db.migrations import _LOCK_ID, SchemaTooNewError, available, migrate


def versions(url: str) -> list[int]:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT version FROM schema_migrations ORDER BY version")
            return [row[0] for row in cur.fetchall()]
    finally:
        conn.close()


@pytest.fixture
def fresh_db_url(pg_template) -> Iterator[str]:
    """An empty database on the real server: not created from the migrated template."""
    base, _ = pg_template
    name = f"flawless_fresh_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(base)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield psycopg2.extensions.make_dsn(base, dbname=name)
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def test_migrations_apply_once_when_several_processes_race_on_a_fresh_database(fresh_db_url):
    """Four first uses at once: each waits for the advisory lock, and exactly one migrates."""
    racers = 4
    holder = psycopg2.connect(fresh_db_url)
    holder.autocommit = True
    with holder.cursor() as cur:  # the race starts when this lock is let go
        cur.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
    results: list[list[int]] = []
    errors: list[BaseException] = []

    def run() -> None:
        conn = psycopg2.connect(fresh_db_url)
        try:
            results.append(migrate(conn))
        except BaseException as exc:  # a failed racer is the bug under test
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=run) for _ in range(racers)]
    for thread in threads:
        thread.start()
    try:
        # Every racer is queued on the migration lock (classid/objid: its high and low 32 bits)
        # before touching the schema: without the lock they would already be creating tables.
        waiting = 0
        for _ in range(600):
            with holder.cursor() as cur:
                cur.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                            " AND NOT granted AND classid::bigint = %s AND objid::bigint = %s"
                            " AND database = (SELECT oid FROM pg_database"
                            "                 WHERE datname = current_database())",
                            (_LOCK_ID >> 32, _LOCK_ID & 0xFFFFFFFF))
                waiting = cur.fetchone()[0]
            if waiting == racers or errors or len(results) == racers:
                break
            time.sleep(0.05)
        assert (waiting, errors, results) == (racers, [], [])
        with holder.cursor() as cur:
            cur.execute("SELECT to_regclass('schema_migrations') IS NULL")
            assert cur.fetchone() == (True,)
    finally:
        with holder.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))
        holder.close()
        for thread in threads:
            thread.join(60)
    every = [v for v, _, _ in available()]
    assert errors == []
    assert sorted(results) == [[]] * (racers - 1) + [every]
    assert versions(fresh_db_url) == every


def test_a_fresh_database_is_migrated_on_first_use(pg_template):
    base, _ = pg_template
    name = "flawless_fresh_migrate"
    admin = psycopg2.connect(base)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        url = psycopg2.extensions.make_dsn(base, dbname=name)
        db = Database(url)
        assert db.query("SELECT count(*) AS n FROM sites") == [{"n": 0}]
        db.close()
        assert versions(url) == [v for v, _, _ in available()]
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def test_a_newer_schema_is_a_clear_error(db_url):
    conn = psycopg2.connect(db_url)
    with conn.cursor() as cur:
        cur.execute("INSERT INTO schema_migrations (version, name) VALUES (9999, 'from_the_future')")
    conn.commit()
    with pytest.raises(SchemaTooNewError, match="upgrade Flawless"):
        migrate(conn)
    conn.close()


def test_newer_schema_is_reported_by_commands_without_traceback(db_url, scrapy):
    conn = psycopg2.connect(db_url)
    with conn.cursor() as cur:
        cur.execute("INSERT INTO schema_migrations (version, name) VALUES (9999, 'from_the_future')")
    conn.commit()
    conn.close()
    result = scrapy("sites", "list", check=False)
    assert result.returncode == 1
    assert "schema is at version 9999" in result.stderr
    assert "Traceback" not in result.stderr
