"""The language check of one crawl: blocks → language → spelling and grammar → findings.

Scrapy-free, so it can be tested and benchmarked directly; :class:`LanguagePipeline` drives it.

What is reported when (deterministic, whatever the page order):

- Every distinct block (text + declared language) is checked once per crawl (cached).
- Known misspellings (codespell) and grammar matches in page content are findings of the page
  right away.
- Blocks inside template regions (``nav``, ``header``, ``footer``, ``aside`` and their ARIA
  roles) are boilerplate: their findings are held, and :meth:`finalize` reports each one once,
  on a representative page (the site's root when the block is there, else the shortest URL),
  with ``pages``: the number of pages it appeared on.
- Unknown lower-case words are held too, because only the whole crawl tells a typo from a
  term: a word found in three or more distinct blocks, or inside code on the site, is a
  candidate for the site's dictionary and is not reported; the rest are reported at the end.
- Unknown capitalised words (names, brands) are candidates: never reported, only counted.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from flawless_spider.findings import finding
from pipelines.language import detect, grammar
from pipelines.language.context import context_hash, normalise, sentence_around
from pipelines.language.dictionaries import DictionaryChooser
from pipelines.language.extract import Block, extract_blocks
from pipelines.language.spelling import CANDIDATE, CERTAIN, LIKELY, Speller
from pipelines.language.tokens import normalise as normalise_apostrophes

RECURRING_BLOCKS = 3
"""An unknown word in this many distinct blocks of a crawl is a term, not a typo."""
FOREIGN_MIN_UNKNOWN = 3
FOREIGN_RATIO = 0.25
"""A block where this share of words is unknown gets a second opinion from the detector."""
BLOCK_CACHE_LIMIT = 20_000
"""Distinct blocks whose results are remembered, least recently used dropped first: blocks that
repeat (navigation, footers) stay, a large site's one-off prose does not pile up in memory
(checking a block again gives the same result)."""
DERIVED_SUFFIXES = ("s", "es", "'s", "'d", "'ed", "'ing", "ed", "ing", "er", "ers", "able", "ability")
"""Endings that make a word of prose from a name used in code (see :meth:`LanguageChecker._in_code`)."""


_MISSING = object()


@dataclass(slots=True)
class Issue:
    kind: str
    """``spelling`` or ``grammar``."""
    start: int
    end: int
    word: str = ""
    verdict: int = 0
    rule: str = ""
    message: str = ""
    text: str = ""
    suggestions: list[str] = field(default_factory=list)

    @classmethod
    def grammar(cls, match: Any) -> Issue:
        """A grammar issue from a rule match (built-in rules and LanguageTool alike)."""
        return cls("grammar", match.start, match.end, rule=match.rule, message=match.message,
                   text=match.text, suggestions=match.suggestions)


@dataclass(slots=True)
class BlockResult:
    text: str
    tag: str | None
    """Dictionary the block was checked against; ``None``: not checked (no dictionary)."""
    spelling: list[Issue] = field(default_factory=list)
    grammar: list[Issue] | None = None
    """``None`` until a grammar backend has looked at the block."""

    @property
    def english(self) -> bool:
        return bool(self.tag) and self.tag.split("_")[0] == "en"


@dataclass(slots=True)
class _Held:
    block: Block
    result: BlockResult
    pages: dict[str, int] = field(default_factory=dict)
    """URL → position of the block on that page."""


@dataclass(slots=True)
class _Likely:
    url: str
    word: str
    context: str
    tag: str
    position: int
    block: int


class LanguageChecker:
    """Checks the pages of one crawl of one site."""

    def __init__(
        self,
        site_language: str = "en_US",
        accepted: Iterable[str] = (),
        selectors: Iterable[Any] = (),
        site_url: str = "",
        builtin_grammar: bool = True,
        available: list[str] | None = None,
    ):
        self.chooser = DictionaryChooser(site_language or "en_US", available)
        self.accepted = {w.lower() for w in accepted}
        self.selectors = list(selectors)
        self.site_url = site_url
        self.host = (urlsplit(site_url).hostname or "") if site_url else ""
        self.builtin_grammar = builtin_grammar
        self._spellers: dict[tuple[str, bool], Speller] = {}
        self._blocks: OrderedDict[int, BlockResult | str | None] = OrderedDict()
        """``hash((text, declared))`` → its result (a number, not the text: a site's one-off
        prose is not held twice); a result without issues (grammar done) is kept as just its
        dictionary tag."""
        self._held: dict[tuple[str, str], _Held] = {}
        self._likely: list[_Likely] = []
        self._likely_pruned = 0
        """Length of ``_likely`` when words that became terms were last dropped from it."""
        self._word_blocks: dict[str, set[int]] = defaultdict(set)
        self.code_words: set[str] = set()
        self.candidates: Counter[str] = Counter()
        self.words = 0

    # --- per block --------------------------------------------------------------------------

    def speller(self, tag: str, strict: bool) -> Speller:
        key = (tag, strict)
        if key not in self._spellers:
            self._spellers[key] = Speller(tag, strict, self.accepted)
        return self._spellers[key]

    def _resolve(self, declared: str, text: str) -> tuple[str | None, bool, bool]:
        """``(dictionary, strict, overridable)`` for a block; see :meth:`check_block`."""
        if declared.startswith("!"):  # explicit on the element: final
            tag, strict = self.chooser.choose(declared[1:])
            return tag, strict, False
        if declared:
            tag, strict = self.chooser.choose(declared)
            return tag, strict, True
        guess, prob = detect.identify(text)
        if guess and prob >= 0.5:
            tag, strict = self.chooser.choose(guess)
            return tag, False, False
        return self.chooser.site_tag, False, True

    def check_block(self, text: str, declared: str) -> BlockResult:
        """Spelling (and built-in grammar) of one block, cached per ``(text, declared)``.

        ``declared`` is the block's own ``lang`` prefixed with ``!`` (final), else the page's
        language (``<html lang>``, Content-Language), else ``""``. A page-wide declaration is
        often a template default, so a block that reads as mostly unknown words is identified
        by py3langid and, if it is confidently another language, checked as that (or not at
        all when there is no dictionary for it). Undeclared blocks long enough to tell are
        identified; the rest take the site's language.
        """
        key = hash((text, declared))
        blocks = self._blocks
        cached = blocks.get(key, _MISSING)
        if isinstance(cached, BlockResult) and cached.text != text:
            cached = _MISSING  # another block with the same number (1 in 2**64): checked anew
        if cached is not _MISSING:
            blocks.move_to_end(key)
            if not isinstance(cached, BlockResult):
                return BlockResult(text, cached, [], [])
            if not cached.spelling and cached.grammar == []:
                blocks[key] = cached.tag  # clean and fully checked: the tag is all it takes
            return cached
        tag, strict, overridable = self._resolve(declared, text)
        result = self._check(text, tag, strict)
        if overridable and tag and self._looks_foreign(text, result):
            guess, prob = detect.identify(text)
            if guess and prob >= detect.CONFIDENCE and guess != tag.split("_")[0]:
                tag, strict = self.chooser.choose(guess)
                result = self._check(text, tag, False)
        if len(blocks) >= BLOCK_CACHE_LIMIT:
            blocks.popitem(last=False)
        blocks[key] = result
        return result

    @staticmethod
    def _looks_foreign(text: str, result: BlockResult) -> bool:
        unknown = len(result.spelling)
        return unknown >= FOREIGN_MIN_UNKNOWN and unknown >= FOREIGN_RATIO * (text.count(" ") + 1)

    def _check(self, text: str, tag: str | None, strict: bool) -> BlockResult:
        if tag is None:
            return BlockResult(text, None, [], [])
        speller = self.speller(tag, strict)
        clean = normalise_apostrophes(text)
        spelling = [
            Issue("spelling", m.start, m.start + len(m.word), word=m.word, verdict=m.verdict)
            for m in speller.check(clean)
        ]
        result = BlockResult(text, tag, spelling)
        if not result.english:
            result.grammar = []
        elif self.builtin_grammar:
            result.grammar = self.builtin(clean, speller)
        return result

    def builtin(self, text: str, speller: Speller | None = None) -> list[Issue]:
        """The built-in grammar rules on an English text."""
        if speller is None:
            speller = self.speller(self.chooser.site_tag or "en_US", False)
        is_word = speller.dict.check
        return [Issue.grammar(m) for m in grammar.check(normalise_apostrophes(text), is_word)]

    @staticmethod
    def grammar_todo(analysed: list[tuple[Block, BlockResult]]) -> dict[str, list[BlockResult]]:
        """The page's blocks no grammar backend has looked at yet, by dictionary tag, each once."""
        todo: dict[str, list[BlockResult]] = defaultdict(list)
        seen: set[int] = set()
        for _, result in analysed:
            if result.grammar is None and id(result) not in seen:
                seen.add(id(result))
                todo[result.tag or ""].append(result)
        return todo

    def check_grammar(self, analysed: list[tuple[Block, BlockResult]], engine: Any) -> None:
        """Grammar of the page's pending blocks by ``engine`` (blocking: for tools and tests;
        the pipeline runs the engine on a thread of its own)."""
        for tag, results in self.grammar_todo(analysed).items():
            texts = [normalise_apostrophes(r.text) for r in results]
            for r, matches in zip(results, engine.check(texts, tag), strict=True):
                r.grammar = [Issue.grammar(m) for m in matches]

    # --- per page ---------------------------------------------------------------------------

    def analyse(
        self, html: str, page_lang: str = "", content_language: str = ""
    ) -> list[tuple[Block, BlockResult]]:
        """The blocks of a page with their (possibly cached) results."""
        html_lang, blocks, code = extract_blocks(html, self.selectors, with_code=True, own_host=self.host)
        for text in code:
            self.code_words.update(identifier_words(text))
        page_default = html_lang or page_lang or content_language.split(",")[0].strip()
        out = []
        for block in blocks:
            declared = "!" + block.lang if block.lang else page_default
            out.append((block, self.check_block(block.text, declared)))
            self.words += block.text.count(" ") + 1
        return out

    def page_findings(self, url: str, analysed: list[tuple[Block, BlockResult]]) -> list[dict]:
        """Findings to attach to the page now; holds back boilerplate and unknown words."""
        found: dict[str, dict] = {}
        for block, result in analysed:
            if result.tag is None or (not result.spelling and not result.grammar):
                continue
            bid = block_id(result.text, result.tag)
            for issue in result.spelling:
                low = issue.word.lower()
                blocks = self._word_blocks[low]
                if len(blocks) < RECURRING_BLOCKS:  # all that :meth:`_is_term` asks of it
                    blocks.add(bid)
                if issue.verdict == CANDIDATE:
                    self.candidates[issue.word] += 1
            if block.template:
                held = self._held.setdefault((result.text, result.tag), _Held(block, result))
                held.pages.setdefault(url, block.position)
                continue
            for issue in result.spelling:
                if issue.verdict == LIKELY:
                    if self._is_term(issue.word):
                        continue  # a term already (and for good): never reported, not held
                    ctx = sentence_around(result.text, issue.start, issue.end)
                    self._likely.append(_Likely(url, issue.word, ctx, result.tag, block.position, bid))
                elif issue.verdict == CERTAIN:
                    self._add(found, self.spelling_finding(url, issue, result, block.position))
            for issue in result.grammar or ():
                self._add(found, self.grammar_finding(url, issue, result, block.position))
        return list(found.values())

    @staticmethod
    def _add(found: dict[str, dict], item: dict) -> None:
        if item["key"] in found:
            found[item["key"]]["count"] += 1
        else:
            found[item["key"]] = item

    def spelling_finding(
        self,
        url: str,
        issue: Issue,
        result: BlockResult,
        position: int,
        suggestions: list[str] | None = None,
    ) -> dict:
        from pipelines.language import misspellings

        if suggestions is None:
            suggestions = list(misspellings.corrections(issue.word) or ())[:5]
        return finding(
            "spelling",
            url,
            "error",
            issue.word.lower(),
            word=issue.word,
            suggestions=suggestions,
            context=sentence_around(result.text, issue.start, issue.end),
            language=result.tag,
            confidence="certain" if issue.verdict == CERTAIN else "likely",
            position=position,
            count=1,
        )

    def grammar_finding(self, url: str, issue: Issue, result: BlockResult, position: int) -> dict:
        context = sentence_around(result.text, issue.start, issue.end)
        key = f"{issue.rule}:{normalise(issue.text)}:{context_hash(context)}"
        return finding(
            "grammar",
            url,
            "error",
            key,
            rule=issue.rule,
            message=issue.message,
            text=issue.text,
            suggestions=issue.suggestions[:5],
            context=context,
            language=result.tag,
            position=position,
            count=1,
        )

    # --- shared crawls: what a page leaves for the end of the crawl, and merging it ------------

    def take_held(self) -> dict[str, Any] | None:
        """What the pages checked since the last call left for :meth:`finalize` (and forget it
        here): a worker of a shared crawl keeps it with the page, and the worker that finishes
        the crawl merges every page's (:meth:`merge`). None when there is nothing."""
        held = {"held": self._held, "likely": self._likely, "word_blocks": dict(self._word_blocks),
                "code_words": self.code_words, "candidates": self.candidates,
                "words": self.words}
        self._held, self._likely, self._word_blocks = {}, [], defaultdict(set)
        self._likely_pruned = 0
        self.code_words, self.candidates, self.words = set(), Counter(), 0
        if not (held["held"] or held["likely"] or held["word_blocks"] or held["code_words"]
                or held["candidates"] or held["words"]):
            return None
        return held

    def merge(self, held: dict[str, Any]) -> None:
        """Add what :meth:`take_held` returned (in any process) to this checker's state."""
        for key, item in held["held"].items():
            mine = self._held.get(key)
            if mine is None:  # a copy: ``held`` may be kept (a page's state for the next crawl)
                self._held[key] = _Held(item.block, item.result, dict(item.pages))
            else:
                for url, position in item.pages.items():
                    mine.pages.setdefault(url, position)
        for word, blocks in held["word_blocks"].items():
            mine = self._word_blocks[word]
            for block in blocks:
                if len(mine) >= RECURRING_BLOCKS:  # a term: all that :meth:`_is_term` asks
                    break
                mine.add(block)
        self.code_words.update(held["code_words"])
        self.candidates.update(held["candidates"])
        self.words += held["words"]
        # A word that is a term now is one for good (blocks and code words only add up), and
        # :meth:`finalize` skips it: its occurrences are not held page after page.
        self._likely.extend(h for h in held["likely"] if not self._is_term(h.word))
        if len(self._likely) > 2 * self._likely_pruned + 1000:
            self._likely = [h for h in self._likely if not self._is_term(h.word)]
            self._likely_pruned = len(self._likely)

    # --- end of crawl -----------------------------------------------------------------------

    def _is_term(self, word: str) -> bool:
        low = word.lower()
        if len(self._word_blocks.get(low, ())) >= RECURRING_BLOCKS:
            return True
        return self._in_code(low)

    def _in_code(self, low: str) -> bool:
        """Whether ``low`` is a name used in code on the site, or a form of one written in prose:
        ``venvs`` (``venv``), ``decref'ing``, ``xor'ed``, ``picklable`` (``pickle``), ``unpickleable``."""
        code = self.code_words
        if low in code:
            return True
        if low.startswith("un") and low[2:] in code:
            return True
        for suffix in DERIVED_SUFFIXES:
            if low.endswith(suffix) and len(low) - len(suffix) >= 3:
                stem = low[: -len(suffix)]
                if stem in code or stem + "e" in code or (suffix[0] != "'" and _undouble(stem) in code):
                    return True
                if stem.startswith("un") and (stem[2:] in code or stem[2:] + "e" in code):
                    return True
        return False

    def pending_suggestions(self) -> list[tuple[str, str]]:
        """``(tag, word)`` pairs :meth:`finalize` will report and needs suggestions for."""
        words = {(h.tag, h.word) for h in self._likely if not self._is_term(h.word)}
        for held in self._held.values():
            for issue in held.result.spelling:
                if issue.verdict == LIKELY and not self._is_term(issue.word):
                    words.add((held.result.tag, issue.word))
        return sorted(words)

    def finalize(self, suggestions: Callable[[str, str], list[str]] | None = None) -> list[dict]:
        """Held findings: unknown words that turned out not to be terms, and boilerplate."""
        suggest = suggestions or (lambda tag, word: [])
        found: dict[tuple[str, str], dict] = {}  # (place, key) -> finding
        for h in self._likely:
            if self._is_term(h.word):
                continue
            item = finding(
                "spelling",
                h.url,
                "error",
                h.word.lower(),
                word=h.word,
                suggestions=suggest(h.tag, h.word)[:5],
                context=h.context,
                language=h.tag,
                confidence="likely",
                position=h.position,
                count=1,
            )
            if (h.url, item["key"]) in found:
                found[(h.url, item["key"])]["count"] += 1
            else:
                found[(h.url, item["key"])] = item
        for held in sorted(self._held.values(), key=lambda h: (h.result.text, h.result.tag)):
            pages = sorted(held.pages, key=lambda u: (len(u), u))
            url = self.site_url if self.site_url in held.pages else pages[0]
            position = held.pages[url]
            result = held.result
            items = []
            for issue in result.spelling:
                if issue.verdict == CERTAIN or (issue.verdict == LIKELY and not self._is_term(issue.word)):
                    fixes = suggest(result.tag, issue.word) if issue.verdict == LIKELY else None
                    items.append(self.spelling_finding(url, issue, result, position, fixes))
            for issue in result.grammar or ():
                items.append(self.grammar_finding(url, issue, result, position))
            # One problem wherever the crawl met the block first: identified by the block,
            # shown on a representative page, listing every page it is on.
            place = block_place(result.text, result.tag)
            for item in items:
                item["place"] = place
                item["pages"] = len(pages)
                item["example_pages"] = pages[:5]
                item["page_list"] = pages
                if (place, item["key"]) not in found:
                    found[(place, item["key"])] = item
        return sorted(found.values(), key=lambda f: (f["page_url"], f["type"], f["key"]))


