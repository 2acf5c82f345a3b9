"""The owners' web app: the report behind the digest, "not a mistake", "check again now",
one-click unsubscribe and pause. No accounts: every page is reached from a signed link.

Run it with a production WSGI server, ``gunicorn 'flawless_spider.web:app'``, or on one machine
with ``scrapy serve``. ``app`` is built on first access (so importing :mod:`.links` or
:mod:`.tokens`, as crawls and digests do, needs no web framework).
"""

from __future__ import annotations

from typing import Any

_app: Any = None


def create_app(settings: Any = None) -> Any:
    """A new app for ``settings`` (default: the project's, with the environment applied)."""
    from flawless_spider.web.app import create_app as create

    return create(settings)


def __getattr__(name: str) -> Any:
    global _app
    if name == "app":
        if _app is None:
            _app = create_app()
        return _app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
