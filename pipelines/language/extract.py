"""Visible text of an HTML page, as blocks a reader sees: paragraphs, list items, cells, ...

A browser shows the text of block elements as separate boxes and collapses whitespace; checking
those boxes one by one (rather than the whole page as one string) keeps a sentence from running
into the next menu item, and gives every finding a place on the page. Text a reader never sees,
or that is not prose (code, hidden elements, ``translate="no"``), is left out; an inline element
that is left out leaves :data:`PLACEHOLDER` behind so the words around it do not appear adjacent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import lxml.etree
import lxml.html
from lxml.cssselect import CSSSelector

from pipelines.language import detect

PLACEHOLDER = "\ufffc"
"""OBJECT REPLACEMENT CHARACTER: stands for an inline element whose text is not checked."""

SKIP_TAGS = frozenset(
    [
        "script",
        "style",
        "noscript",
        "template",
        "svg",
        "math",
        "code",
        "pre",
        "kbd",
        "samp",
        "var",
        "tt",
        "textarea",
        "head",
        "object",
        "embed",
        "iframe",
        "canvas",
        "audio",
        "video",
        "select",
        "option",
        "datalist",
        "map",
    ]
)
CODE_TAGS = frozenset(("code", "pre", "kbd", "samp", "var", "tt"))
"""Skipped elements whose words are identifiers: an unknown word also used there is a term."""
BLOCK_TAGS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "body",
        "caption",
        "dd",
        "details",
        "dialog",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hgroup",
        "hr",
        "html",
        "legend",
        "li",
        "main",
        "menu",
        "nav",
        "ol",
        "p",
        "section",
        "summary",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "ul",
        "button",
        "label",
        "center",
    ]
)
_BLOCKISH_SKIPPED = frozenset(("pre", "textarea", "table"))
TEMPLATE_TAGS = frozenset(("nav", "header", "footer", "aside"))
TEMPLATE_ROLES = frozenset(("navigation", "banner", "contentinfo", "complementary", "menu"))
"""Page regions that hold a site's template (menus, footers): their blocks repeat across pages."""

MARK = "\u2060"
"""WORD JOINER around emphasised inline text (``em``, ``i``, ...): documentation sets parameter
names that way (\"the name *name*\"), so a word repeated across that boundary is deliberate."""
MARKED_TAGS = frozenset(("em", "i", "cite", "dfn", "q"))

_HIDDEN_STYLE = re.compile(r"(?:display\s*:\s*none|visibility\s*:\s*hidden)", re.I)
_SPACE = re.compile(r"[ \t\n\r\f\u00a0\u200b]+")
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


@dataclass(slots=True)
class Block:
    """One run of visible text, whitespace collapsed."""

    text: str
    kind: str
    """The element it comes from: ``p``, ``li``, ``h2``, ``td``, ... or ``title``, ``meta``, ``alt``."""
    lang: str = ""
    """``lang`` of the element or its nearest ancestor below ``<html>``; empty when undeclared."""
    position: int = 0
    """Source line of the element."""
    template: bool = False
    """Inside a navigation, header, footer or aside region (likely repeated on every page)."""


_OTHER_SPACE = re.compile(r"[\v\x1c-\x1f\x85\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")
"""Characters ``str.split()`` splits on that :data:`_SPACE` keeps."""


def collapse(text: str) -> str:
    """Whitespace as a browser renders it: runs collapsed to one space, ends trimmed."""
    if "\u200b" in text or _OTHER_SPACE.search(text):
        return _SPACE.sub(" ", text).strip()
    return " ".join(text.split())  # the same, several times faster


_LETTERS = re.compile(r"[^\W\d_]+")
_CODE_CHUNK = re.compile(r"[_(){}\[\]=*<>]|::|->")


def looks_like_code(text: str) -> bool:
    """Whether a block reads as code: a third or more of its chunks hold ``_ ( ) = *`` and such."""
    if _CODE_CHUNK.search(text) is None:
        return False
    chunks = text.split()
    if len(chunks) < 2:
        return bool(chunks) and "_" in chunks[0] and "(" in chunks[0]
    codey = sum(1 for c in chunks if _CODE_CHUNK.search(c))
    return codey * 3 >= len(chunks)


_SIGNATURE = re.compile(
    r"(?:[\w.]+ +)?\**(?P<name>[A-Za-z_][\w.]*)\((?P<args>(?:[^()]|\(\))*)\)"
    r"(?: *(?:->|\u2192) *[\w.\[\], ]+)? *\u00b6?"
)
_SIGNATURE_ARG = re.compile(r"[\w.*\[\]=\"'()/:+-]+(?: [\w.*\[\]=\"'()/:+-]+){0,3}")


