"""Shared fixtures: a real PostgreSQL, real HTTP servers on loopback, and the ``scrapy`` command."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import psycopg2.extensions
import pytest

from flawless_spider.db import Database, database_url, state_dir

PROJECT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
SITES = TESTS / "sites"
PYTHON = sys.executable


def _admin(url: str, sql: str) -> None:
    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


@pytest.fixture(scope="session")
def pg_template() -> Iterator[tuple[str, str]]:
    """A migrated template database on the real server (``DATABASE_URL`` or the embedded one)."""
    os.environ.setdefault("FLAWLESS_STATE_DIR", str(PROJECT / "state" / "test"))
    # The parallel workers (pytest-xdist) share one embedded server: the first starts it (or
    # finds it running) while the others wait here, since starting it is not safe to race.
    with (state_dir() / "embedded-postgres.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        base = database_url(None)
    name = f"flawless_tmpl_{uuid.uuid4().hex[:8]}"
    _admin(base, f'CREATE DATABASE "{name}"')
    template_url = psycopg2.extensions.make_dsn(base, dbname=name)
    db = Database(template_url)
    db.connection()  # applies the migrations
    db.close()
    yield base, name
    _admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db_url(pg_template: tuple[str, str]) -> Iterator[str]:
    """A fresh, migrated database for one test."""
    base, template = pg_template
    name = f"flawless_t_{uuid.uuid4().hex[:10]}"
    _admin(base, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    yield psycopg2.extensions.make_dsn(base, dbname=name)
    _admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    yield database
    database.close()


@dataclass
class SiteServer:
    """A running ``tests/sitesrv.py``: its base URL and the requests it has seen."""

    url: str
    process: subprocess.Popen

    def log(self) -> list[dict]:
        with urllib.request.urlopen(self.url + "__log", timeout=10) as response:
            return json.load(response)

    def paths(self, method: str | None = None) -> list[str]:
        return [e["path"] for e in self.log() if method is None or e["method"] == method]

    def reset(self) -> None:
        request = urllib.request.Request(self.url + "__reset", method="POST")
        urllib.request.urlopen(request, timeout=10).close()


@pytest.fixture
def serve() -> Iterator[Callable[..., SiteServer]]:
    """Start fixture HTTP servers: ``serve(folder, host="127.0.0.1")`` (or ``"::1"``); stopped
    after the test."""
    started: list[subprocess.Popen] = []

    def start(root: Path | str, host: str = "127.0.0.1") -> SiteServer:
        root = Path(root)
        if not root.is_absolute():
            root = SITES / root
        proc = subprocess.Popen(
            [PYTHON, str(TESTS / "sitesrv.py"), str(root), "--host", host],
            stdout=subprocess.PIPE,
            text=True,
        )
        started.append(proc)
        port = int(proc.stdout.readline())
        netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        return SiteServer(f"http://{netloc}/", proc)

    yield start
    for proc in started:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A real ``redis-server`` for one test (see tests/redisutil.py)."""
    from tests.redisutil import redis_server

    with redis_server(tmp_path) as url:
        yield url


@pytest.fixture
def scrapy_env(db_url: str, tmp_path: Path) -> dict[str, str]:
    """Environment for running Flawless commands against the test database."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=db_url,
        FLAWLESS_STATE_DIR=str(tmp_path / "state"),
        FLAWLESS_ALLOW_PRIVATE_NETWORKS="true",
        PYTHONWARNINGS="error",
    )
    for name in ("SMTP_URL", "REDIS_URL", "LANGUAGETOOL_URL"):
        env.pop(name, None)
    return env


@pytest.fixture
def scrapy(scrapy_env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess]:
    """Run ``scrapy ARGS...`` in the project like an operator would; returns the finished process."""

    def run(*args: str, check: bool = True, timeout: float = 120, **env: str):
        result = subprocess.run(
            [PYTHON, "-m", "scrapy", *args],
            cwd=PROJECT,
            env={**scrapy_env, **env},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"scrapy {' '.join(args)} exited {result.returncode}\n"
                f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr[-6000:]}"
            )
        return result

    return run
