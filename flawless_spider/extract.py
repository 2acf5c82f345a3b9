"""Pull links, anchors, title and language out of an HTML page, with each link's element and line."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from lxml import etree
from w3lib.url import canonicalize_url

from flawless_spider.items import Link

# (tag, attribute) pairs that hold one URL.
URL_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "a": ("href",),
    "area": ("href",),
    "img": ("src",),
    "link": ("href",),
    "script": ("src",),
    "iframe": ("src",),
    "frame": ("src",),
    "source": ("src",),
    "video": ("src", "poster"),
    "audio": ("src",),
    "track": ("src",),
    "embed": ("src",),
    "object": ("data",),
    "input": ("src",),
}
SRCSET_TAGS = ("img", "source")
# Elements whose targets are pages the spider crawls (the rest are resources).
PAGE_ELEMENTS = frozenset({"a", "area", "iframe", "frame"})
# ``<meta http-equiv="refresh" content="5; url=...">``: a link the browser follows by itself.
REFRESH = ("meta", "refresh")
CSS_URL = re.compile(r"""url\(\s*(['"]?)(.*?)\1\s*\)""", re.IGNORECASE | re.DOTALL)
CSS_IMPORT = re.compile(r"""@import\s+(['"])(.*?)\1""", re.IGNORECASE)
_SPACE = re.compile(r"\s+")
_HTML_SPACE = " \t\n\f\r"
_REFRESH_URL = re.compile(r"url[ \t\n\f\r]*=[ \t\n\f\r]*", re.IGNORECASE)


# The elements :func:`extract` looks at, in document order: one XPath pass in C instead of a
# Python object for every element of the page.
_CANDIDATES = etree.XPath(
    "//*[@id or @name or @href or @src or @srcset or @data or @poster or @style"
    " or self::meta or self::style]"
)


@dataclass
class Extracted:
    title: str = ""
    lang: str = ""
    links: list[Link] = field(default_factory=list)
    anchors: list[str] = field(default_factory=list)


def collapse(text: str) -> str:
    """Whitespace as a browser collapses it."""
    return _SPACE.sub(" ", text).strip()


def absolute(base: str, raw: str) -> str:
    """``raw`` made absolute against ``base``; ``""`` when it cannot be a URL."""
    value = raw.strip()
    if any(c in value for c in "\x00\r\n\t"):
        value = re.sub(r"[\r\n\t]", "", value)
        if "\x00" in value:
            return ""
    # Pages repeat their navigation: the answer for a value that depends only on part of the
    # base (its directory, its origin, its scheme) is remembered under that part.
    if value[:1] == "#" and len(value) > 1 and "\\" not in value and "[" not in value:
        # ``#section``: the base without its fragment, then the value (as urljoin makes it).
        if _PAGE[0] != base:
            prefix = _absolute(base, "#")
            _PAGE[:] = base, (prefix if "\\" not in prefix and "[" not in prefix else None)
        if _PAGE[1] is not None:
            return _PAGE[1] and _PAGE[1] + value
    key = _join_key(base, value)
    if key is None:
        return _absolute(base, value)
    joined = _JOINED.get(key)
    if joined is None:
        if len(_JOINED) >= JOIN_MEMORY:
            _JOINED.clear()
        joined = _JOINED[key] = _absolute(base, value)
    return joined


JOIN_MEMORY = 20_000
_PAGE: list = ["", None]
"""The last base a ``#fragment`` was joined to, and what it joins to (None: no shortcut)."""
_JOINED: dict[tuple[str, str], str] = {}
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_ABSOLUTE = re.compile(r"https?://[^/?#]")


def _join_key(base: str, value: str) -> tuple[str, str] | None:
    """The part of ``base`` that ``urljoin(base, value)`` depends on, with ``value``; None when it
    may depend on all of it (``#x``, ``?q``, an empty value, an unusual base)."""
    if not value or value[0] in "#?" or value[0] <= " " or "\\" in value:
        return None
    scheme, sep, rest = base.partition("://")
    if not sep or not rest or "\\" in base or "@" in rest.partition("/")[0]:
        return None
    if _SCHEME.match(value):
        return (scheme, value) if _ABSOLUTE.match(value) else None
    if value.startswith("/"):
        # ``/path``: the base's origin; ``//host/path``: its scheme.
        if value.startswith("//"):
            return (scheme, value) if value[2:3] not in ("", "/", "?", "#") else None
        return base[:len(scheme) + 3 + len(rest.partition("/")[0])], value
    path = rest.split("?", 1)[0].split("#", 1)[0]
    if "/" not in path:
        return None
    return base[:len(scheme) + 3 + path.rindex("/") + 1], value


def _absolute(base: str, value: str) -> str:
    try:
        joined = urljoin(base, value)
        parts = urlsplit(joined)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return ""
    if parts.scheme in ("http", "https"):
        host = parts.hostname or ""
        if not host or " " in host or host.startswith(".") or ".." in host:
            return ""
        if "\\" in joined or "[" in joined:
            # w3lib reads a backslash as "/" (as browsers do) and brackets as IPv6: where it
            # cannot parse what urllib did (``http://:x\@host/``), it is no URL for the crawl.
            try:
                canonicalize_url(joined)
            except ValueError:
                return ""
    return joined


def srcset_urls(value: str) -> Iterator[str]:
    """The URLs of a ``srcset`` attribute (``a.png 1x, b.png 2x``)."""
    for candidate in value.split(","):
        candidate = candidate.strip()
        if candidate:
            yield candidate.split()[0]


def refresh_target(content: str) -> str:
    """The URL of a meta refresh ``content`` (``5; url='/next'``), ``""`` when there is none.

    Read as browsers do (the HTML standard's declarative refresh steps): a delay, then ``;`` or
    ``,``, then the URL with or without ``url=`` (any case, spaces around ``=``), maybe quoted.
    """
    rest = content.lstrip(_HTML_SPACE)
    delay = len(rest) - len(rest.lstrip("0123456789"))
    if not delay and not rest.startswith("."):
        return ""  # no delay: browsers ignore the whole value
    rest = rest.lstrip("0123456789.")
    if rest and rest[0] not in ";," + _HTML_SPACE:
        return ""
    rest = rest.lstrip(_HTML_SPACE)
    if rest[:1] in (";", ","):
        rest = rest[1:]
    rest = rest.lstrip(_HTML_SPACE)
    named = _REFRESH_URL.match(rest)
    if named:
        rest = rest[named.end():]
    if rest[:1] in ("'", '"'):
        rest = rest[1:].partition(rest[0])[0]
    return rest.strip(_HTML_SPACE)


def css_urls(css: str) -> Iterator[str]:
    """Every ``url(...)`` and ``@import "..."`` target in a stylesheet."""
    for match in CSS_URL.finditer(css):
        value = match.group(2).strip()
        if value and not value.startswith("#"):
            yield value
    for match in CSS_IMPORT.finditer(css):
        yield match.group(2).strip()


def extract(root: etree._Element, page_url: str) -> Extracted:
    """Everything the checks need from a parsed page (``root``: a parsel ``Selector(response).root``)."""
    base = page_url
    for element in root.iter("base"):
        href = element.get("href")
        if href:
            base = absolute(page_url, href) or page_url
        break
    result = Extracted()
    html_el = root if root.tag == "html" else next(root.iter("html"), None)
    if html_el is not None:
        result.lang = (html_el.get("lang") or html_el.get("{http://www.w3.org/XML/1998/namespace}lang")
                       or "").strip()
    title = next(root.iter("title"), None)
    if title is not None:
        result.title = collapse(title.text_content() if hasattr(title, "text_content")
                                else "".join(title.itertext()))
    anchors: dict[str, None] = {}
    links = result.links
    for element in _CANDIDATES(root):
        tag = element.tag if isinstance(element.tag, str) else ""
        tag = tag.lower()
        ident = element.get("id")
        if ident:
            anchors[ident] = None
        if tag == "a" and element.get("name"):
            anchors[element.get("name")] = None
        line = element.sourceline or 0
        for attribute in URL_ATTRIBUTES.get(tag, ()):
            raw = element.get(attribute)
            if raw is None or not raw.strip():
                continue
            links.append(Link(
                url=absolute(base, raw), raw=raw, element=tag, attribute=attribute,
                text=_link_text(element, tag), position=line, rel=element.get("rel", ""),
            ))
        if tag == "meta" and (element.get("http-equiv") or "").strip().lower() == "refresh":
            raw = refresh_target(element.get("content") or "")
            if raw:
                links.append(Link(url=absolute(base, raw), raw=raw, element="meta",
                                  attribute="refresh", position=line))
        if tag in SRCSET_TAGS and element.get("srcset"):
            for raw in srcset_urls(element.get("srcset")):
                links.append(Link(url=absolute(base, raw), raw=raw, element=tag,
                                  attribute="srcset", text=_link_text(element, tag),
                                  position=line))
        style = element.get("style")
        if style and "url(" in style.lower():
            for raw in css_urls(style):
                links.append(Link(url=absolute(base, raw), raw=raw, element=tag,
                                  attribute="style", position=line))
        if tag == "style" and element.text:
            for raw in css_urls(element.text):
                links.append(Link(url=absolute(base, raw), raw=raw, element="style",
                                  attribute="url()", position=line))
    result.anchors = list(anchors)
    return result


def _link_text(element: etree._Element, tag: str) -> str:
    if tag in ("a", "area"):
        text = collapse("".join(element.itertext()))
        if not text:
            images = [img.get("alt", "") for img in element.iter("img")]
            text = collapse(" ".join(images)) or element.get("title", "") or element.get("alt", "")
        return text[:300]
    return collapse(element.get("alt") or element.get("title") or "")[:300]


def is_page_link(link: Link) -> bool:
    """True for links the spider follows as pages (``a``, ``area``, frames), not resources."""
    return (link.element in PAGE_ELEMENTS and link.attribute == "href") or (
        link.element in ("iframe", "frame") and link.attribute == "src"
    ) or (link.element, link.attribute) == REFRESH
