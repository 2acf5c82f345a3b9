"""The language stage on a site of real prose with planted mistakes: recall and precision.

``tests/sites/prose`` holds pages of the Python tutorial and the Apache License with real
misspellings (from codespell's list) and grammar mistakes planted, listed in ``_expected.json``,
among the usual distractors: brand names, code, a German paragraph, e-mail addresses, URLs,
acronyms, hidden text. The pipeline runs on real :class:`Page` items with a real database.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from scrapy import Spider
from scrapy.extension import ExtensionManager
from scrapy.utils.test import get_crawler

from flawless_spider.findings import TYPE_FIELDS
from flawless_spider.items import FindingsBatch, Page
from flawless_spider.lifecycle import CrawlLifecycle
from pipelines.language import LanguagePipeline

SITE = Path(__file__).parent / "sites" / "prose"
BASE = "http://prose.test/"


def run_site(db_url: str, site_id: int, settings: dict | None = None, words=()):
    """Run the pipeline over every page of the prose site; returns (page findings, finalized)."""
    expected = json.loads((SITE / "_expected.json").read_text())
    crawler = get_crawler(Spider, {"DATABASE_URL": db_url, **(settings or {})})
    site = SimpleNamespace(
        id=site_id,
        url=BASE,
        domain="prose.test",
        language="en_US",
        settings={"skip_selectors": expected["skip_selectors"]},
    )
    crawler.spider = Spider(name="prose")
    lifecycle = CrawlLifecycle(crawler, site, crawl_id=1, kind="full")
    crawler.extensions = ExtensionManager(lifecycle, crawler=crawler)

    async def go():
        pipeline = LanguagePipeline.from_crawler(crawler)
        await pipeline.open_spider()
        found = []
        for path in sorted(SITE.glob("*.html")):
            name = "" if path.name == "index.html" else path.name
            page = Page(url=BASE + name, final_url=BASE + name, status=200, site_id=site_id,
                        crawl_id=1, html=path.read_text("utf-8"), lang="en",
                        headers={"content-language": "en"})  # fmt: skip
            out = await pipeline.process_item(page)
            found.extend(out.findings)
        # non-HTML pages and other items pass through untouched
        other = Page(url=BASE + "x.pdf", final_url=BASE + "x.pdf", status=200, site_id=site_id,
                     crawl_id=1)  # fmt: skip
        assert await pipeline.process_item(other) is other and not other.findings
        batches = []
        for finalize in lifecycle.finalizers:
            batches.extend(await finalize())
        pipeline.close_spider()
        return found, batches

    try:
        return asyncio.run(go())
    finally:
        db = getattr(crawler, "flawless_db", None)
        if db is not None:
            db.close()


def score(found: list[dict]) -> dict:
    expected = json.loads((SITE / "_expected.json").read_text())

    def page(f: dict) -> str:
        return f["page_url"].rsplit("/", 1)[-1] or "index.html"

    exp_spell = {(e["page"], e["word"].lower()) for e in expected["spelling"]}
    exp_gram = [(e["page"], e["rule"]) for e in expected["grammar"]]
    spell = [f for f in found if f["type"] == "spelling"]
    gram = [f for f in found if f["type"] == "grammar"]
    spell_keys = set()
    for f in spell:
        spell_keys.add(("BOILERPLATE", f["key"]) if f.get("pages", 0) > 1 else (page(f), f["key"]))
    tp_s = len(spell_keys & exp_spell)
    gram_keys = [(page(f), f["rule"]) for f in gram]
    tp_g = sum(1 for k in set(gram_keys) if k in exp_gram)
    return {
        "spelling_recall": tp_s / len(exp_spell),
        "spelling_precision": tp_s / max(len(spell_keys), 1),
        "grammar_recall": tp_g / len(exp_gram),
        "grammar_precision": tp_g / max(len(gram_keys), 1),
        "false_spelling": sorted(spell_keys - exp_spell),
        "missed_spelling": sorted(exp_spell - spell_keys),
        "false_grammar": sorted(set(gram_keys) - set(exp_gram)),
    }


def insert_site(db, domain: str = "prose.test") -> int:
    with db.transaction() as cur:
        cur.execute(
            "INSERT INTO sites (url, domain, language) VALUES (%s, %s, 'en_US') RETURNING id",
            (BASE, domain),
        )
        return cur.fetchone()["id"]


def test_prose_site_recall_and_precision(db, db_url):
    site_id = insert_site(db)
    found, batches = run_site(db_url, site_id)
    assert all(isinstance(b, FindingsBatch) and b.site_id == site_id for b in batches)
    held = [f for b in batches for f in b.findings]
    result = score(found + held)
    print(json.dumps(result, indent=1))
    assert result["spelling_recall"] >= 0.95, result
    assert result["spelling_precision"] >= 0.90, result
    assert result["grammar_recall"] >= 0.70, result
    assert result["grammar_precision"] >= 0.90, result
    for f in found + held:
        for name in TYPE_FIELDS[f["type"]]:
            assert name in f, (name, f)
        assert f["severity"] == "error"
        assert len(f["suggestions"]) <= 5
    # the footer typo is reported once, with the number of pages it is on
    footer = [f for f in held if f.get("word") == "reguarly"]
    assert len(footer) == 1 and footer[0]["pages"] == 6 and footer[0]["page_url"] == BASE
    assert "regularly" in footer[0]["suggestions"]
    # hidden, translate="no", skipped selectors, code, script and alt text
    words = {f.get("word") for f in found + held}
    assert not words & {"Thsi", "Anothr", "paragrph", "workflowz", "Registred", "recieve"}
    assert "anual" in words and "trackingIdentifer" not in words


@pytest.mark.parametrize("language", ["en_US"])
def test_site_words_are_accepted(db, db_url, language):
    site_id = insert_site(db)
    with db.transaction() as cur:
        cur.executemany(
            "INSERT INTO site_words (site_id, word) VALUES (%s, %s)",
            [(site_id, "eventualy"), (site_id, "Mesage")],
        )
    found, batches = run_site(db_url, site_id)
    words = {f.get("word") for f in found} | {f.get("word") for b in batches for f in b.findings}
    assert "eventualy" not in words and "mesage" not in words
    assert "tedius" in words


def test_disabled(db_url):
    from scrapy.exceptions import NotConfigured

    crawler = get_crawler(Spider, {"FLAWLESS_LANGUAGE_ENABLED": False})
    with pytest.raises(NotConfigured):
        LanguagePipeline.from_crawler(crawler)
