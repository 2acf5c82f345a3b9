"""The sentence around a span of block text: the ``context`` field of a finding."""

from __future__ import annotations

import hashlib
import re

from pipelines.language.extract import MARK, PLACEHOLDER

MAX_CONTEXT = 240
_END = re.compile(r"[.!?][\"')\]]*\s")


def sentence_around(text: str, start: int, end: int) -> str:
    """The sentence of ``text`` holding ``text[start:end]``, trimmed to about 240 characters."""
    begin = 0
    for m in _END.finditer(text, 0, start):
        begin = m.end()
    m = _END.search(text, end)
    stop = m.end() if m else len(text)
    if stop - begin > MAX_CONTEXT:
        half = (MAX_CONTEXT - (end - start)) // 2
        lo = max(begin, start - max(half, 20))
        hi = min(stop, end + max(half, 20))
        sentence = ("…" if lo > begin else "") + text[lo:hi] + ("…" if hi < stop else "")
    else:
        sentence = text[begin:stop]
    return sentence.replace(PLACEHOLDER, "…").replace(MARK, "").strip()


def normalise(text: str) -> str:
    """Case- and whitespace-insensitive form of a span, for finding keys."""
    return " ".join(text.replace(PLACEHOLDER, "…").replace(MARK, "").lower().split())


def context_hash(context: str) -> str:
    """Short stable hash of a sentence, so a grammar key tells the same mistake in two places."""
    return hashlib.sha1(normalise(context).encode("utf-8")).hexdigest()[:12]
