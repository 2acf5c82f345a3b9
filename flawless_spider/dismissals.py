""""Not a mistake": what an owner said is right on their site, honoured by crawls and digests.

- a misspelling: the word joins the site's words (``site_words``, case-insensitive), which
  the language stage already accepts;
- a link: its URL (or every URL under a prefix) is ignored by the link stage
  (``site_ignores`` kinds ``link``/``link_prefix``);
- a grammar finding: that rule on that text is ignored by the language stage
  (``site_ignores`` kind ``grammar``; the text compared case-insensitively).

Reports and digests leave dismissed findings out of their lists and counts at once; the next
crawl does not report them at all (and they do not read as "fixed").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from flawless_spider.findings import problem_key

MAX_VALUE = 2000


class DismissError(ValueError):
    """The dismissal cannot be made as asked (a prefix that does not fit the link, ...)."""


@dataclass(frozen=True)
class Dismissals:
    """One site's "not a mistake" lists."""

    words: frozenset[str] = frozenset()
    links: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()
    grammar: frozenset[tuple[str, str]] = field(default_factory=frozenset)

    @classmethod
    def load(cls, cur: Any, site_id: int) -> Dismissals:
        """Read the lists of ``site_id`` (``cur``: a ``RealDictCursor``)."""
        cur.execute("SELECT word FROM site_words WHERE site_id = %s", (site_id,))
        words = frozenset(r["word"].lower() for r in cur.fetchall())  # as the speller compares
        cur.execute("SELECT kind, rule, value FROM site_ignores WHERE site_id = %s", (site_id,))
        rows = cur.fetchall()
        return cls(
            words=words,
            links=frozenset(r["value"] for r in rows if r["kind"] == "link"),
            prefixes=tuple(sorted(r["value"] for r in rows if r["kind"] == "link_prefix")),
            grammar=frozenset((r["rule"], r["value"].casefold()) for r in rows
                              if r["kind"] == "grammar"),
        )

    def link_ignored(self, url: Any) -> bool:
        """Whether a link to ``url`` (as written, made absolute) is on the ignore list."""
        if not isinstance(url, str) or not url:
            return False
        if url in self.links or url.partition("#")[0] in self.links:
            return True
        return bool(self.prefixes) and url.startswith(self.prefixes)

    def grammar_ignored(self, rule: Any, text: Any) -> bool:
        return (str(rule or ""), str(text or "").strip().casefold()) in self.grammar

    def matches(self, type: str, data: Mapping[str, Any]) -> bool:
        """Whether a finding (its ``type`` and data fields) was dismissed."""
        if type == "spelling":
            return str(data.get("word") or "").lower() in self.words
        if type == "link":
            return self.link_ignored(data.get("url")) or self.link_ignored(link_value(data))
        if type == "grammar":
            return self.grammar_ignored(data.get("rule"), data.get("text"))
        return False

    def __bool__(self) -> bool:
        return bool(self.words or self.links or self.prefixes or self.grammar)


def link_value(data: Mapping[str, Any]) -> str:
    """The URL a link dismissal ignores: the problem's target (see ``problem_key``)."""
    return problem_key("link", dict(data))[1]


def check_prefix(prefix: str, url: str) -> str:
    """``prefix`` if it can stand for ``url``'s neighbours: it starts ``url`` and names at least
    its scheme and host (``https://example.com/``); :class:`DismissError` otherwise."""
    prefix = (prefix or "").strip()
    parts = urlsplit(url)
    root = f"{parts.scheme}://{parts.netloc}/"
    if not parts.netloc or parts.scheme not in ("http", "https"):
        raise DismissError("only http(s) links can be ignored by prefix")
    if not url.startswith(prefix):
        raise DismissError(f"{prefix!r} is not the start of {url!r}")
    if len(prefix) < len(root) or len(prefix) > MAX_VALUE:
        raise DismissError(f"a prefix must name at least the site, as in {root!r}")
    return prefix


def dismiss(cur: Any, site_id: int, type: str, data: Mapping[str, Any],
            prefix: str | None = None) -> str:
    """Mark a finding's problem as not a mistake; returns what is now ignored, in words."""
    if type == "spelling":
        word = str(data.get("word") or "").strip()
        if not word or len(word) > 100 or any(c.isspace() for c in word):
            raise DismissError("this word cannot be added to the site's words")
        cur.execute("INSERT INTO site_words (site_id, word) VALUES (%s, %s)"
                    " ON CONFLICT DO NOTHING", (site_id, word))
        return f"\u201c{word}\u201d is now one of your site's words"
    if type == "link":
        value = link_value(data)
        kind = "link"
        if prefix:
            value, kind = check_prefix(prefix, value), "link_prefix"
        if not value or len(value) > MAX_VALUE:
            raise DismissError("this link cannot be ignored")
        _ignore(cur, site_id, kind, "", value)
        return (f"links starting with {value} are ignored" if kind == "link_prefix"
                else f"links to {value} are ignored")
    if type == "grammar":
        rule, text = str(data.get("rule") or ""), str(data.get("text") or "").strip()
        if not rule or not text or len(text) > MAX_VALUE:
            raise DismissError("this grammar finding cannot be ignored")
        _ignore(cur, site_id, "grammar", rule, text)
        return f"\u201c{text}\u201d is no longer flagged by {rule}"
    raise DismissError(f"{type} findings cannot be dismissed")


def _ignore(cur: Any, site_id: int, kind: str, rule: str, value: str) -> None:
    cur.execute("INSERT INTO site_ignores (site_id, kind, rule, value) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT DO NOTHING", (site_id, kind, rule, value))


def undo(cur: Any, site_id: int, type: str, data: Mapping[str, Any]) -> int:
    """Take back every dismissal that covers this finding; returns how many were removed."""
    if type == "spelling":
        word = str(data.get("word") or "").lower()  # not SQL lower(): ASCII-only in some locales
        cur.execute("SELECT word FROM site_words WHERE site_id = %s", (site_id,))
        words = [r["word"] for r in cur.fetchall() if r["word"].lower() == word]
        cur.execute("DELETE FROM site_words WHERE site_id = %s AND word = ANY(%s)",
                    (site_id, words))
        return cur.rowcount
    if type == "link":
        urls = {u for u in (link_value(data), str(data.get("url") or "")) if u}
        urls |= {u.partition("#")[0] for u in urls}
        cur.execute(
            "DELETE FROM site_ignores WHERE site_id = %(s)s AND ("
            " (kind = 'link' AND value = ANY(%(urls)s))"
            " OR (kind = 'link_prefix' AND EXISTS (SELECT 1 FROM unnest(%(urls)s) u"
            "      WHERE left(u, length(value)) = value)))",
            {"s": site_id, "urls": sorted(urls)})
        return cur.rowcount
    if type == "grammar":
        rule, text = str(data.get("rule") or ""), str(data.get("text") or "").strip().casefold()
        cur.execute("SELECT value FROM site_ignores WHERE site_id = %s AND kind = 'grammar'"
                    " AND rule = %s", (site_id, rule))
        values = [r["value"] for r in cur.fetchall() if r["value"].casefold() == text]
        cur.execute("DELETE FROM site_ignores WHERE site_id = %s AND kind = 'grammar'"
                    " AND rule = %s AND value = ANY(%s)", (site_id, rule, values))
        return cur.rowcount
    return 0
