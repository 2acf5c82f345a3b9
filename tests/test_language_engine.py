"""The offline grammar engine: Harper's chosen rules and ours, on batches of blocks."""

from __future__ import annotations

import pytest

from pipelines.language import grammar
from pipelines.language.checker import LanguageChecker
from pipelines.language.engine import OfflineGrammar
from pipelines.language.harper import RULES, HarperChecker


@pytest.fixture(scope="module")
def engine() -> OfflineGrammar:
    return OfflineGrammar()


def test_harper_matches_land_in_their_own_block():
    """A page's blocks go to Harper as one text; each match comes back at its block's offsets."""
    blocks = ["It is fine.", "Fine again. Then he go home.", "Nothing here", "She have a car."]
    found = HarperChecker().check(blocks)
    assert [[(m.rule, m.text) for m in f] for f in found] == [
        [],
        [("PronounVerbAgreement", "go")],
        [],
        [("PronounVerbAgreement", "have")],
    ]
    m = found[1][0]
    assert blocks[1][m.start : m.end] == "go" and m.suggestions == ["goes"]
    assert '"' in m.message or m.message  # Harper's Markdown `code` is turned into quotes
    assert "`" not in m.message


def test_only_chosen_harper_rules_are_on():
    """Rules left off after the evaluation stay off: "a and b", the index "i", "PyStatus PyStatus"."""
    quiet = ["Return true if a is a subtype of b.", "If i is greater than j, the slice is empty.",
             "PyStatus PyStatus_Ok(void)", "All of the items are here."]  # fmt: skip
    assert HarperChecker().check(quiet) == [[], [], [], []]
    assert "AnA" not in RULES and "RepeatedWords" not in RULES


@pytest.mark.parametrize(
    ("sentence", "rule"),
    [
        ("There is two ways to pay.", "THERE_IS_PLURAL"),
        ("We have less varieties this year.", "LESS_FEWER"),
        ("Me and Tom started the bakery in 2019.", "PRONOUN_CASE"),
        ("Between you and I, it works.", "PRONOUN_CASE"),
        ("Each of our tools have a guarantee.", "AGREEMENT_NOUN"),
        ("The farmers has been helpful.", "AGREEMENT_NOUN"),
        ("A customer who have an account may close it.", "AGREEMENT_NOUN"),
        ("A reader asked who's recipe it was.", "WHOSE_WHOS"),
        ("Whose going to water the plants?", "WHOSE_WHOS"),
        ("Its possible to raise this limit.", "ITS_ITS"),
        ("Fry the onion until its soft, then add the rest.", "ITS_ITS"),
        ("The gardener dont need to dig.", "MISSING_APOSTROPHE"),
        ("Thank you for you're support.", "YOURE_YOUR"),
        ("Customers grow food in there own pots.", "THERE_THEIR"),
        ("Don't loose your data.", "LOSE_LOOSE"),
        ("You can turns this off.", "VERB_FORM"),
        ("This is more easier than before.", "AdjectiveDoubleDegree"),
        ("The weather will effect the price.", "NounVerbConfusion"),
        ("He go to the market every day.", "PronounVerbAgreement"),
    ],
)
def test_engine_flags(engine, sentence, rule):
    assert rule in [m.rule for m in engine.check([sentence])[0]]


@pytest.mark.parametrize(
    "sentence",
    [
        "There is a small fee for next-day delivery.",
        "There are two ways to pay.",
        "Less water is better, and fewer pots are thrown away.",
        "Between you and me, it is the best thing we have done.",
        "Each of the pellets is coated in a bitter taste.",
        "Who's ready for summer? Whose garden will flower first?",
        "The trowel is sold with its own leather sleeve.",
        "The garden at its best is a joy.",
        "Loose soil lets roots spread; don't lose heart.",
        "An hour in the garden is never wasted, and a one-off fee is fine.",
        "Then we left, and it was later than we thought.",
        "If the key were a mutable object, its value could change.",
        "The patterns here are Unix-style patterns.",
        "How many bytes should tokens use?",
        "This function will need to be called again in order to affect subsequent calls.",
        "The only effect is that the parameter must be given.",
        "Pass the address of an unannotated object.",
    ],
)
def test_engine_does_not_flag(engine, sentence):
    assert engine.check([sentence]) == [[]]


def test_left_out_code_leaves_no_fragment(engine):
    """Inline code that is left out reads as a neutral symbol inside its sentence, not as a sentence
    end: what is around it is not a sentence start or stray punctuation to the rules."""
    checker = LanguageChecker("en_US", builtin_grammar=False)
    html = (
        "<html lang='en'><body><p>See <code>settings.DEBUG</code> for details. Call "
        "<code>obj.save()</code> . <code>QuerySet</code>s are lazy; the <code>name</code>s "
        "and <code>pk</code>s . are read once.</p><p>for details, see below.</p></body></html>"
    )
    analysed = checker.analyse(html)
    checker.check_grammar(analysed, engine)
    assert [i for _, r in analysed for i in r.grammar] == []


def test_own_rules_are_known():
    assert set(grammar.OWN_RULES) <= set(grammar.RULE_IDS)
    assert set(grammar.RULE_IDS) == {i for ids in grammar.RULE_IDS_OF.values() for i in ids}


def test_identifiers_and_signatures_are_not_misspellings():
    """Real documentation names things in prose: format codes, run-together identifiers, API
    signatures set in spans. None is a misspelling; a real typo still is."""
    from pipelines.language.extract import extract_blocks
    from pipelines.language.spelling import LIKELY, OK, Speller

    speller = Speller("en_US")
    for word in ("zd", "maxlines", "webserver", "unpickles", "dont", "i've"):
        assert speller.verdict(word) == OK, word
    assert speller.verdict("calculatin") != OK and speller.verdict("strippped") == LIKELY
    html = ("<html><body><dl><dt><span>PyObject</span> *<span>PyList_New</span>(<span>Py_ssize_t</span> "
            "len)</dt><dd><p>Return a new list.</p></dd></dl></body></html>")  # fmt: skip
    assert [b.text for b in extract_blocks(html)[1]] == ["Return a new list."]
