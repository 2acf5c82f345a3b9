"""Spelling suggestions, computed off the reactor thread and cached.

Hunspell's ``suggest`` takes tens of milliseconds per word, and an Enchant dictionary must not be
used from two threads at once; so suggestions come from a dictionary of their own, owned by one
worker thread.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import enchant

from pipelines.language import misspellings
from pipelines.language.dictionaries import PROVIDER

LIMIT = 5


class Suggester:
    def __init__(self) -> None:
        self._executor: ThreadPoolExecutor | None = None
        self._broker: enchant.Broker | None = None
        self._dicts: dict[str, enchant.Dict | None] = {}
        self._cache: dict[tuple[str, str], list[str]] = {}
        self.cpu = 0.0
        """CPU seconds spent on the suggestion thread."""

    def _dict(self, tag: str) -> enchant.Dict | None:
        if tag not in self._dicts:
            if self._broker is None:
                self._broker = enchant.Broker()
            self._broker.set_ordering(tag, PROVIDER)
            try:
                d = self._broker.request_dict(tag)
                self._dicts[tag] = d if d.provider.name == PROVIDER else None
            except enchant.errors.Error:
                self._dicts[tag] = None
        return self._dicts[tag]

    def suggest(self, tag: str, word: str) -> list[str]:
        """Up to five corrections: codespell's first, then Hunspell's (blocking; cached)."""
        key = (tag, word)
        if key in self._cache:
            return self._cache[key]
        out: list[str] = []
        if tag.startswith("en"):
            out.extend(misspellings.corrections(word) or ())
        d = self._dict(tag)
        if d is not None and len(out) < LIMIT:
            candidates = d.suggest(word)
            # "me sage" for "mesage": split words only when nothing better came up
            candidates.sort(key=lambda s: " " in s or "-" in s)
            for s in candidates:
                if s not in out and s.lower() != word.lower():
                    out.append(s)
        self._cache[key] = out[:LIMIT]
        return self._cache[key]

    def _many(self, items: list[tuple[str, str]]) -> dict[tuple[str, str], list[str]]:
        start = time.thread_time()
        try:
            return {item: self.suggest(*item) for item in items}
        finally:
            self.cpu += time.thread_time() - start

    async def suggest_many(self, items: list[tuple[str, str]]) -> dict[tuple[str, str], list[str]]:
        """Suggestions for ``(tag, word)`` pairs, computed on the suggester's own thread."""
        if not items:
            return {}
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="flawless-suggest")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._many, items)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
