"""Benchmark of the language stage: words per second on one core, cold and with warm caches
(spelling and the offline grammar engine, as a crawl runs them); ``grammar``: the engines
compared on planted mistakes and real documentation.

The text is the Python documentation's topic help (``pydoc_data.topics``, real edited prose
that ships with Python), cut into pages of HTML paragraphs. "Warm" means the word caches and
dictionaries are loaded (a previous crawl-sized pass) but every block is checked again: the
per-block cache is cleared, so the figure is for new text, not for repeated boilerplate.
"""

from __future__ import annotations

import html
import re
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.language.checker import LanguageChecker


def prose_paragraphs() -> list[str]:
    """Real English text: the Python reference's topic texts, split into paragraphs."""
    import pydoc_data.topics as topics

    paragraphs = []
    for text in topics.topics.values():
        for block in re.split(r"\n\s*\n", text):
            block = " ".join(block.split())
            if len(block.split()) >= 25 and not block.startswith((">>>", "*", "-", "|")):
                paragraphs.append(block)
    return paragraphs


def corpus_pages(words: int, per_page: int = 2000) -> list[str]:
    """HTML pages holding about ``words`` words of the pydoc topics text (repeated if needed)."""
    paragraphs = prose_paragraphs()
    pages, body, count, total = [], [], 0, 0
    while total < words:
        for p in paragraphs:
            body.append(f"<p>{html.escape(p)}</p>")
            n = p.count(" ") + 1
            count += n
            total += n
            if count >= per_page:
                pages.append(f"<html lang='en'><body><main>{''.join(body)}</main></body></html>")
                body, count = [], 0
            if total >= words:
                break
    if body:
        pages.append(f"<html lang='en'><body><main>{''.join(body)}</main></body></html>")
    return pages


def _run(checker: LanguageChecker, pages: list[str], engine) -> tuple[float, int]:
    start = time.process_time()
    for i, page in enumerate(pages):
        analysed = checker.analyse(page)
        checker.check_grammar(analysed, engine)
        checker.page_findings(f"http://bench.test/{i}", analysed)
    return time.process_time() - start, checker.words


def bench(words: int = 200_000) -> dict:
    """Figures of the language stage on ``words`` words of real prose (one core, CPU time)."""
    pages = corpus_pages(words)
    load_start = time.process_time()
    from pipelines.language.engine import OfflineGrammar

    checker = LanguageChecker("en_US", builtin_grammar=False)
    checker.speller("en_US", False)
    engine = OfflineGrammar()
    engine.check(["Warm up."])  # builds Harper's linter
    load = time.process_time() - load_start
    cold, n = _run(checker, pages, engine)
    checker._blocks.clear()  # new text, warm word caches
    checker.words = 0
    warm, n2 = _run(checker, pages, engine)
    found = checker.finalize()
    return {
        "words": n,
        "pages": len(pages),
        "load_seconds": round(load, 3),
        "cold_words_per_second": round(n / cold),
        "warm_words_per_second": round(n2 / warm),
        "findings": len(found),
    }




# --- grammar engines on planted mistakes and on real documentation ---------------------------

DOCS = {
    "python3.11-doc": Path("/usr/share/doc/python3.11-doc/html"),
    "python-scrapy-doc": Path("/usr/share/doc/python-scrapy-doc/html"),
}
"""Real, edited English documentation from Debian packages (``apt-get install python3.11-doc
python-scrapy-doc``): what the grammar and spelling stages raise there is (almost all) false alarms."""


def engines() -> dict[str, object]:
    """The engines compared, by name; the first is the one the crawl uses."""
    from pipelines.language.engine import OfflineGrammar

    return {
        "harper chosen + own rules (default)": OfflineGrammar(),
        "harper chosen rules only": OfflineGrammar(own_rules=()),
        "harper default rules (all sentences)": OfflineGrammar(harper_rules=None, own_rules=()),
        "own rules only": OfflineGrammar(use_harper=False),
        "own rules, all (with those left off)": OfflineGrammar(use_harper=False, own_rules=None),
    }


def check_pages(pages: dict[str, str], engine, base: str, skip=()) -> tuple[list[dict], int, float]:
    """Findings of the language stage on ``{name: html}`` with ``engine`` for grammar."""
    from pipelines.language.extract import compile_selectors

    checker = LanguageChecker("en_US", selectors=compile_selectors(skip), site_url=base,
                              builtin_grammar=False)  # fmt: skip
    found: list[dict] = []
    start = time.process_time()
    for name, page in pages.items():
        url = base + ("" if name == "index.html" else name)
        analysed = checker.analyse(page, "en")
        checker.check_grammar(analysed, engine)
        found.extend(checker.page_findings(url, analysed))
    found.extend(checker.finalize())
    return found, checker.words, time.process_time() - start


def doc_pages(folder: Path, limit: int) -> dict[str, str]:
    files = sorted(p for p in folder.rglob("*.html") if "genindex" not in p.name and "_static" not in p.parts)
    return {str(p.relative_to(folder)): p.read_text("utf-8", "replace") for p in files[:limit]}


def grammar_report(doc_limit: int = 100_000, verbose: bool = False) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    import test_language_voices as voices

    pages, planted = voices.load()
    docs = {name: doc_pages(folder, doc_limit) for name, folder in DOCS.items() if folder.is_dir()}
    for name, engine in engines().items():
        engine.check(["Warm up."])
        found, words, cpu = check_pages(pages, engine, voices.BASE)
        result = voices.score(found, planted)
        g, s = result["grammar"], result["spelling"]
        print(f"== {name}")
        print(f"   planted set ({words:,} words): grammar recall {g['recall']:.2f} ({g['planted']} planted), "
              f"precision {g['precision']:.2f} ({g['findings']} findings); "
              f"spelling recall {s['recall']:.2f}, precision {s['precision']:.2f}")
        print(f"   per class: {g['per_class']}")
        print(f"   per rule (tp/fp): {g['per_rule']}")
        if verbose:
            for line in g["false"]:
                print("   FALSE", line)
            for line in g["missed"]:
                print("   MISSED", line)
        for doc, doc_html in docs.items():
            found, words, cpu = check_pages(doc_html, engine, f"http://{doc}.test/")
            gram = [f for f in found if f["type"] == "grammar"]
            spell = [f for f in found if f["type"] == "spelling"]
            rules = Counter(f["rule"] for f in gram)
            print(f"   {doc}: {words:,} words, {len(gram)} grammar alarms "
                  f"({len(gram) / words * 10_000:.2f} per 10,000 words), {len(spell)} spelling "
                  f"({len(spell) / words * 10_000:.2f} per 10,000), {words / cpu:,.0f} words/s CPU; "
                  f"{dict(rules.most_common())}")
            if verbose:
                for f in gram:
                    print(f"   ALARM {f['page_url']} {f['rule']}: {f['text']!r} in {f['context']!r}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["grammar"]:
        grammar_report(int(sys.argv[2]) if len(sys.argv) > 2 else 100_000, verbose="-v" in sys.argv)
    else:
        print(bench(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000))
