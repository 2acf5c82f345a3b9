"""The language check of a crawl's pages in a process of its own (``FLAWLESS_LANGUAGE_WORKERS``).

Spelling, Harper and our own grammar rules are CPU-bound Python that holds the GIL: in the
crawl process they compete with the spider for one core. :class:`LanguageWorkers` runs them in
worker processes instead (one by default), so the crawl uses a second core.

A worker holds one crawl's :class:`~pipelines.language.checker.LanguageChecker` (block cache,
the site's words, skip selectors, dictionaries) and the offline grammar engine; for each page
:func:`check` returns the page's findings and its share of the end-of-crawl decisions
(:meth:`~pipelines.language.checker.LanguageChecker.take_held`), which the crawl process merges
as it does in a shared crawl. Workers are started with ``spawn`` (never a fork of the process
running the reactor), at the first page that needs a full check: a re-crawl of unchanged pages
never starts one. This module imports neither Scrapy nor Twisted, so neither is loaded in a worker.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from flawless_spider.trim import Trimmer

logger = logging.getLogger(__name__)

MAX_DEATHS = 3
"""Workers that may die one after the other without checking a page in between; then the
crawl's remaining pages are stored without language findings instead of starting more."""


@dataclass(slots=True)
class Checked:
    """What :func:`check` returns for a page."""

    findings: list[dict]
    held: dict[str, Any] | None
    pid: int
    """The worker process that checked the page."""
    cpu: float
    """CPU seconds the worker used since its last answer (its start-up included)."""
    error: str = ""
    """The traceback when the check failed on this page (then ``findings`` is empty and
    ``held`` is what the page left before the failure, as in the crawl process)."""
    trimmed: bool = False
    """Whether the worker handed its freed memory back to the system after this page."""


class WorkerDiedError(Exception):
    """The worker process checking a page ended before answering (killed, crashed)."""


# -- in the worker process ----------------------------------------------------------------------

_checker: Any = None
_engine: Any = None
_suggester: Any = None
_trim: Any = None
_reported = 0.0


def _cpu() -> float:
    """CPU seconds of this worker since the last call."""
    global _reported
    used = time.process_time()
    cpu, _reported = used - _reported, used
    return cpu


def start(site_language: str, words: list[str], selectors: list[str], site_url: str) -> None:
    """Initialiser of a worker: the crawl's checker (the grammar engine comes with the first
    English block)."""
    global _checker, _trim
    # Ctrl-C reaches the whole process group: the crawl process shuts the worker down.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A crawl process killed outright (SIGKILL, out of memory) cannot: the worker ends with it.
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_end_with, args=(parent.sentinel,), name="flawless-parent",
                         daemon=True).start()
    from pipelines.language import detect
    from pipelines.language.checker import LanguageChecker
    from pipelines.language.extract import compile_selectors

    detect.prepare()  # here, not in the crawl process: it would load numpy there for nothing
    _checker = LanguageChecker(site_language, words, compile_selectors(selectors),
                               site_url=site_url, builtin_grammar=False)
    # Building Harper's linter and checking pages free a lot (measured: 21 MB of 216 in use).
    _trim = Trimmer()


def _end_with(sentinel: int) -> None:
    multiprocessing.connection.wait([sentinel])
    os._exit(1)


def check(url: str, html: str, lang: str, content_language: str) -> Checked:
    """Spelling and grammar of one page (in the worker)."""
    global _engine
    checker = _checker
    found, error = [], ""
    try:
        analysed = checker.analyse(html, lang, content_language)
        if checker.grammar_todo(analysed):
            if _engine is None:
                from pipelines.language.engine import OfflineGrammar

                _engine = OfflineGrammar()
            checker.check_grammar(analysed, _engine)
        found = checker.page_findings(url, analysed)
    except Exception:  # a bug on one odd page: the page's share of the state goes with it
        error = traceback.format_exc()
    held = checker.take_held()
    return Checked(found, held, os.getpid(), _cpu(), error, _trim())


