"""Crawler traps beyond depth and budget: session ids and calendars are recognised, named and cut."""

from __future__ import annotations

from flawless_spider.traps import TrapGuard
from tests.crawlkit import FAST_LINKS, make_site


def test_a_session_id_on_every_link_does_not_eat_the_budget(serve, scrapy, tmp_path, db):
    site = make_site(tmp_path / "shop", '<a href="/__session/a">shop</a>')
    srv = serve(site)
    scrapy("crawl", "site", "-a", f"url={srv.url}", *FAST_LINKS, "-s", "FLAWLESS_MAX_PAGES=60")
    fetched = [p for p in srv.paths("GET") if p.startswith("/__session/")]
    # Each of the five pages once (under whichever session id came first), then nothing more.
    assert sorted({p.split("?")[0] for p in fetched}) == [f"/__session/{n}" for n in "abcde"]
    assert len(fetched) <= 6, fetched
    [crawl] = db.query("SELECT status, reason, left_out FROM crawls")
    assert crawl["status"] == "incomplete"
    assert "that looked like a crawler trap not fetched: session ids in ?sid= (" in crawl["reason"]
    assert "budget" not in crawl["left_out"]


def test_an_endless_calendar_is_cut_and_named(serve, scrapy, tmp_path, db):
    site = make_site(tmp_path / "events", '<a href="/__calendar/2024/05/">events</a>')
    srv = serve(site)
    scrapy("crawl", "site", "-a", f"url={srv.url}", *FAST_LINKS, "-s", "FLAWLESS_TRAP_RUN=5")
    months = [p for p in srv.paths("GET") if p.startswith("/__calendar/")]
    # May 2024, then five months in a row each way; the link stage may check the two next ones.
    assert 11 <= len(months) <= 13, months
    assert "/__calendar/2024/10/" in months and "/__calendar/2023/12/" in months
    assert "/__calendar/2025/01/" not in months
    [crawl] = db.query("SELECT status, reason, left_out FROM crawls")
    assert crawl["status"] == "incomplete"
    assert crawl["reason"] == ("2 URLs that looked like a crawler trap not fetched: "
                               "calendar /__calendar/<n>/<n>/ (2 URLs)")
    assert crawl["left_out"] == {"trap": 2}


def test_values_people_choose_are_no_session_ids():
    seen: set[str] = set()
    guard = TrapGuard(seen)
    for n in range(2, 40):  # pagination and languages repeat or look chosen: never a trap
        for url in (f"http://s.example/blog?page={n}", f"http://s.example/a?lang=l{n}"):
            assert guard.check(url) is None
            seen.add(url)
            guard.accept(url)
    ids = [f"http://s.example/p{n % 3}?token=9f8e7d6c5b4a{n:04d}" for n in range(12)]
    verdicts = []
    for url in ids:
        verdicts.append(guard.check(url))
        if verdicts[-1] is None:
            seen.add(url)
            guard.accept(url)
    # Random-looking values on five URLs make it a session id: later repeats of a page are cut.
    assert verdicts[:5] == [None] * 5
    assert verdicts[-1] == "session ids in ?token="
