"""Memory that stays flat as a crawl grows, with the same findings: bounded caches, a mapped model."""

from __future__ import annotations

from pipelines.language import checker as checker_module
from pipelines.language import detect
from pipelines.language.checker import LanguageChecker

PAGES = [
    "<html lang='en'><body><nav><p>Home and the the menu</p></nav>"
    f"<p>Paragraph {n} says recieve the parcel, and its possible to wait.</p>"
    f"<p>A clean sentence number {n % 3} about the weather.</p>"
    "<p>Their is a shop here, and you loose your way.</p></body></html>"
    for n in range(12)
]


def _findings(checker: LanguageChecker) -> list[dict]:
    out = []
    for n, html in enumerate(PAGES):
        analysed = checker.analyse(html)
        out.extend(checker.page_findings(f"https://example.org/p{n}", analysed))
    out.extend(checker.finalize())
    return out


def test_a_small_block_cache_gives_the_same_findings(monkeypatch):
    """The block cache drops the least recently used blocks past its limit (a site's one-off prose
    does not pile up); checking a dropped block again must give the very same findings."""
    reference = _findings(LanguageChecker("en_US"))
    assert {f["type"] for f in reference} == {"spelling", "grammar"}
    monkeypatch.setattr(checker_module, "BLOCK_CACHE_LIMIT", 2)
    small = LanguageChecker("en_US")
    assert _findings(small) == reference
    assert len(small._blocks) <= 2


def test_a_clean_block_is_cached_as_its_tag_only():
    checker = LanguageChecker("en_US")
    html = "<html lang='en'><body><p>A clean sentence about the weather.</p></body></html>"
    first = checker.analyse(html)
    second = checker.analyse(html)
    assert [r.text for _, r in second] == [r.text for _, r in first]
    assert all(not r.spelling and r.grammar == [] for _, r in second)
    assert list(checker._blocks.values()) == ["en_US"]


