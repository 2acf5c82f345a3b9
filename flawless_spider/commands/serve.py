"""``scrapy serve [--host H] [--port P]``: the owners' web app on gunicorn, for one machine.

The same app as ``gunicorn 'flawless_spider.web:app'``, with this command's settings (``-s``
included) and gunicorn's process management: a master that restarts workers, graceful stop on
SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import argparse
from typing import Any

from scrapy.exceptions import UsageError

from flawless_spider.cli import FlawlessCommand
from flawless_spider.db import DatabaseError


class Command(FlawlessCommand):
    requires_crawler_process = False  # no reactor: gunicorn forks workers

    def syntax(self) -> str:
        return "[--host H] [--port P] [--workers N]"

    def short_desc(self) -> str:
        return "Run the owners' web app (report, not a mistake, unsubscribe) on gunicorn"

    def long_desc(self) -> str:
        return (
            "Serve the owners' web app: the report page behind each digest, \"not a mistake\", "
            "\"check again now\", one-click unsubscribe (RFC 8058) and pause. Digests link to it "
            "when FLAWLESS_PUBLIC_URL is set to the address owners reach it at (usually an "
            "https reverse proxy in front of this port). Links are signed with "
            "FLAWLESS_SECRET_KEY (default: a key kept in the state folder).\n\n"
            "  scrapy serve                          (http://127.0.0.1:8080/)\n"
            "  scrapy serve --host 0.0.0.0 --port 8000 --workers 4\n\n"
            "Several machines, or a process manager of your own:\n"
            "  gunicorn 'flawless_spider.web:app'"
        )

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--host", default="127.0.0.1",
                            help="address to listen on (default: 127.0.0.1)")
        parser.add_argument("--port", type=int, default=8080, help="port (default: 8080)")
        parser.add_argument("--workers", type=int, default=2,
                            help="gunicorn worker processes (default: 2)")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if args:
            raise UsageError(f"unexpected argument {args[0]!r}", print_help=False)
        if not 0 <= opts.port <= 65535:
            raise UsageError(f"--port must be 0-65535, not {opts.port}", print_help=False)
        if not 1 <= opts.workers <= 64:
            raise UsageError(f"--workers must be 1-64, not {opts.workers}", print_help=False)
        host = opts.host.strip("[]")
        bind = f"[{host}]:{opts.port}" if ":" in host else f"{host}:{opts.port}"
        from flawless_spider.web import create_app

        app = create_app(self.settings)
        db = app.extensions["flawless"].db
        try:
            db.query("SELECT 1")  # the database answers and is migrated before we listen
        except DatabaseError as exc:
            self.fail(str(exc))
            return
        finally:
            db.close()  # each worker opens its own connection
        run_gunicorn(app, {"bind": bind, "workers": opts.workers})


def run_gunicorn(app: Any, options: dict[str, Any]) -> None:
    """Run ``app`` on gunicorn with ``options`` (its settings names) until stopped."""
    from gunicorn.app.base import BaseApplication

    class Server(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            return app

    Server().run()
