"""Render a digest with Jinja: ``templates/digest.txt`` and ``templates/digest.html``.

Page text is untrusted input, so the HTML environment autoescapes, only ``http(s)`` URLs become
links (the ``href`` filter), and the CSS is inlined afterwards (css-inline) because many mail
clients drop ``<style>`` blocks; ``@media`` rules are kept for the clients that honour them.
Templates can be overridden by putting files of the same name in ``FLAWLESS_TEMPLATES_DIR``.
"""

from __future__ import annotations

import datetime
import functools
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import css_inline
import jinja2

from pipelines.digest.build import Digest

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"


def href(url: Any) -> str:
    """``url`` made safe to click (absolute ``http``/``https`` only, odd characters encoded), or ``""``."""
    if not isinstance(url, str) or len(url) > 2000:
        return ""
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        return ""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return ""
    # Percent-encode what a well-formed URL would not contain raw (<, >, ", ', `, ...).
    return quote(url, safe="!#$%&()*+,-./:;=?@[]_~")


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """``1 page`` / ``3 pages``."""
    word = singular if count == 1 else (plural_form or singular + "s")
    return f"{count:,} {word}"


def when(value: datetime.datetime | None) -> str:
    """A timestamp as owners read it: ``2 March 2026, 14:05 UTC``."""
    if value is None:
        return ""
    value = value.astimezone(datetime.UTC)
    return f"{value.day} {value:%B %Y, %H:%M} UTC"


@functools.cache
def environment(override: str = "") -> jinja2.Environment:
    """The Jinja environment; ``override`` is a folder searched before ``templates/``."""
    paths = [p for p in (override, str(TEMPLATES_DIR)) if p]
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(paths),
        autoescape=jinja2.select_autoescape(["html", "htm", "xml"], default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(href=href, when=when)
    env.globals.update(plural=plural)
    return env


_inliner = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)


def render(digest: Digest, settings: Any = None, **extra: Any) -> tuple[str, str]:
    """Return ``(text, html)`` for ``digest``; ``extra`` goes into the template context.

    ``links``: the site's :class:`~flawless_spider.web.links.OwnerLinks` (``None`` without
    ``FLAWLESS_PUBLIC_URL``); ``attachment``: the name of the attached full list, if any.
    """
    extra.setdefault("links", None)
    extra.setdefault("attachment", "")
    extra.setdefault("unsubscribe", "")
    return render_template("digest", settings, digest=digest, **extra)


def render_template(name: str, settings: Any = None, **context: Any) -> tuple[str, str]:
    """Return ``(text, html)`` from ``NAME.txt`` and ``NAME.html`` (CSS inlined in the HTML)."""
    override = (settings.get("FLAWLESS_TEMPLATES_DIR") if settings is not None else "") or ""
    env = environment(str(override))
    plain = env.get_template(f"{name}.txt").render(context)
    html = _inliner.inline(env.get_template(f"{name}.html").render(context))
    return plain, html
