"""Spell-checking of text blocks against one Hunspell dictionary, with per-chunk caching.

Every word gets a verdict: ``OK``; ``CANDIDATE`` (unknown but capitalised, foreign-looking:
names, brands — material for the site's dictionary, never reported); ``LIKELY`` (an unknown
lower-case word); ``CERTAIN`` (a misspelling codespell knows). Verdicts are cached per
whitespace-delimited chunk, so a warm checker does one dict lookup per word of text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources

import enchant

from pipelines.language import misspellings
from pipelines.language.dictionaries import hunspell_dict
from pipelines.language.grammar import MISSING_APOSTROPHE_WORDS
from pipelines.language.tokens import PREFIXES, chunk_words, is_checkable

OK, CANDIDATE, LIKELY, CERTAIN = 0, 1, 2, 3


@cache
def computing_terms() -> frozenset[str]:
    """Common computing words Hunspell lacks (``config``, ``stdout``): accepted in English."""
    text = resources.files("pipelines.language").joinpath("data", "computing.txt").read_text()
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


_CHUNK = re.compile(r"\S+")
APOSTROPHE_ENDINGS = frozenset(("ed", "ing", "d", "th", "er", "ers"))
CACHE_LIMIT = 100_000
"""Distinct words and chunks whose verdicts are remembered (then the cache starts again): the
words of a language repeat soon, a large site's names and numbers need not stay in memory."""


@dataclass(slots=True)
class Misspelling:
    word: str
    """The word as written (apostrophes normalised)."""
    verdict: int
    start: int
    """Offset in the block text (of its chunk, if the word was normalised)."""


class Speller:
    """Checks text against the Hunspell dictionary ``tag``.

    ``strict`` is false when the page only said ``en`` (no region): a word any installed variant
    of the language knows (``colour`` for an ``en_US`` site) is then accepted.
    """

    def __init__(self, tag: str, strict: bool = True, accepted: Iterable[str] = ()):
        d = hunspell_dict(tag)
        if d is None:
            raise LookupError(f"no Hunspell dictionary for {tag!r}")
        self.tag = tag
        self.dict: enchant.Dict = d
        self.variants: list[enchant.Dict] = []
        if not strict:
            primary = tag.split("_")[0]
            from pipelines.language.dictionaries import installed_languages

            for other in installed_languages():
                if other != tag and other.split("_")[0] == primary:
                    variant = hunspell_dict(other)
                    if variant is not None:
                        self.variants.append(variant)
        self.english = tag.split("_")[0] == "en"
        self.accepted = {w.lower() for w in accepted}
        if self.english:
            self.accepted |= computing_terms()
        self._chunks: dict[str, tuple[tuple[str, int], ...]] = {}
        self._words: dict[str, int] = {}

    def known(self, word: str) -> bool:
        """Whether the dictionary (or a variant, or the site's own list) has ``word``."""
        if self.dict.check(word) or any(v.check(word) for v in self.variants):
            return True
        return word.lower() in self.accepted

    def verdict(self, word: str) -> int:
        """The verdict on one word (cached)."""
        try:
            return self._words[word]
        except KeyError:
            pass
        result = self._verdict(word)
        if len(self._words) > CACHE_LIMIT:
            self._words.clear()
        self._words[word] = result
        return result

    def _verdict(self, word: str) -> int:
        if not is_checkable(word) or self.known(word):
            return OK
        if self.english and (word.lower() in MISSING_APOSTROPHE_WORDS or word.startswith("i'")):
            return OK  # "dont", "i've": the grammar rules report these, with the right form
        if word[0].isupper() and self.known(word.lower()):
            return OK  # sentence start, title case
        if self.english and misspellings.corrections(word) is not None:
            return CERTAIN
        if word.islower() and (len(word) < 3 or self._compound(word) or self._marked_form(word)):
            return OK  # "zd", "maxlines", "webserver", "unpickles": format codes and identifiers
        if word[0].isupper() or (not word.isascii() and self.english):
            return CANDIDATE
        return LIKELY

    def _marked_form(self, word: str) -> bool:
        """ "or'ed", "m'th", "xz'ed": an ending set off by an apostrophe from a word or a short
        name; nobody misspells a word by adding an apostrophe to it."""
        stem, sep, ending = word.rpartition("'")
        return bool(sep) and ending in APOSTROPHE_ENDINGS and (len(stem) <= 3 or self.known(stem))

    def _compound(self, word: str) -> bool:
        """Whether ``word`` is two known words run together (each of three letters or more) or
        a prefix and a known word: how identifiers are named, not how words are misspelt."""
        for i in range(2, len(word) - 2):
            head, tail = word[:i], word[i:]
            if head in PREFIXES and len(tail) >= 4 and self.known(tail):
                return True
            if i >= 3 and self.known(head) and self.known(tail):
                return True
        return False

    def chunk(self, chunk: str) -> tuple[tuple[str, int], ...]:
        """Non-OK ``(word, verdict)`` pairs of one whitespace-delimited chunk (cached)."""
        try:
            return self._chunks[chunk]
        except KeyError:
            pass
        parts = chunk_words(chunk)
        found: list[tuple[str, int]] = []
        if len(parts) == 1:
            v = self.verdict(parts[0])
            if v:
                found.append((parts[0], v))
        elif parts and not self.known("-".join(parts)):
            for part in parts:
                if part.lower() in PREFIXES:
                    continue
                v = self.verdict(part)
                if v:
                    found.append((part, v))
        result = tuple(found)
        if len(self._chunks) > CACHE_LIMIT:
            self._chunks.clear()
        self._chunks[chunk] = result
        return result

    def check(self, text: str) -> list[Misspelling]:
        """The words of ``text`` that are not OK, in order."""
        cache = self._chunks
        bad = None
        for chunk in text.split():
            hit = cache.get(chunk)
            if hit is None:
                hit = self.chunk(chunk)
            if hit:
                if bad is None:
                    bad = set()
                bad.add(chunk)
        if bad is None:
            return []
        found = []
        for m in _CHUNK.finditer(text):
            if m.group() in bad:
                chunk = m.group()
                for word, v in cache.get(chunk) or self.chunk(chunk):
                    found.append(Misspelling(word, v, m.start() + max(chunk.find(word), 0)))
        return found