def block_id(text: str, tag: str | None) -> int:
    """A block's identity for counting the distinct blocks a word is in: the same in every
    process (``hash()`` of a string is not), so workers of a shared crawl can merge counts."""
    return int.from_bytes(hashlib.blake2b(f"{tag or ''}\x1f{text}".encode(), digest_size=8)
                          .digest(), "big")


def _undouble(stem: str) -> str:
    """``"mapp"`` → ``"map"`` (as in "mapped"); other stems unchanged."""
    return stem[:-1] if len(stem) > 3 and stem[-1] == stem[-2] else stem


_IDENTIFIER = re.compile(r"[^\W\d_]+")
_CAMEL = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")


def identifier_words(code: str) -> set[str]:
    """The words code is written with, lower case: whole names and their parts
    (``shutil.rmtree()`` gives ``shutil`` and ``rmtree``; ``PyList_New``: ``pylist``, ``py``,
    ``list``, ``new``), so a name written in prose is recognised as a term of the site."""
    words = set()
    for name in _IDENTIFIER.findall(code):
        words.add(name.lower())
        if not name.islower():
            words.update(part.lower() for part in _CAMEL.findall(name))
    return words


def block_place(text: str, tag: str | None) -> str:
    """The identity of a site-wide text block (navigation, footer): ``block:<hash>``."""
    digest = hashlib.sha256(f"{tag or ''}\x1f{normalise(text)}".encode()).hexdigest()[:20]
    return f"block:{digest}"
