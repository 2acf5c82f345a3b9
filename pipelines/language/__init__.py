"""The language stage: spelling and grammar of the visible text of every page.

Modules: :mod:`.extract` (visible text blocks), :mod:`.detect` (language identification),
:mod:`.dictionaries` (Hunspell via Enchant), :mod:`.tokens` (what is a word),
:mod:`.misspellings` (codespell's list), :mod:`.spelling`, :mod:`.grammar` (built-in rules),
:mod:`.languagetool` (optional server), :mod:`.suggest`, :mod:`.context`, :mod:`.checker` (one
crawl's check) and :mod:`.pipeline` (the Scrapy item pipeline).
"""

from pipelines.language.pipeline import LanguagePipeline

__all__ = ["LanguagePipeline"]