def suggest(pairs: list[tuple[str, str]]) -> tuple[dict[tuple[str, str], list[str]], float]:
    """Spelling suggestions for ``(tag, word)`` pairs (in the worker), and the CPU seconds."""
    global _suggester
    if _suggester is None:
        from pipelines.language.suggest import Suggester

        _suggester = Suggester()
    return {pair: _suggester.suggest(*pair) for pair in pairs}, _cpu()


# -- in the crawl process -----------------------------------------------------------------------

class LanguageWorkers:
    """The crawl process's side: a pool of ``size`` worker processes, started at the first page.

    A worker that dies loses only the pages it was checking (:class:`WorkerDiedError`); the next
    page starts a new pool.
    """

    def __init__(self, size: int, site_language: str, words: list[str], selectors: list[str],
                 site_url: str):
        self.size = size
        self.initargs = (site_language, words, selectors, site_url)
        self._pool: ProcessPoolExecutor | None = None
        self.deaths = 0
        """Pools that broke one after the other without a page checked in between."""
        self.started = 0
        """Pools started in this crawl."""
        self.pids: set[int] = set()
        """Worker processes that checked a page."""
        self.cpu = 0.0
        """CPU seconds of the workers, as they reported them."""

    def _start(self) -> ProcessPoolExecutor:
        if self._pool is None:
            if self.deaths >= MAX_DEATHS:
                if self.deaths == MAX_DEATHS:
                    self.deaths += 1
                    logger.error("The language worker process ended %d times in a row; the"
                                 " crawl's other pages are stored without language findings",
                                 MAX_DEATHS)
                raise WorkerDiedError("no language worker")
            self._pool = ProcessPoolExecutor(self.size, multiprocessing.get_context("spawn"),
                                             initializer=start, initargs=self.initargs)
            self.started += 1
        return self._pool

    def _broken(self, pool: ProcessPoolExecutor) -> bool:
        """Forget ``pool`` after it broke; True the first time (one log line per death)."""
        if self._pool is not pool:
            return False
        self._pool = None
        self.deaths += 1
        pool.shutdown(wait=False, cancel_futures=True)
        return True

    async def check(self, url: str, html: str, lang: str, content_language: str) -> Checked:
        """The page checked by a worker; :class:`WorkerDiedError` if its worker ended first."""
        loop = asyncio.get_running_loop()
        pool = self._start()
        try:
            future = loop.run_in_executor(pool, check, url, html, lang, content_language)
        except BrokenProcessPool:
            # It died while idle: nothing was lost, the page goes to a new one.
            self._broken(pool)
            pool = self._start()
            future = loop.run_in_executor(pool, check, url, html, lang, content_language)
        logger.debug("Checking %s in a language worker", url)
        try:
            checked = await future
        except BrokenProcessPool as exc:
            if self._broken(pool):
                logger.error("The language worker process ended unexpectedly (%s); the pages it"
                             " was checking are stored without language findings", exc)
            raise WorkerDiedError(str(exc)) from None
        self.deaths = 0
        self.cpu += checked.cpu
        if checked.pid not in self.pids:
            self.pids.add(checked.pid)
            logger.info("The language check runs in worker process %d", checked.pid)
        return checked

    async def suggest(self, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], list[str]] | None:
        """Suggestions by a worker that is running (at the end of the crawl it has nothing else
        to do); None when none is (never starts one: a re-crawl of unchanged pages has none)."""
        pool = self._pool
        if pool is None:
            return None
        try:
            found, cpu = await asyncio.get_running_loop().run_in_executor(pool, suggest, pairs)
        except BrokenProcessPool:
            self._broken(pool)
            return None
        self.cpu += cpu
        return found

    def close(self) -> None:
        """Stop the workers (waits for them to exit: no process outlives the crawl)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
