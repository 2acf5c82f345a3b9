"""Unit tests of the language stage: extraction, dictionaries, tokens, grammar rules, LanguageTool."""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

from pipelines.language import grammar
from pipelines.language.checker import LanguageChecker
from pipelines.language.dictionaries import DictionaryChooser, hunspell_dict
from pipelines.language.extract import compile_selectors, extract_blocks
from pipelines.language.languagetool import LanguageToolClient, LanguageToolError, build_batches
from pipelines.language.spelling import CANDIDATE, CERTAIN, LIKELY, Speller
from pipelines.language.tokens import chunk_words


def test_hunspell_provider_is_used():
    for tag in ("en_US", "en_GB"):
        d = hunspell_dict(tag)
        assert d is not None and d.provider.name == "hunspell"
    assert hunspell_dict("en_GB").check("colour") and not hunspell_dict("en_US").check("colour")


def test_dictionary_choice():
    chooser = DictionaryChooser("en_GB", ["en_GB", "en_US"])
    assert chooser.choose("en-US") == ("en_US", True)
    assert chooser.choose("en") == ("en_GB", False)
    assert chooser.choose("de-DE") == (None, False)


def test_extraction_skips_invisible_and_code():
    html = """<html lang="en"><head><title>T  itle</title><meta name="description" content="Desc">
    <script>bad()</script></head><body><nav><a href="/">Home</a></nav>
    <p>One   <b>two</b>
    three <code>x_y</code> four</p><ul><li>Item</li></ul><img src="a.png" alt="Alt text">
    <div hidden>H</div><p aria-hidden="true">A</p><p style="visibility: hidden">V</p>
    <p translate="no">T</p><div spellcheck="false">S</div><p class="skip">Skip</p>
    <p lang="de">Deutsch hier</p><table><tr><td>Cell</td></tr></table><pre>pre</pre></body></html>"""
    lang, blocks, code = extract_blocks(html, compile_selectors([".skip"]), with_code=True)
    assert lang == "en"
    texts = [(b.kind, b.text) for b in blocks]
    assert ("title", "T itle") in texts and ("meta", "Desc") in texts
    assert ("p", "One two three \ufffc four") in texts
    assert ("li", "Item") in texts and ("alt", "Alt text") in texts and ("td", "Cell") in texts
    assert next(b for b in blocks if b.text == "Home").template
    assert [b.lang for b in blocks if b.text == "Deutsch hier"] == ["de"]
    assert not {"H", "A", "V", "T", "S", "Skip", "pre", "bad()"} & {t for _, t in texts}
    assert "x_y" in code and "pre" in code
    with pytest.raises(ValueError):
        compile_selectors(["p[["])


@pytest.mark.parametrize(
    ("chunk", "words"),
    [("hello,", ("hello",)), ("https://x.org/a", ()), ("a@b.com", ()), ("example.com", ()),
     ("/usr/bin", ()), ("@handle", ()), ("3rd", ()), ("snake_case", ()), ("well-known", ("well", "known")),
     ("don\u2019t", ("don't",)), ("Scrapy's", ("Scrapy",))],
)  # fmt: skip
def test_tokens(chunk, words):
    assert chunk_words(chunk) == words


def test_speller_confidence():
    s = Speller("en_US", strict=False, accepted=["flawlessly"])
    verdicts = {
        m.word: m.verdict for m in s.check("I recieve GitHub NASA iPhone Zorblat frobnicated colour x")
    }
    assert verdicts == {"recieve": CERTAIN, "Zorblat": CANDIDATE, "frobnicated": LIKELY}
    assert not s.check("The self-contained, well-known re-entry.")


MUST_FLAG = {
    "REPEATED_WORD": ["This is the the end.", "We went to to the park."],
    "A_AN": ["I saw a elephant.", "It was an university.", "He is a honest man.", "Take an car."],
    "COULD_OF": ["You could of told me.", "We should of left."],
    "YOUR_YOURE": ["Your welcome.", "Your not alone."],
    "YOURE_YOUR": ["Make it you're own."],
    "ITS_ITS": ["Its a trap.", "Its not working."],
    "ITS_OWN": ["Everything has it's own place."],
    "THEN_THAN": ["It is better then nothing.", "More then ever."],
    "AFFECT_EFFECT": ["It had an affect on me."],
    "EFFECT_AFFECT": ["The change adversely effects users."],
    "THEIR_THERE": ["Their is a cat."],
    "LOWERCASE_I": ["Yesterday i think it rained."],
    "AGREEMENT_SINGULAR": ["He don't care.", "She have a car."],
    "AGREEMENT_PLURAL": ["We was there.", "They doesn't know."],
    "SENTENCE_START_CASE": ["It rained. the roads were wet."],
    "SPACE_BEFORE_PUNCTUATION": ["Hello , world."],
    "DOUBLED_PUNCTUATION": ["Wait,, what?", "The end.. Then more."],
    "MISSING_SPACE_AFTER_COMMA": ["apples,oranges and pears"],
    "THERE_IS_PLURAL": ["There is two ways to pay."],
    "LESS_FEWER": ["We sell less items now."],
    "MISSING_APOSTROPHE": ["I dont know."],
    "WHOSE_WHOS": ["Whose going to the party?"],
    "LOSE_LOOSE": ["You will loose your data."],
    "PRONOUN_CASE": ["Me and Tom started a shop."],
    "AGREEMENT_NOUN": ["Each token are checked."],
    "VERB_FORM": ["You can turns this off."],
    "THERE_THEIR": ["They left in there own cars."],
}
MUST_NOT_FLAG = [
    "He had had enough.", "I knew that that was wrong.", "An hour ago.", "A university.",
    "An FAQ.", "A URL.", "An x-ray.", "A one-time fee.", "An honest man.", "A European union.",
    "It could of course fail.", "Your welcome message.", "The dog wagged its tail.",
    "It's a trap.", "Does he have a car?", "Let it have the last word.", "The files in it are sorted.",
    "See e.g. this one.", "Wait... ok.", "1,000 people.", "Use a.m. and p.m.",
    "Vitamin a is good.", "Insist that he have it.", "The value size. size is optional.",
    "Compare a and b.", "signed long long", "Bora Bora is far.", "A priori.",
    "Then we left.", "Affect and effect differ.", "Give her her book.",
]  # fmt: skip


