"""Migrations and the site registry against the real PostgreSQL server."""

from __future__ import annotations

import threading

import psycopg2
import pytest

from flawless_spider.db import Database
from flawless_spider.db.migrations import SchemaTooNewError, available, migrate


def versions(url: str) -> list[int]:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT version FROM schema_migrations ORDER BY version")
            return [row[0] for row in cur.fetchall()]
    finally:
        conn.close()


def test_migrations_apply_once_even_when_two_processes_race(db_url):
    # The template already applied them; a second run (and two at once) applies nothing.
    results: list[list[int]] = []

    def run() -> None:
        conn = psycopg2.connect(db_url)
        try:
            results.append(migrate(conn))
        finally:
            conn.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [[], []]
    assert versions(db_url) == [v for v, _, _ in available()]


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
