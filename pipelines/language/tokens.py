"""Words worth spell-checking in a run of text, and the tokens that are not words at all.

Text is split on whitespace into chunks; a chunk that looks like a URL, an e-mail address, a
domain or file name, a path, a handle, a number, a command-line option (``--noinput``), code
(digits, underscores, operators) is skipped whole. The remaining chunks give words; ALL-CAPS,
CamelCase and single letters are not checked either, because in real pages they are acronyms,
product names and variables far more often than mistakes.
"""

from __future__ import annotations

import re
from functools import lru_cache

from pipelines.language.extract import MARK, PLACEHOLDER

APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u2032": "'", "`": "'"})
_EDGE = "\"'()[]{}<>.,;:!?\u2026\u2014\u2013\u00ab\u00bb\u201c\u201d\u201e*\u00bf\u00a1" + PLACEHOLDER + MARK
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")
_CODEY = re.compile(r"[\d_=<>{}\[\]|~^$%*+&#@/\\;:()\"!?" + PLACEHOLDER + MARK + r"]")
_HYPHENS = re.compile(r"[-\u2010\u2011]")

PREFIXES = frozenset(
    [
        "re",
        "co",
        "non",
        "pre",
        "post",
        "un",
        "anti",
        "multi",
        "sub",
        "super",
        "semi",
        "self",
        "inter",
        "intra",
        "over",
        "under",
        "mid",
        "pro",
        "de",
        "bi",
        "tri",
        "ex",
        "micro",
        "macro",
        "meta",
        "auto",
        "cross",
        "counter",
        "mis",
        "out",
        "hyper",
        "mini",
        "e",
    ]
)
"""Hyphenated prefixes that are not words on their own (``re-enter``, ``non-trivial``)."""


def normalise(word: str) -> str:
    """Typographic apostrophes to ASCII, so the typographic and ASCII forms of "don't" are the same word."""
    return word.translate(APOSTROPHES)


def is_checkable(word: str) -> bool:
    """A word spell-checking can judge: not a single letter, not ALL-CAPS, not CamelCase."""
    if len(word) < 2:
        return False
    rest = word[1:]
    return rest == rest.lower()


@lru_cache(maxsize=200_000)
def chunk_words(chunk: str) -> tuple[str, ...]:
    """The word parts of a whitespace-delimited chunk; ``()`` for chunks that are not prose.

    Several parts mean a hyphenated compound: the caller accepts it when the whole is a word or
    every part is.
    """
    chunk = normalise(chunk).strip(_EDGE)
    if not chunk or "://" in chunk or chunk.startswith("www."):
        return ()
    if chunk[0] == "-" and len(chunk) > 1 and (chunk[1] == "-" or chunk[1].isalpha()):
        return ()  # a command-line option: --noinput, -v
    if chunk.endswith(("'s", "'S")):
        chunk = chunk[:-2]
    chunk = chunk.strip("'-")
    if not chunk or "." in chunk or _CODEY.search(chunk):
        # domains, file names, abbreviations (e.g.), paths, handles, numbers, code
        return ()
    parts = tuple(p for p in _HYPHENS.split(chunk) if p)
    for part in parts:
        if not _WORD.fullmatch(part):
            return ()  # mixed scripts, stray symbols: not a word we can judge
    return parts