@pytest.mark.parametrize(("rule", "sentence"), [(r, s) for r, ss in MUST_FLAG.items() for s in ss])
def test_grammar_flags(rule, sentence):
    d = hunspell_dict("en_US")
    found = grammar.check(sentence, d.check)
    assert [m.rule for m in found] == [rule], found
    assert found[0].suggestions and found[0].message


@pytest.mark.parametrize("sentence", MUST_NOT_FLAG)
def test_grammar_does_not_flag(sentence):
    assert grammar.check(sentence, hunspell_dict("en_US").check) == []


def test_the_declared_rules_are_the_ones_the_checker_raises():
    """``grammar.RULE_IDS`` lists what the built-in rules report: each one is raised by some
    sentence, and the checker raises nothing outside it."""
    check = hunspell_dict("en_US").check
    raised = {m.rule for sentences in MUST_FLAG.values() for s in sentences
              for m in grammar.check(s, check)}
    assert raised == set(grammar.RULE_IDS)


def test_german_paragraph_on_english_page_is_not_checked():
    checker = LanguageChecker("en_US", available=["en_GB", "en_US"])
    text = ("Die Dokumentation wird von Freiwilligen gepflegt, die in ihrer Freizeit an der "
            "Übersetzung arbeiten und sich über jede Hilfe freuen.")  # fmt: skip
    result = checker.check_block(text, "en")
    assert result.tag is None and not result.spelling
    assert checker.check_block("The quick brown fox jumps over the lazy dog.", "").tag == "en_US"


class _LT(BaseHTTPRequestHandler):
    requests: list[dict] = []

    def log_message(self, *args):
        pass

    def do_POST(self):
        form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
        _LT.requests.append(form)
        data = json.loads(form["data"][0])
        text = "".join(a.get("text", a.get("markup", "")) for a in data["annotation"])
        matches = []
        i = text.find("a apple")
        if i >= 0:
            matches.append({"message": "Use an", "offset": i, "length": 7,
                            "replacements": [{"value": "an apple"}], "context": {},
                            "rule": {"id": "EN_A_VS_AN", "category": {"id": "MISC_GRAMMAR"}}})  # fmt: skip
        i = text.find("speling")
        if i >= 0:
            matches.append(
                {
                    "message": "Spelling",
                    "offset": i,
                    "length": 7,
                    "replacements": [],
                    "rule": {"id": "MORFOLOGIK_RULE_EN_US", "category": {"id": "TYPOS"}},
                }
            )
        body = json.dumps({"matches": matches}).encode()
        status = 500 if "boom" in text else 200
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def lt_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _LT)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _LT.requests.clear()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_languagetool_client(lt_server):
    client = LanguageToolClient(lt_server, max_chars=60)
    texts = ["First block is fine here.", "Then a apple \ufffc fell, speling aside.", "x " * 50]
    matches = asyncio.run(client.check(texts, "en-US"))
    assert [(m.block, m.rule, m.text, m.suggestions) for m in matches] == [
        (1, "EN_A_VS_AN", "a apple", ["an apple"])
    ]
    assert texts[1][matches[0].start : matches[0].end] == "a apple"
    assert len(_LT.requests) >= 2  # split to stay under max_chars
    first = _LT.requests[0]
    assert first["language"] == ["en-US"]
    assert "TYPOS" in first["disabledCategories"][0]
    assert "MORFOLOGIK_RULE_EN_US" in first["disabledRules"][0]
    with pytest.raises(LanguageToolError):
        asyncio.run(client.check(["boom"], "en-US"))


def test_batches_respect_limit():
    texts = ["Sentence one. " * 30, "short"]
    for batch in build_batches(texts, 100):
        assert sum(len(p) + 2 for _, _, p in batch) <= 100
    pieces = [(i, o, p) for b in build_batches(texts, 100) for i, o, p in b if i == 0]
    assert "".join(p for _, _, p in pieces) == texts[0]
