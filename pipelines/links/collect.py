"""Which links of a page to check, and how: skipped, malformed, an internal page, an internal
resource or an external URL. Pure functions of the link, the page and the site."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from urllib.parse import urlsplit

from flawless_spider.canonical import url_key
from flawless_spider.extract import CSS_IMPORT, CSS_URL, is_page_link
from flawless_spider.items import Link

# <link rel> values whose href is an endpoint or an origin, not a document (HEAD/GET of them
# legitimately fails: xmlrpc.php answers 405, preconnect hrefs are bare origins).
ENDPOINT_RELS = frozenset({"preconnect", "dns-prefetch", "pingback", "webmention", "micropub",
                           "authorization_endpoint", "token_endpoint", "hub", "openid.server",
                           "openid2.provider", "openid.delegate", "openid2.local_id",
                           "edituri", "indieauth-metadata"})
# <link rel> values that make a browser load the target with the page (mixed content matters).
LOADED_RELS = frozenset({"stylesheet", "icon", "apple-touch-icon", "apple-touch-icon-precomposed",
                         "mask-icon", "preload", "modulepreload", "prefetch", "manifest"})


class Kind(Enum):
    SKIP = "skip"
    INVALID = "invalid"
    MAILTO = "mailto"
    PAGE = "page"
    """An internal page: the crawl fetches it, its status comes from there."""
    RESOURCE = "resource"
    """Anything else on the site (images, scripts, stylesheets, canonical URLs)."""
    EXTERNAL = "external"


@dataclass(slots=True)
class Ref:
    """One link on one page, reduced to what a finding needs."""

    page_url: str
    url: str
    """Target as written, made absolute, fragment kept."""
    element: str
    text: str
    position: int
    fragment: str = ""
    """The ``#fragment`` to look for on the target page; ``""`` when there is nothing to check."""


def target_key(url: str) -> str:
    """The identity of a target: canonical URL without fragment (as the spider de-duplicates)."""
    return url_key(url)


def request_url(url: str) -> str:
    """The URL to request for a target: as written, without its fragment."""
    return url.partition("#")[0]


def scheme(url: str) -> str:
    return url.split(":", 1)[0].lower() if ":" in url else ""


def kind_of(link: Link, is_same_site: Callable[[str], bool]) -> Kind:
    """How to treat ``link``: see :class:`Kind`."""
    raw = link.raw.strip()
    if raw.startswith("#") and not link.url:
        return Kind.INVALID
    if not link.url:
        return Kind.MAILTO if raw.lower().startswith("mailto:") else Kind.INVALID
    what = scheme(link.url)
    if what == "mailto":
        return Kind.MAILTO
    if what not in ("http", "https"):
        return Kind.SKIP  # other programs' schemes (tel:, ftp:, app links): nothing to fetch
    rels = set(link.rel.lower().split())
    if link.element == "link" and rels & ENDPOINT_RELS:
        return Kind.SKIP
    if not is_same_site(link.url):
        return Kind.EXTERNAL
    return Kind.PAGE if is_page_link(link) else Kind.RESOURCE


def is_insecure(link: Link, page_url: str) -> bool:
    """An ``http:`` resource the browser loads with an ``https:`` page (mixed content)."""
    if scheme(page_url) != "https" or scheme(link.url) != "http" or link.element in ("a", "area"):
        return False
    if link.element == "link":
        return bool(set(link.rel.lower().split()) & LOADED_RELS)
    return True


def is_stylesheet(link: Link) -> bool:
    """True when the target is CSS whose own ``url()`` targets should be checked too."""
    if link.element == "link" and "stylesheet" in link.rel.lower().split():
        return True
    return urlsplit(link.url).path.lower().endswith(".css")


def ref_for(link: Link, page_url: str) -> Ref:
    fragment = link.url.partition("#")[2]
    return Ref(page_url=page_url, url=link.url, element=link.element, text=link.text,
               position=link.position, fragment=fragment)


def css_targets(css: str) -> Iterator[tuple[str, int]]:
    """Every ``url(...)`` and ``@import "..."`` target of a stylesheet, with its line."""
    for pattern in (CSS_URL, CSS_IMPORT):
        for match in pattern.finditer(css):
            value = match.group(2).strip()
            if value and not value.startswith("#"):
                yield value, css.count("\n", 0, match.start()) + 1
