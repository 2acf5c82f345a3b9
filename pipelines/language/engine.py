"""The offline grammar check: Harper's chosen rules plus our own rules where they add recall.

Blocking work (Harper takes milliseconds per page): :class:`GrammarWorker` runs it on one
thread of its own, which also owns the Harper linters and the Enchant dictionary the rules use
(neither may be used from two threads at once), so the reactor thread never waits on it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

import enchant

from pipelines.language import grammar
from pipelines.language.dictionaries import PROVIDER
from pipelines.language.grammar import Match
from pipelines.language.harper import RULES as HARPER_RULES
from pipelines.language.harper import HarperChecker

OWN_RULES: frozenset[str] = frozenset(grammar.OWN_RULES)
"""Our own rules that run beside Harper's (see :data:`pipelines.language.grammar.OWN_RULES`)."""


class OfflineGrammar:
    """Grammar of English blocks without a server. Blocking; use from one thread."""

    def __init__(
        self,
        harper_rules: frozenset[str] | None = HARPER_RULES,
        own_rules: Iterable[str] | None = OWN_RULES,
        use_harper: bool = True,
    ):
        self.harper = HarperChecker(harper_rules) if use_harper else None
        self.own_rules = None if own_rules is None else frozenset(own_rules)
        self._broker: enchant.Broker | None = None
        self._dicts: dict[str, enchant.Dict | None] = {}

    def _is_word(self, tag: str):
        if tag not in self._dicts:
            if self._broker is None:
                self._broker = enchant.Broker()
            self._broker.set_ordering(tag, PROVIDER)
            try:
                self._dicts[tag] = self._broker.request_dict(tag)
            except enchant.errors.Error:
                self._dicts[tag] = None
        d = self._dicts[tag]
        return d.check if d is not None else (lambda word: True)

    def check(self, texts: list[str], tag: str = "en_US") -> list[list[Match]]:
        """Matches per text; overlapping matches are dropped (the earlier, longer one stays)."""
        found = self.harper.check(texts, tag) if self.harper is not None else [[] for _ in texts]
        is_word = self._is_word(tag)
        for text, matches in zip(texts, found, strict=True):
            own = grammar.check(text, is_word, self.own_rules)
            if own:
                matches.extend(own)
        return [_without_overlaps(m) for m in found]


def _without_overlaps(found: list[Match]) -> list[Match]:
    found.sort(key=lambda m: (m.start, -m.end))
    out: list[Match] = []
    last_end = -1
    for m in found:
        if m.start >= last_end:
            out.append(m)
            last_end = m.end
    return out


class GrammarWorker:
    """Runs an :class:`OfflineGrammar` on a thread of its own."""

    def __init__(self, engine: OfflineGrammar | None = None):
        self._engine = engine
        self._executor: ThreadPoolExecutor | None = None
        self.cpu = 0.0
        """CPU seconds spent on the grammar thread."""

    def _check(self, texts: list[str], tag: str) -> list[list[Match]]:
        start = time.thread_time()
        try:
            if self._engine is None:
                self._engine = OfflineGrammar()
            return self._engine.check(texts, tag)
        finally:
            self.cpu += time.thread_time() - start

    async def check(self, texts: list[str], tag: str) -> list[list[Match]]:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="flawless-grammar")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._check, texts, tag)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