def test_the_mapped_language_model_gives_the_unpacked_models_answers(tmp_path, monkeypatch):
    """py3langid's large tables are unpacked once into files and mapped, not held in memory."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    texts = [
        "This is an ordinary English paragraph about shipping and returns.",
        "Das ist ein deutscher Absatz über Versand und Rücksendungen im Laden.",
        "Ceci est un paragraphe français sur la livraison et les retours.",
        "def shutil.rmtree(path, ignore_errors=False, onerror=None) -> None",
    ]
    unpacked = detect._unpacked()
    detect.prepare()  # what a crawl does at its start, on a thread
    assert list((tmp_path / "flawless").glob("langid-*/tk_nextmove.bin"))
    mapped = detect._mapped()
    assert mapped is not None
    assert [mapped.classify(t) for t in texts] == [unpacked.classify(t) for t in texts]
    again = detect._mapped()  # from the files written the first time
    assert [again.classify(t) for t in texts] == [unpacked.classify(t) for t in texts]


def test_every_installation_of_the_same_model_shares_one_cache_folder(tmp_path, monkeypatch):
    """The unpacked model (66 MB) is keyed by the model's contents, not by where it is installed:
    a second virtual environment or clone with the same py3langid does not write another copy."""
    import shutil

    from py3langid import langid

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    detect.prepare()
    other = tmp_path / "other-venv"
    (other / langid.MODEL_FILE).parent.mkdir(parents=True)
    shutil.copy2(langid.MODEL_DIR / langid.MODEL_FILE, other / langid.MODEL_FILE)
    monkeypatch.setattr(langid, "MODEL_DIR", other)
    detect.prepare()
    assert len(list((tmp_path / "cache" / "flawless").glob("langid-*"))) == 1


def test_joined_links_are_remembered_only_where_the_base_does_not_matter():
    """Navigation links are joined once per directory (or origin) of the page, not once per page:
    the answer must be what joining against each page itself gives, for every kind of value."""
    from flawless_spider import extract

    bases = ["http://h/a/b", "http://h/a/c?x=/y", "https://h/a/b;p", "http://h/a/", "http://h",
             "http://h/a/b?", "http://h:81/a/b", "http://u@h/a/b", "http://h/a/b#x/y", "https://h/z/b"]
    values = ["a", "../x", "./y?z", "/abs", "//h2/p", "//", "///x", "//?x", "http://o/x",
              "http://", "https:rel", "http:rel", "mailto:a@b", ";p", "..", "x#f", "#f", "#", "?q",
              "#a#b", "#[x", "\x01http://x/", "https://[::1/", "http://h:99999/"]
    for _ in range(2):  # the second round answers from what the first remembered
        for base in bases:
            for value in values:
                assert extract.absolute(base, value) == extract._absolute(base, value), (base, value)


def test_a_term_of_the_site_is_not_held_page_after_page():
    """An unknown word in three distinct blocks is a term: its later occurrences are not held
    for the end of the crawl (a docs site names its terms on every page), and the findings are
    those of a word that is held throughout."""
    checker = LanguageChecker("en_US")
    pages = [f"<html lang='en'><body><p>Run the frobnicator number {n} today.</p>"
             + ("<p>One page says zorbleton once.</p>" if n == 7 else "") + "</body></html>"
             for n in range(30)]
    for n, html in enumerate(pages):
        checker.page_findings(f"https://example.org/p{n}", checker.analyse(html))
    assert sum(h.word == "frobnicator" for h in checker._likely) < 3
    assert all(len(blocks) <= 3 for blocks in checker._word_blocks.values())
    assert [(f["word"], f["page_url"]) for f in checker.finalize() if f["type"] == "spelling"] == [
        ("zorbleton", "https://example.org/p7")]


def test_the_frontier_holds_numbers_for_the_urls_it_has_taken():
    """The crawl's seen-set grows with the site: it holds a number per URL, not the URL, and
    still answers "seen", "new" and "over the budget" as before."""
    from flawless_spider.lifecycle import LocalFrontier

    frontier = LocalFrontier(max_pages=3)
    keys = [f"http://example.org/section/page-{n}.html" for n in range(4)]
    assert [frontier.admit(k) for k in keys] == ["new", "new", "new", "budget"]
    assert frontier.admit(keys[0]) == "seen" and frontier.was_seen(keys[1])
    assert not frontier.was_seen(keys[3]) and frontier.budget_exhausted
    frontier.add_seen("http://example.org/redirected-to.html")
    assert frontier.was_seen("http://example.org/redirected-to.html")
    assert len(frontier.seen) == 4 and all(type(n) is int for n in frontier.seen)


def test_queued_pages_past_the_memory_limit_wait_on_disk(serve, scrapy, db, tmp_path):
    """A site whose every page links to every other queues them all at once: past
    FLAWLESS_QUEUE_MEMORY requests the scheduler keeps them on disk, in a folder removed at
    the end; every page is still fetched once and the findings are the same."""
    from tests.crawlkit import FAST_LINKS

    nav = "".join(f'<a href="/p{n}.html">page {n}</a> ' for n in range(60))
    site = tmp_path / "site"
    site.mkdir()
    (site / "robots.txt").write_text("User-agent: *\nDisallow:\n")
    for n, name in enumerate(["index", *(f"p{n}" for n in range(60))]):
        extra = '<a href="/gone.html">gone</a>' if n == 7 else ""
        (site / f"{name}.html").write_text(
            f"<html><head><title>{name}</title></head><body><nav>{nav}</nav>{extra}</body></html>")
    srv = serve(site)
    spill = tmp_path / "tmp"
    spill.mkdir()
    # Two requests in the downloader at most, so the engine cannot drain the queue as fast as
    # the start page fills it (how many wait would otherwise depend on timing).
    scrapy("crawl", "site", "-a", f"url={srv.url}", *FAST_LINKS, "-s", "FLAWLESS_QUEUE_MEMORY=5",
           "-s", "CONCURRENT_REQUESTS=1", "-s", "FLAWLESS_LINK_CONCURRENCY=1", TMPDIR=str(spill))
    [crawl] = db.query("SELECT * FROM crawls")
    assert crawl["status"] == "complete" and crawl["pages"] == 61
    # Most of the 60 waited on disk (51 here on a quiet machine; 0 without the limit).
    assert crawl["stats"].get("scheduler/enqueued/disk", 0) >= 30, crawl["stats"]
    assert crawl["stats"].get("flawless/memory/trims", 0) >= 1  # freed memory handed back
    paths = srv.paths()
    assert sorted(p for p in paths if p.startswith("/p")) == sorted(f"/p{n}.html" for n in range(60))
    assert list(spill.iterdir()) == []
    [broken] = db.query("SELECT * FROM findings WHERE type = 'link'")
    assert broken["page_url"].endswith("/p6.html") and broken["data"]["url"].endswith("/gone.html")


def test_trimming_hands_freed_memory_back_to_the_system():
    """Memory freed between live allocations stays in the process until ``malloc_trim``."""
    import threading

    from flawless_spider.trim import malloc_trim

    trim = malloc_trim()
    assert trim is not None  # glibc (Debian)

    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096

    kept: list[bytes] = []

    def churn() -> None:  # in a thread: its own malloc arena, as the crawl's threads have
        blocks = [bytes(2000) for _ in range(40_000)]
        kept.extend(blocks[::64])  # a live block every 128 kB keeps the pages between mapped
        blocks.clear()

    thread = threading.Thread(target=churn)
    thread.start()
    thread.join()
    before = rss()
    trim(0)
    assert before - rss() > 40 * 2**20


def test_a_worker_trims_at_once_then_at_most_every_interval():
    """The language worker's trimmer (no reactor there): start-up's garbage at the first page,
    then no more often than its interval."""
    from flawless_spider.trim import Trimmer

    trimmer = Trimmer(interval=3600)
    assert trimmer() is True
    assert trimmer() is False
    trimmer.last -= 3600
    assert trimmer() is True


def test_the_crawl_totals_do_not_hold_a_term_page_after_page():
    """The language stage hands each page's share to the crawl's totals (take_held, merge): a
    word that is a term of the site (three distinct blocks) is not held there once per page,
    nor its blocks counted past three, and the end-of-crawl findings are unchanged."""
    checker = LanguageChecker("en_US")
    totals = LanguageChecker(available=[])
    pages = [f"<html lang='en'><body><p>Run the frobnicator number {n} today.</p>"
             + ("<p>One page says zorbleton once.</p>" if n == 7 else "") + "</body></html>"
             for n in range(30)]
    for n, html in enumerate(pages):
        checker.page_findings(f"https://example.org/p{n}", checker.analyse(html))
        totals.merge(checker.take_held())
    assert sum(h.word == "frobnicator" for h in totals._likely) < 3
    assert all(len(blocks) <= 3 for blocks in totals._word_blocks.values())
    assert [(f["word"], f["page_url"]) for f in totals.finalize() if f["type"] == "spelling"] == [
        ("zorbleton", "https://example.org/p7")]


def test_the_block_cache_is_keyed_by_numbers_not_texts():
    checker = LanguageChecker("en_US")
    checker.analyse("<html lang='en'><body><p>A clean sentence about the weather.</p>"
                    "<p>Paragraph says recieve the parcel.</p></body></html>")
    assert len(checker._blocks) == 2 and all(type(k) is int for k in checker._blocks)
