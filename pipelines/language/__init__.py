"""The language stage: spelling and grammar of the visible text of every page.

Modules: :mod:`.extract` (visible text blocks), :mod:`.detect` (language identification),
:mod:`.dictionaries` (Hunspell via Enchant), :mod:`.tokens` (what is a word),
:mod:`.misspellings` (codespell's list), :mod:`.spelling`, :mod:`.grammar` (built-in rules),
:mod:`.languagetool` (optional server), :mod:`.suggest`, :mod:`.context`, :mod:`.checker` (one
crawl's check), :mod:`.worker` (the check in a process of its own) and :mod:`.pipeline` (the
Scrapy item pipeline).
"""

from __future__ import annotations

from typing import Any

__all__ = ["LanguagePipeline"]


def __getattr__(name: str) -> Any:
    # Imported on first use, so the language worker process (pipelines.language.worker) does
    # not import Scrapy with the pipeline.
    if name == "LanguagePipeline":
        from pipelines.language.pipeline import LanguagePipeline

        return LanguagePipeline
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
