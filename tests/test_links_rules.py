"""The pure rules of the link stage: which links count, how answers are judged."""

from __future__ import annotations

import email.utils
import time

import pytest

from flawless_spider.items import Link
from pipelines.links.checker import parse_retry_after
from pipelines.links.classify import (
    has_anchor,
    is_bot_wall,
    is_client_route,
    judge,
    mailto_problem,
)
from pipelines.links.collect import (
    Kind,
    css_targets,
    is_insecure,
    is_stylesheet,
    kind_of,
    ref_for,
    target_key,
)


def same_site(url: str) -> bool:
    return url.startswith("https://example.com/")


def link(url: str, element: str = "a", attribute: str = "href", rel: str = "",
         raw: str | None = None) -> Link:
    return Link(url=url, raw=url if raw is None else raw, element=element, attribute=attribute,
                rel=rel)


@pytest.mark.parametrize(("item", "kind"), [
    (link("https://example.com/a"), Kind.PAGE),
    (link("https://example.com/a.png", "img", "src"), Kind.RESOURCE),
    (link("https://example.com/", "link", rel="canonical"), Kind.RESOURCE),
    (link("https://example.com/f", "iframe", "src"), Kind.PAGE),
    (link("https://other.org/", "a"), Kind.EXTERNAL),
    (link("https://fonts.example/", "link", rel="preconnect"), Kind.SKIP),
    (link("https://example.com/xmlrpc.php", "link", rel="pingback"), Kind.SKIP),
    (link("mailto:a@b.org"), Kind.MAILTO),
    (link("", raw="mailto:"), Kind.MAILTO),
    (link("tel:+1"), Kind.SKIP),
    (link("javascript:void(0)"), Kind.SKIP),
    (link("data:,x", "img", "src"), Kind.SKIP),
    (link("", raw="http://exa mple.com/"), Kind.INVALID),
])
def test_kind_of(item: Link, kind: Kind) -> None:
    assert kind_of(item, same_site) is kind


@pytest.mark.parametrize(("url", "problem"), [
    ("mailto:someone@example.com", False),
    ("mailto:a@example.com,b@example.org?subject=Hi", False),
    ("mailto:?subject=Share%20this", False),
    ("mailto:J%C3%B6rg@example.de", False),
    ("mailto:", True),
    ("mailto:not-an-address", True),
    ("mailto:someone@localhost", True),
    ("mailto:some one@example.com", True),
    ("mailto:a@@example.com", True),
])
def test_mailto(url: str, problem: bool) -> None:
    assert bool(mailto_problem(url)) is problem


def test_judge() -> None:
    assert judge(200, None) is None
    assert judge(200, None, first_hop=302) is None
    assert judge(200, None, first_hop=301).error == "permanent_redirect"
    assert judge(404, None).severity == "error"
    assert judge(None, "dns").severity == "error"
    assert judge(None, "robots") is None
    assert judge(None, "too_large") is None
    for status, reason in ((429, ""), (999, ""), (403, "bot_wall")):
        verdict = judge(status, None, reason)
        assert (verdict.severity, verdict.error) == ("warning", "unverified")
    assert judge(403, None).severity == "error"


def test_bot_walls() -> None:
    cf = {"Server": "cloudflare", "CF-RAY": "1"}
    assert is_bot_wall(403, cf, b"<title>Just a moment...</title>")
    assert is_bot_wall(503, {"cf-mitigated": "challenge"})
    assert is_bot_wall(999, {})
    assert is_bot_wall(403, {"Server": "nginx"}, b"<p>Please complete the CAPTCHA</p>")
    assert not is_bot_wall(403, {"Server": "nginx"}, b"<h1>Forbidden</h1>")
    assert not is_bot_wall(404, cf, b"Just a moment")
    assert not is_bot_wall(403, {"Server": "AmazonS3"}, b"<Code>AccessDenied</Code>")


def test_fragments() -> None:
    assert is_client_route("/users/1") and is_client_route("!/x") and is_client_route("top")
    assert is_client_route(":~:text=hello") and not is_client_route("section-2")
    assert has_anchor("caf%C3%A9", {"café"}) and has_anchor("a b", {"a b"})
    assert not has_anchor("Section", {"section"})


def test_insecure_only_for_what_the_browser_loads() -> None:
    page = "https://example.com/"
    assert is_insecure(link("http://cdn.example/x.js", "script", "src"), page)
    assert is_insecure(link("http://cdn.example/x.css", "link", rel="stylesheet"), page)
    assert is_insecure(link("http://v.example/", "iframe", "src"), page)
    assert not is_insecure(link("http://other.example/"), page)
    assert not is_insecure(link("http://example.com/", "link", rel="canonical"), page)
    assert not is_insecure(link("http://cdn.example/x.js", "script", "src"), "http://example.com/")


def test_collect_helpers() -> None:
    assert is_stylesheet(link("https://example.com/a", "link", rel="Stylesheet"))
    assert is_stylesheet(link("https://example.com/theme.CSS?v=2", "style", "url()"))
    assert not is_stylesheet(link("https://example.com/a.png", "img", "src"))
    css = 'a { background: url("x.png") }\n\n@import "more.css";\n.b { mask: url(#m) }\n'
    assert list(css_targets(css)) == [("x.png", 1), ("more.css", 3)]
    assert target_key("https://Example.com/a?b=2&a=1#frag") == "https://example.com/a?a=1&b=2"
    ref = ref_for(link("https://example.com/a#b%20c"), "https://example.com/")
    assert ref.fragment == "b%20c" and ref.url == "https://example.com/a#b%20c"


def test_retry_after() -> None:
    assert parse_retry_after("120") == 120
    soon = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 < parse_retry_after(soon) <= 31
    assert parse_retry_after("soon") is None
