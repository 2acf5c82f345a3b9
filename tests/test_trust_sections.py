"""One problem, one section: a digest never lists a problem as new and fixed, or fixed and open."""

from __future__ import annotations

from flawless_spider.findings import finding
from tests.test_digest_build import message_of
from tests.test_digest_support import add_site, crawl, link, outbox_rows, parts, word

HOME, ABOUT, BLOG = "https://example.com/", "https://example.com/about", "https://example.com/blog"


def grammar(page: str, message: str, text: str) -> dict:
    return finding("grammar", page, "error", key=f"REPEATED_WORD:{text}", rule="REPEATED_WORD",
                   message=message, text=text, suggestions=[], context=f"It is {text} here.")


def sections(db, index: int) -> tuple[str, str, str]:
    text, _ = parts(message_of(outbox_rows(db)[index]))
    new, _, rest = text.partition("FIXED SINCE THE LAST DIGEST")
    fixed, _, still = rest.partition("STILL OPEN FROM EARLIER DIGESTS")
    return new, fixed, still


def test_a_word_fixed_on_one_page_and_new_on_another_is_only_new(db):
    site = add_site(db)
    crawl(db, site, [word(ABOUT, "reserverd")])
    crawl(db, site, [word(BLOG, "reserverd")])  # fixed on /about, written again on /blog
    new, fixed, still = sections(db, 1)
    assert '"reserverd"' in new and "reserverd" not in fixed and "reserverd" not in still
    assert outbox_rows(db)[1]["subject"] == "Flawless: 1 new problem on example.com"


def test_a_target_unlinked_from_one_page_but_still_linked_from_another_is_not_fixed(db):
    site = add_site(db)
    gone = "https://example.com/gone"
    crawl(db, site, [link(HOME, gone), link(ABOUT, gone), word(BLOG, "recieve")])
    crawl(db, site, [link(HOME, gone)])  # /about no longer links it; "recieve" is fixed
    new, fixed, still = sections(db, 1)
    assert gone not in fixed and gone in still and '"recieve"' in fixed
    assert "New: 0    Fixed: 1    Open now: 1" in new


def test_grammar_is_grouped_by_rule_and_message_each_with_its_own(db):
    site = add_site(db)
    crawl(db, site, [grammar(HOME, 'The word "with" is repeated.', "with with"),
                     grammar(ABOUT, 'The word "the" is repeated.', "the the")])
    new, _, _ = sections(db, 0)
    assert 'The word "with" is repeated.' in new and 'The word "the" is repeated.' in new
    assert "Grammar (2)" in new
