"""Known English misspellings, from codespell's dictionary (shipped in the codespell package).

A word listed there (``recieve->receive``) and unknown to the Hunspell dictionary is a mistake
with certainty, and codespell's corrections are the best suggestions for it.
"""

from __future__ import annotations

import threading
from importlib import resources

_lock = threading.Lock()
_table: dict[str, str] | None = None


def _load() -> dict[str, str]:
    # Only split into typo and fixes here (a fifth of the time of parsing every line): a crawl
    # looks up a few hundred words, and :func:`corrections` parses the fixes of those.
    table: dict[str, str] = {}
    text = resources.files("codespell_lib").joinpath("data", "dictionary.txt").read_text("utf-8")
    for line in text.splitlines():
        typo, sep, fixes = line.partition("->")
        if sep:
            table[typo.strip().lower()] = fixes
    return table


def table() -> dict[str, str]:
    """``typo → corrections`` as codespell writes them (``"fix1, fix2,"``), typos in lower case."""
    global _table
    with _lock:
        if _table is None:
            _table = _load()
        return _table


def _fixes(text: str) -> tuple[str, ...]:
    # "typo->fix1, fix2," lists fixes; "typo->fix1, fix2, reason" (no trailing comma) explains
    values = [v.strip() for v in text.split(",")]
    if len(values) > 1 and values[-1]:
        values = values[:-1]
    return tuple(v for v in values if v)


def corrections(word: str) -> tuple[str, ...] | None:
    """codespell's corrections of ``word`` in the word's own case, or ``None`` if not a known typo."""
    raw = table().get(word.lower())
    if raw is None:
        return None
    fixes = _fixes(raw)
    if word[:1].isupper():
        return tuple(f[:1].upper() + f[1:] for f in fixes)
    return fixes
