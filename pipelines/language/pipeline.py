"""The language stage of the crawl: spelling and grammar findings on every HTML page."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import scrapy
from scrapy.exceptions import NotConfigured

from flawless_spider.dismissals import Dismissals
from flawless_spider.items import FindingsBatch, Page
from flawless_spider.lifecycle import CrawlLifecycle
from pipelines.language import detect
from pipelines.language.checker import BlockResult, Issue, LanguageChecker
from pipelines.language.engine import GrammarWorker
from pipelines.language.extract import compile_selectors
from pipelines.language.languagetool import (
    MAX_CHARS,
    LanguageToolClient,
    LanguageToolError,
    lt_language,
)
from pipelines.language.suggest import Suggester
from pipelines.language.tokens import normalise as normalise_apostrophes
from pipelines.language.worker import LanguageWorkers, WorkerDiedError

logger = logging.getLogger(__name__)


def _selectors(value: Any) -> list[str]:
    if not value:
        return []
    if isinstance(value, str):
        return [s for s in value.split(",") if s.strip()]
    return [str(s) for s in value]


class LanguagePipeline:
    """Checks the visible text of each :class:`Page` (see :mod:`pipelines.language.checker`).

    Settings: ``FLAWLESS_LANGUAGE_ENABLED``, ``FLAWLESS_SKIP_SELECTORS`` (plus the site's
    ``skip_selectors``), ``FLAWLESS_LANGUAGE_WORKERS``, ``LANGUAGETOOL_URL`` (grammar by a
    LanguageTool server instead of the offline engine; on its failure the offline engine takes
    over for the page).

    By default a page is checked in a worker process (:mod:`pipelines.language.worker`: spelling,
    then grammar by the offline engine, Harper plus our own rules), so the check has a core of
    its own. With ``FLAWLESS_LANGUAGE_WORKERS = 0``, or with a LanguageTool server (reached
    through Scrapy's downloader), pages are checked in the crawl process: spelling on the
    reactor thread, grammar on a thread of its own or by the server, so the reactor thread
    never waits on it.
    """

    def __init__(self, crawler: scrapy.crawler.Crawler):
        self.crawler = crawler
        settings = crawler.settings
        self.skip_selectors = _selectors(settings.get("FLAWLESS_SKIP_SELECTORS"))
        self.lt_url = (settings.get("LANGUAGETOOL_URL") or "").strip()
        self.lt_max_chars = settings.getint("FLAWLESS_LANGUAGETOOL_MAX_CHARS", MAX_CHARS)
        self.lt: LanguageToolClient | None = None
        self.workers_wanted = 0 if self.lt_url else settings.getint("FLAWLESS_LANGUAGE_WORKERS", 1)
        self.workers: LanguageWorkers | None = None
        """Worker processes that check the pages (None: checked in this process)."""
        self.checker: LanguageChecker | None = None
        self.totals: LanguageChecker | None = None
        """Every page's share of the end-of-crawl decisions, checked now or reused (in a shared
        crawl, the finishing worker's merge of every worker's)."""
        self.suggester = Suggester()
        self.grammar = GrammarWorker()
        self.site_id = 0
        self.crawl_id = 0
        self.crawl: CrawlLifecycle | None = None
        self.shared = False
        self.ignored = Dismissals()
        """What the owner marked "not a mistake": grammar (rule, text) here; words are in ``words``."""
        self.cpu = 0.0
        """CPU seconds of the stage's own work on the reactor thread (see :meth:`cpu_seconds`)."""

    @classmethod
    def from_crawler(cls, crawler: scrapy.crawler.Crawler) -> LanguagePipeline:
        if not crawler.settings.getbool("FLAWLESS_LANGUAGE_ENABLED", True):
            raise NotConfigured("FLAWLESS_LANGUAGE_ENABLED is off")
        return cls(crawler)

    async def open_spider(self) -> None:
        crawl = CrawlLifecycle.of(self.crawler)
        if crawl is None:
            logger.info("The language stage needs a Flawless crawl: %s is left alone",
                        self.crawler.spider.name)
            return
        site = crawl.site
        self.crawl = crawl
        self.shared = crawl.shared is not None
        self.site_id = site.id
        self.crawl_id = crawl.crawl_id
        site_settings = getattr(site, "settings", None) or {}
        selectors = compile_selectors(self.skip_selectors + _selectors(site_settings.get("skip_selectors")))
        words, self.ignored = await self._site_words(site.id)
        if not self.workers_wanted:  # a worker prepares the detector itself, off this process
            await asyncio.to_thread(detect.prepare)
        start = time.thread_time()
        if self.lt_url:
            self.lt = LanguageToolClient(self.lt_url, self._engine_post, self.lt_max_chars)
        if self.workers_wanted:
            # Selectors go as text (compiled above: an invalid one stops the crawl here).
            self.workers = LanguageWorkers(
                self.workers_wanted,
                getattr(site, "language", "") or "en_US",
                words,
                self.skip_selectors + _selectors(site_settings.get("skip_selectors")),
                getattr(site, "url", ""),
            )
        else:
            self.checker = LanguageChecker(
                getattr(site, "language", "") or "en_US",
                words,
                selectors,
                site_url=getattr(site, "url", ""),
                builtin_grammar=False,
            )
        self.totals = LanguageChecker(site_url=getattr(site, "url", ""), builtin_grammar=False,
                                      available=[])
        self.cpu += time.thread_time() - start
        crawl.add_finalizer(self.finalize)

    async def _site_words(self, site_id: int) -> tuple[list[str], Dismissals]:
        """The site's words, and what it marked not a mistake."""
        from flawless_spider.db import Database

        db = Database.from_crawler(self.crawler)

        def fetch() -> tuple[list[str], Dismissals]:
            with db.transaction() as cur:
                cur.execute("SELECT word FROM site_words WHERE site_id = %s", (site_id,))
                words = [row["word"] for row in cur.fetchall()]
                return words, Dismissals.load(cur, site_id)

        return await db.run(fetch)

    def _kept(self, findings: list[dict]) -> list[dict]:
        """``findings`` without the grammar ones the owner dismissed (that rule, that text)."""
        if not self.ignored.grammar:
            return findings
        return [f for f in findings if f.get("type") != "grammar"
                or not self.ignored.grammar_ignored(f.get("rule"), f.get("text"))]

    async def process_item(self, item: Any) -> Any:
        if not isinstance(item, Page) or self.totals is None:
            return item
        if item.reused:
            self._reuse(item)
            return item
        if not item.html:
            return item
        if self.workers is not None:
            await self._in_worker(item)
        else:
            await self._here(item)
        if self.ignored.grammar:
            item.findings[:] = self._kept(item.findings)
        return item

    async def _in_worker(self, item: Page) -> None:
        """The page checked by a worker process; if the worker dies first, the page is stored
        without language findings and the crawl is recorded as incomplete."""
        assert self.workers is not None
        try:
            checked = await self.workers.check(item.url, item.html, item.lang,
                                               item.headers.get("content-language", ""))
        except WorkerDiedError:
            self.crawler.stats.inc_value("flawless/check_errors/language")
            item.check_failed.append("language")
            return
        self.crawler.stats.set_value("flawless/language/worker_pid", checked.pid)
        if checked.trimmed:
            self.crawler.stats.inc_value("flawless/memory/worker_trims")
        start = time.thread_time()
        if checked.error:  # a bug on one odd page (see _here)
            logger.error("The language stage failed on %s (in worker process %d):\n%s",
                         item.url, checked.pid, checked.error.rstrip())
            self.crawler.stats.inc_value("flawless/check_errors/language")
            item.check_failed.append("language")
            self._share(item, checked.held)
            return
        found = self._kept(checked.findings)
        item.findings.extend(found)
        self._share(item, checked.held)
        item.recrawl["language"] = {"findings": found, "held": checked.held}
        self.cpu += time.thread_time() - start

    async def _here(self, item: Page) -> None:
        """The page checked in this process (``FLAWLESS_LANGUAGE_WORKERS = 0``, LanguageTool)."""
        assert self.checker is not None
        try:
            start = time.thread_time()
            analysed = self.checker.analyse(item.html, item.lang, item.headers.get("content-language", ""))
            self.cpu += time.thread_time() - start
            if self.lt is not None:
                await self._languagetool(analysed)
            else:
                await self._offline(analysed)
            start = time.thread_time()
            found = self._kept(self.checker.page_findings(item.url, analysed))
            item.findings.extend(found)
            held = self.checker.take_held()
            self._share(item, held)
            # For a later crawl that finds the page unchanged (see flawless_spider.recrawl).
            item.recrawl["language"] = {"findings": found, "held": held}
            self.cpu += time.thread_time() - start
        except Exception:
            # A bug on one odd page must not lose the page: it is stored without language
            # findings and the crawl is recorded as incomplete (see CrawlRecorder).
            logger.exception("The language stage failed on %s", item.url)
            self.crawler.stats.inc_value("flawless/check_errors/language")
            item.check_failed.append("language")
            self._share(item, self.checker.take_held())

    def _share(self, item: Page, held: dict[str, Any] | None) -> None:
        """The page's share of the end-of-crawl decisions goes to the totals (in a shared
        crawl, with the page, to the worker that finishes the crawl)."""
        if held is None:
            return
        if self.shared:
            item.held["language"] = held
        else:
            assert self.totals is not None
            self.totals.merge(held)

    def _reuse(self, item: Page) -> None:
        """An unchanged page: its stored findings, and its stored share of the end-of-crawl
        decisions (so boilerplate and recurring words come out as from a full check)."""
        stored = item.recrawl.get("language")
        if stored is None:  # not checked by this stage last time: no evidence now either
            item.check_failed.append("language")
            return
        item.findings.extend(stored["findings"])
        self._share(item, stored["held"])
        self.crawler.stats.inc_value("flawless/language/pages_reused")

    async def _offline(self, analysed: list, todo: dict[str, list[BlockResult]] | None = None) -> None:
        """Grammar of the page's not-yet-checked English blocks by the offline engine, batched
        per page and run on the grammar thread."""
        for tag, results in (todo if todo is not None else self.checker.grammar_todo(analysed)).items():
            texts = [normalise_apostrophes(r.text) for r in results]
            for r, matches in zip(results, await self.grammar.check(texts, tag), strict=True):
                r.grammar = [Issue.grammar(m) for m in matches]

    async def _languagetool(self, analysed: list) -> None:
        """Grammar of the page's not-yet-checked English blocks by the LanguageTool server."""
        todo = self.checker.grammar_todo(analysed)
        for tag, results in todo.items():
            try:
                matches = await self.lt.check([r.text for r in results], lt_language(tag))
            except LanguageToolError as exc:
                logger.warning("%s; using the offline grammar engine for this page", exc)
                await self._offline(analysed, {tag: results})
                continue
            for r in results:
                r.grammar = []
            for m in matches:
                results[m.block].grammar.append(Issue.grammar(m))

    async def _engine_post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        """POST through Scrapy's downloader: never blocks the reactor; the URL is trusted config."""
        request = scrapy.Request(
            url,
            method="POST",
            body=body,
            headers=headers,
            dont_filter=True,
            meta={
                "dont_obey_robotstxt": True,
                "handle_httpstatus_all": True,
                "flawless_trusted": True,
                "download_timeout": 60,
            },
        )
        try:
            response = await self.crawler.engine.download_async(request)
        except Exception as exc:  # connection refused, timeout, DNS: all mean "not available"
            raise LanguageToolError(f"LanguageTool unreachable: {exc!r}") from exc
        return response.status, response.body

    async def finalize(self) -> list[FindingsBatch]:
        """Findings held until the crawl fetched everything (unknown words, boilerplate)."""
        if self.totals is None:
            return []
        if self.shared and self.crawl is not None:
            for held in await self.crawl.held("language"):
                self.totals.merge(held)
        start = time.thread_time()
        pending = self.totals.pending_suggestions()
        self.cpu += time.thread_time() - start
        suggestions = await self._suggestions(pending)
        start = time.thread_time()
        findings = self._kept(
            self.totals.finalize(lambda tag, word: suggestions.get((tag, word), [])))
        self.cpu += time.thread_time() - start
        stats = self.crawler.stats
        if stats is not None:
            # Evidence for "fixed": spelling and grammar were checked on every page of this crawl.
            stats.set_value("flawless/checked/spelling", True)
            stats.set_value("flawless/checked/grammar", True)
            stats.set_value("flawless/language/words", self.totals.words)
            stats.set_value("flawless/language/candidate_words", len(self.totals.candidates))
            stats.set_value("flawless/language/cpu_seconds", round(self.cpu_seconds(), 3))
        if not findings:
            return []
        return [FindingsBatch(self.site_id, self.crawl_id, findings, source="language")]

    async def _suggestions(self, pending: list[tuple[str, str]]) -> dict[tuple[str, str], list[str]]:
        """Suggestions for the words :meth:`finalize` reports (Hunspell: tens of milliseconds a
        word): half on the suggestion thread, half in the language worker when one is running,
        so both cores work on them."""
        if self.workers is None or len(pending) < 2:
            return await self.suggester.suggest_many(pending)
        mine, theirs = await asyncio.gather(self.suggester.suggest_many(pending[::2]),
                                            self.workers.suggest(pending[1::2]))
        if theirs is None:
            theirs = await self.suggester.suggest_many(pending[1::2])
        return {**mine, **theirs}

    def cpu_seconds(self) -> float:
        """CPU time of the language stage in this crawl: its work on the reactor thread, the
        grammar thread and the suggestion thread (not the await between them). Words checked
        divided by this is the stage's speed in words per CPU second. With worker processes,
        their CPU time is counted too."""
        workers = self.workers.cpu if self.workers is not None else 0.0
        return self.cpu + self.grammar.cpu + self.suggester.cpu + workers

    def close_spider(self) -> None:
        if self.workers is not None:
            self.workers.close()
        self.suggester.close()
        self.grammar.close()
