"""Known English misspellings, from codespell's dictionary (shipped in the codespell package).

A word listed there (``recieve->receive``) and unknown to the Hunspell dictionary is a mistake
with certainty, and codespell's corrections are the best suggestions for it.
"""

from __future__ import annotations

import threading
from importlib import resources

_lock = threading.Lock()
_table: dict[str, tuple[str, ...]] | None = None


def _load() -> dict[str, tuple[str, ...]]:
    table: dict[str, tuple[str, ...]] = {}
    text = resources.files("codespell_lib").joinpath("data", "dictionary.txt").read_text("utf-8")
    for line in text.splitlines():
        typo, sep, fixes = line.partition("->")
        if not sep:
            continue
        # "typo->fix1, fix2," lists fixes; "typo->fix1, fix2, reason" (no trailing comma) explains
        values = [v.strip() for v in fixes.split(",")]
        if len(values) > 1 and values[-1]:
            values = values[:-1]
        table[typo.strip().lower()] = tuple(v for v in values if v)
    return table


def table() -> dict[str, tuple[str, ...]]:
    """``typo → corrections`` (lower case)."""
    global _table
    with _lock:
        if _table is None:
            _table = _load()
        return _table


def corrections(word: str) -> tuple[str, ...] | None:
    """codespell's corrections of ``word`` in the word's own case, or ``None`` if not a known typo."""
    fixes = table().get(word.lower())
    if fixes is None:
        return None
    if word[:1].isupper():
        return tuple(f[:1].upper() + f[1:] for f in fixes)
    return fixes