def looks_like_signature(text: str) -> bool:
    """Whether a block is an API signature: ``shutil.rmtree(path, ignore_errors=False)``,
    ``window.overlay(destwin[, sminrow, smincol])``, ``PyObject *PyList_New(Py_ssize_t len)``.
    The name or the arguments must look like code (a dot, an underscore, inner capitals, ``,``,
    ``=``, ``*``, ``[``), so that "Add item(s)" stays prose."""
    if "(" not in text:
        return False
    m = _SIGNATURE.fullmatch(text.replace(MARK, ""))
    if m is None:
        return False
    name, args = m.group("name"), m.group("args")
    if not all(_SIGNATURE_ARG.fullmatch(a.strip() or "x") for a in args.split(",")):
        return False
    return any(c in name for c in "._") or not name[1:].islower() or any(c in args for c in ",=*[")


def _is_hidden(el: lxml.html.HtmlElement) -> bool:
    attrib = el.attrib
    if not attrib:
        return False
    if "hidden" in attrib or attrib.get("aria-hidden", "").lower() == "true":
        return True
    if attrib.get("translate", "").lower() == "no" or attrib.get("spellcheck", "").lower() == "false":
        return True
    if attrib.get("type", "").lower() == "hidden":
        return True
    style = attrib.get("style")
    return bool(style and _HIDDEN_STYLE.search(style))


class _Walker:
    def __init__(self, skip: set, with_code: bool, own_host: str = ""):
        self.skip = skip
        self.blocks: list[Block] = []
        self.code: list[str] | None = [] if with_code else None
        self.own_host = own_host

    def link_names(self, el) -> None:
        """Words of a link's text that the linked site has in its address are names (``wget`` →
        ``gnu.org/software/wget/``, ``pytest-xdist`` → ``github.com/pytest-dev/pytest-xdist``):
        collected with the code words. Links within the site do not count: a typo in a page's
        title is often in its address too."""
        href = el.get("href") or ""
        if not href.startswith(("http://", "https://")):
            return
        try:
            parts = urlsplit(href)
        except ValueError:
            return
        host = (parts.hostname or "").removeprefix("www.")
        if not host or host == self.own_host or host.endswith("." + self.own_host):
            return
        address = set(_LETTERS.findall(f"{host} {parts.path}".lower()))
        names = [w for w in _LETTERS.findall(el.text_content().lower()) if w in address]
        if names:
            self.code.append(" ".join(names))

    def skipped(self, el) -> None:
        if self.code is not None and el.tag in CODE_TAGS:
            self.code.append(el.text_content())

    def emit(self, parts: list[str], kind: str, lang: str, line: int, template: bool) -> None:
        if not parts:
            return
        text = collapse("".join(parts))
        if not text.strip(PLACEHOLDER + MARK + " "):
            return
        if looks_like_code(text) or looks_like_signature(text):
            # an API signature set in spans ("PyObject *PyList_New(Py_ssize_t len)"): not prose
            if self.code is not None:
                self.code.append(text)
            return
        self.blocks.append(Block(text, kind, lang, line, template))

    def walk(self, el, lang: str, template: bool) -> None:
        """Emit the blocks of block element ``el`` (and of the block elements inside it)."""
        parts: list[str] = []
        if el.text:
            parts.append(el.text)
        kind = el.tag if el.tag != "html" else "body"
        line = el.sourceline or 0
        for child in el:
            tag = child.tag
            if not isinstance(tag, str):  # comment or processing instruction
                if child.tail:
                    parts.append(child.tail)
                continue
            if tag in SKIP_TAGS or child in self.skip or _is_hidden(child):
                self.skipped(child)
                if tag in BLOCK_TAGS or tag in _BLOCKISH_SKIPPED:
                    self.emit(parts, kind, lang, line, template)
                    parts = []
                else:
                    parts.append(PLACEHOLDER)
            elif tag == "br":
                parts.append("\n")
            elif tag == "img" or (tag == "input" and child.get("type", "").lower() == "image"):
                alt = child.get("alt")
                if alt and alt.strip():
                    self.emit([alt], "alt", self._lang(child, lang), child.sourceline or 0, template)
            elif tag in BLOCK_TAGS:
                self.emit(parts, kind, lang, line, template)
                parts = []
                self.walk(child, self._lang(child, lang), template or _is_template(child))
                line = child.sourceline or line
            else:
                self.phrase(child, parts, lang, template)
            if child.tail:
                parts.append(child.tail)
        self.emit(parts, kind, lang, line, template)

    def inline(self, el, parts: list[str], lang: str, template: bool) -> None:
        """Add the text of inline element ``el`` to ``parts`` (block children become blocks)."""
        if el.text:
            parts.append(el.text)
        for child in el:
            tag = child.tag
            if not isinstance(tag, str):
                pass
            elif tag in SKIP_TAGS or child in self.skip or _is_hidden(child):
                self.skipped(child)
                parts.append(PLACEHOLDER)
            elif tag == "br":
                parts.append("\n")
            elif tag == "img":
                alt = child.get("alt")
                if alt and alt.strip():
                    self.emit([alt], "alt", self._lang(child, lang), child.sourceline or 0, template)
            elif tag in BLOCK_TAGS:  # invalid nesting, but browsers render it as a block
                parts.append(" ")
                self.walk(child, self._lang(child, lang), template or _is_template(child))
                parts.append(" ")
            else:
                self.phrase(child, parts, lang, template)
            if child.tail:
                parts.append(child.tail)

    def phrase(self, el, parts: list[str], lang: str, template: bool) -> None:
        """An inline element inside a block: its text joins the block, unless it is in another
        language (then it is a block of its own, in its own language)."""
        if self.code is not None and el.tag == "a":
            self.link_names(el)
        child_lang = self._lang(el, lang)
        if child_lang == lang and el.get("lang") is None:
            child_lang = _foreign(el) or lang
        if child_lang != lang:
            parts.append(PLACEHOLDER)
            self.walk(el, child_lang, template)
        elif el.tag in MARKED_TAGS:
            parts.append(MARK)
            self.inline(el, parts, lang, template)
            parts.append(MARK)
        else:
            self.inline(el, parts, lang, template)

    @staticmethod
    def _lang(el, inherited: str) -> str:
        value = el.get("lang")
        if value is None:
            value = el.get(_XML_LANG)
        return value.strip() if value is not None else inherited


