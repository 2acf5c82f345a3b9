"""Benchmark of the language stage: words per second on one core, cold and with warm caches.

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


def _run(checker: LanguageChecker, pages: list[str]) -> tuple[float, int]:
    start = time.process_time()
    for i, page in enumerate(pages):
        checker.page_findings(f"http://bench.test/{i}", checker.analyse(page))
    return time.process_time() - start, checker.words


def bench(words: int = 200_000) -> dict:
    """Figures of the language stage on ``words`` words of real prose (one core, CPU time)."""
    pages = corpus_pages(words)
    load_start = time.process_time()
    checker = LanguageChecker("en_US")
    checker.speller("en_US", False)
    load = time.process_time() - load_start
    cold, n = _run(checker, pages)
    checker._blocks.clear()  # new text, warm word caches
    checker.words = 0
    warm, n2 = _run(checker, pages)
    found = checker.finalize()
    return {
        "words": n,
        "pages": len(pages),
        "load_seconds": round(load, 3),
        "cold_words_per_second": round(n / cold),
        "warm_words_per_second": round(n2 / warm),
        "findings": len(found),
    }


if __name__ == "__main__":
    print(bench(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000))