PHRASE_CONFIDENCE = 0.9
"""How sure py3langid must be that an inline phrase of six or more words is not English."""


def _foreign(el) -> str:
    """The language of an inline phrase (a link's text, say) that is long enough to tell and
    confidently not English, so it is checked as its own block; ``""`` otherwise."""
    text = el.text_content() if len(el) else el.text or ""
    if text.count(" ") < detect.MIN_WORDS - 1:
        return ""
    guess, prob = detect.identify(collapse(text))
    return guess if guess and guess != "en" and prob >= PHRASE_CONFIDENCE else ""


def _is_template(el) -> bool:
    return el.tag in TEMPLATE_TAGS or el.get("role", "").lower() in TEMPLATE_ROLES


def compile_selectors(selectors: Iterable[str]) -> list[CSSSelector]:
    """Compile the site's skip selectors; invalid ones raise ``ValueError`` naming the selector."""
    compiled = []
    for selector in selectors:
        selector = selector.strip()
        if not selector:
            continue
        try:
            compiled.append(CSSSelector(selector))
        except Exception as exc:  # cssselect.SelectorError and friends
            raise ValueError(f"invalid skip selector {selector!r}: {exc}") from exc
    return compiled


def parse(html: str) -> lxml.html.HtmlElement | None:
    """Parse an HTML document leniently; ``None`` when there is nothing to parse."""
    if not html or not html.strip():
        return None
    try:
        return lxml.html.document_fromstring(html)
    except (lxml.etree.ParserError, ValueError):
        # ValueError: a str with an XML encoding declaration; parse the bytes instead.
        try:
            return lxml.html.document_fromstring(html.encode("utf-8"))
        except (lxml.etree.ParserError, ValueError):
            return None


def extract_blocks(
    html: str, selectors: Iterable[CSSSelector] = (), with_code: bool = False, own_host: str = ""
) -> tuple[str, list[Block], list[str]]:
    """The page's ``<html lang>``, its visible text blocks in page order, and its code texts.

    The code texts (``code``, ``pre``, ``kbd``, API signatures, names in links to other sites
    than ``own_host``) are only collected ``with_code``.
    Block ``lang`` is only what elements *below* ``<html>`` declare, so callers can tell an
    explicit declaration on a paragraph from a page-wide default (often a template's).
    """
    root = parse(html)
    if root is None:
        return "", [], []
    page_lang = (root.get("lang") or root.get(_XML_LANG) or "").strip()
    skip: set = set()
    for selector in selectors:
        skip.update(selector(root))
    walker = _Walker(skip, with_code, own_host.removeprefix("www."))
    head = root.find("head")
    if head is not None:
        title = head.find("title")
        if title is not None and title.text_content().strip():
            walker.emit([title.text_content()], "title", "", title.sourceline or 0, False)
        for meta in head.iter("meta"):
            if (meta.get("name") or "").lower() == "description" and meta.get("content"):
                lang = (meta.get("lang") or "").strip()
                walker.emit([meta.get("content")], "meta", lang, meta.sourceline or 0, False)
    body = root.find("body")
    if body is not None and body not in skip and not _is_hidden(body):
        walker.walk(body, "", False)
    return page_lang, walker.blocks, walker.code or []
