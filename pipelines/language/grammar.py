"""Built-in, offline English grammar rules, tuned for precision over recall.

Each rule has a stable id (findings are keyed on it), a message, and suggestions. Rules are
regular expressions over the block text with a filter for the legitimate exceptions; a rule that
cannot tell a mistake from a rare-but-correct use does not fire. Text is expected with
apostrophes normalised to ``'`` (see :func:`pipelines.language.tokens.normalise`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from pipelines.language.extract import MARK, PLACEHOLDER


@dataclass(slots=True)
class Match:
    rule: str
    message: str
    start: int
    end: int
    text: str
    suggestions: list[str] = field(default_factory=list)


IsWord = Callable[[str], bool]
"""Whether a lower-case word is in the block's dictionary (used by the capitalisation rules)."""


def _keep_case(original: str, replacement: str) -> str:
    if original[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement


def _prev_word(text: str, pos: int) -> str:
    """The word right before offset ``pos`` (lower case), ``""`` at a sentence or block start."""
    i = pos - 1
    while i >= 0 and text[i] == " ":
        i -= 1
    end = i + 1
    while i >= 0 and (text[i].isalpha() or text[i] == "'"):
        i -= 1
    return text[i + 1 : end].lower()


# --- repeated words -------------------------------------------------------------------------

REPEAT_OK = frozenset(
    [
        "had",
        "that",
        "is",
        "do",
        "bye",
        "so",
        "no",
        "ha",
        "ho",
        "la",
        "knock",
        "there",
        "tut",
        "blah",
        "bla",
        "now",
        "yes",
        "dum",
        "mahi",
        "can",
        "bora",
        "walla",
        "chop",
        "night",
        "pom",
        "tom",
        "yo",
        "go",
        "win",
        "hush",
        "pooh",
        "tsk",
        "her",
        "far",
        "wait",
        "very",
        "really",
        "ba",
        "na",
        "long",
    ]
)
_REPEAT = re.compile(r"\b([^\W\d_]+) +(\1)\b", re.IGNORECASE)
_FUNCTION_WORDS = frozenset(
    ["the", "a", "an", "and", "of", "to", "in", "is", "on", "for", "it", "with", "as", "at", "by", "or"]
)


def repeated_word(text: str, is_word: IsWord) -> Iterator[Match]:
    for m in _REPEAT.finditer(text):
        first, second = m.group(1), m.group(2)
        low = first.lower()
        if low in REPEAT_OK or (len(first) == 1 and low not in ("a", "i")):
            continue
        if second != first and second != low:
            continue  # "exception Exception": a term and its name
        if first[0].isupper() and second[0].isupper() and low not in _FUNCTION_WORDS:
            continue  # "Duran Duran", "Walla Walla": names
        yield Match(
            "REPEATED_WORD",
            f'The word "{second}" is repeated.',
            m.start(),
            m.end(),
            m.group(),
            [first],
        )


# --- a / an ---------------------------------------------------------------------------------

_ARTICLE = re.compile(r"(?<![\w'\"(\-./&@#\u2060])(a|an|A|An)( +)\u2060?([^\W\d_][\w'\-]*)")
_LETTER_CONTEXT = frozenset(
    [
        "vitamin",
        "type",
        "plan",
        "grade",
        "class",
        "section",
        "part",
        "option",
        "point",
        "item",
        "column",
        "row",
        "exhibit",
        "appendix",
        "figure",
        "step",
        "size",
        "letter",
        "variable",
        "list",
        "group",
        "team",
        "line",
        "version",
        "level",
        "phase",
        "stage",
        "track",
    ]
)
_NOT_AFTER_ARTICLE = frozenset(
    [
        "and",
        "or",
        "is",
        "in",
        "into",
        "after",
        "are",
        "as",
        "at",
        "if",
        "of",
        "on",
        "to",
        "with",
        "was",
        "were",
        "be",
        "by",
        "for",
        "from",
        "it",
        "its",
        "an",
        "a",
        "the",
    ]
)
_SILENT_H = ("hour", "honest", "honor", "honour", "heir")
_AMBIGUOUS_H = ("histor", "hotel", "hero", "hypoth", "habit", "hilar", "horrif", "hyster", "herb")
_YOU_U = (
    "unic",
    "unif",
    "unil",
    "union",
    "uniq",
    "unis",
    "unit",
    "univ",
    "unix",
    "unan",
    "unar",
    "ura",
    "ure",
    "uri",
    "uro",
    "usa",
    "use",
    "usi",
    "usu",
    "ute",
    "uti",
    "uto",
    "uvu",
    "ubi",
    "uku",
    "ufo",
    "eu",
    "ewe",
    "one",
    "once",
    "ouija",
)


def vowel_sound(word: str) -> bool | None:
    """Whether ``word`` starts with a vowel sound; ``None`` when unsure (then no rule fires)."""
    first = re.split(r"[-']", word, maxsplit=1)[0]
    if len(first) == 1:  # "an x-axis", "a u-turn": the letter's name decides
        return first.lower() in "aefhilmnorsx"
    if not first.isalpha() or first.isupper() or not first[1:].islower():
        return None  # acronyms (an FAQ, a URL), CamelCase: pronunciation unknown
    w = first.lower()
    if w.startswith(_YOU_U):
        return False
    if w[0] in "aeiou":
        return True
    if w.startswith(_SILENT_H):
        return True
    if w.startswith(_AMBIGUOUS_H) or w[0] == "y":
        return None
    return False


def a_an(text: str, is_word: IsWord) -> Iterator[Match]:
    for m in _ARTICLE.finditer(text):
        article, word = m.group(1), m.group(3)
        end = m.end()
        if text[end : end + 1] == "(":
            continue  # "a f(x)": a name, not a word
        if _prev_word(text, m.start()) in _LETTER_CONTEXT or word.lower() in _NOT_AFTER_ARTICLE:
            continue  # "vitamin a", "a and b": a letter or a variable, not an article
        if word.lower() in ("priori", "posteriori", "fortiori", "la", "capella", "cappella"):
            continue
        vowel = vowel_sound(word)
        if vowel is None:
            continue
        if "-" not in word and not is_word(word.lower()):
            continue  # "an ms pause": an abbreviation or a name, pronunciation unknown
        low = article.lower()
        if low == "a" and vowel:
            right = "an"
        elif low == "an" and not vowel:
            right = "a"
        else:
            continue
        right = _keep_case(article, right)
        yield Match(
            "A_AN",
            f'Use "{right}" instead of "{article}" before "{word}".',
            m.start(),
            end,
            m.group(),
            [f"{right} {word}"],
        )


# --- fixed confusions -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Confusion:
    rule: str
    message: str
    pattern: re.Pattern[str]
    replace: Callable[[re.Match[str]], str]


def _sub(group: int, word: str) -> Callable[[re.Match[str]], str]:
    """Replacement: the match with group ``group`` replaced by ``word`` (case kept)."""

    def replace(m: re.Match[str]) -> str:
        s, e = m.span(group)
        return m.group()[: s - m.start()] + _keep_case(m.group(group), word) + m.group()[e - m.start() :]

    return replace


_COMPARATIVES = (
    "more|less|better|worse|rather|greater|fewer|larger|smaller|higher|lower|faster|slower|"
    "bigger|longer|shorter|older|newer|easier|harder|stronger|weaker|cheaper|sooner"
)
_SUBJ_EXCLUDE = frozenset(
    [
        "does",
        "did",
        "will",
        "would",
        "can",
        "could",
        "shall",
        "should",
        "may",
        "might",
        "must",
        "let",
        "lets",
        "make",
        "makes",
        "made",
        "making",
        "help",
        "helps",
        "helped",
        "see",
        "sees",
        "saw",
        "seen",
        "watch",
        "watched",
        "hear",
        "heard",
        "have",
        "has",
        "had",
        "do",
        "don't",
        "doesn't",
        "didn't",
        "won't",
        "wouldn't",
        "can't",
        "couldn't",
        "shouldn't",
        "mustn't",
        "to",
        "not",
        "that",
        "lest",
        "if",
        "whether",
    ]
)

CONFUSIONS = [
    Confusion(
        "COULD_OF",
        'Did you mean "have"? ("could of" is a mishearing of "could\'ve")',
        re.compile(r"\b(could|should|would|must|might|Could|Should|Would|Must|Might) (of)\b(?! course)"),
        _sub(2, "have"),
    ),
    Confusion(
        "YOUR_YOURE",
        'Did you mean "you\'re" (you are)?',
        re.compile(r"\b([Yy]our) (?:welcome(?=[.!,;]| to\b| *$)|not\b|a\b|an\b|the\b|gonna\b)"),
        _sub(1, "you're"),
    ),
    Confusion(
        "YOURE_YOUR",
        'Did you mean "your" (belonging to you)?',
        re.compile(r"\b([Yy]ou're) own\b"),
        _sub(1, "your"),
    ),
    Confusion(
        "ITS_ITS",
        'Did you mean "it\'s" (it is / it has)?',
        re.compile(r"\b([Ii]ts) (?:a|an|the|not|been|going to)\b"),
        _sub(1, "it's"),
    ),
    Confusion(
        "ITS_OWN",
        'Did you mean "its" (belonging to it)?',
        re.compile(r"\b([Ii]t's) own\b"),
        _sub(1, "its"),
    ),
    Confusion(
        "THEN_THAN",
        'Did you mean "than" (a comparison)?',
        re.compile(rf"\b(?:{_COMPARATIVES}) (then)\b", re.IGNORECASE),
        _sub(1, "than"),
    ),
    Confusion(
        "AFFECT_EFFECT",
        'Did you mean "effect" (the noun)?',
        re.compile(
            r"\b(?:an|the|no|any|positive|negative|significant|adverse|desired|net|major|minor|"
            r"little|big|huge|large|great|side) (affect)(s?)\b(?= (?:on|of)\b|[.,;]| *$)",
            re.IGNORECASE,
        ),
        _sub(1, "effect"),
    ),
    Confusion(
        "EFFECT_AFFECT",
        'Did you mean "affect" (the verb)?',
        re.compile(
            r"\b(?:adversely|negatively|positively|directly|greatly|seriously|severely|"
            r"indirectly|significantly|drastically) (effect)(?:s|ed|ing)?\b",
            re.IGNORECASE,
        ),
        _sub(1, "affect"),
    ),
    Confusion(
        "THEIR_THERE",
        'Did you mean "there"?',
        re.compile(r"\b([Tt]heir) (?:is|are|was|were)\b"),
        _sub(1, "there"),
    ),
    Confusion(
        "LOWERCASE_I",
        'The pronoun "I" is always written in upper case.',
        re.compile(r"(?<![\w'./\-])(i)(?:'m|'ve|'ll|'d| am\b| have\b| was\b| think\b| will\b)"),
        _sub(1, "I"),
    ),
]


def confusions(text: str, is_word: IsWord) -> Iterator[Match]:
    for c in CONFUSIONS:
        for m in c.pattern.finditer(text):
            yield Match(c.rule, c.message, m.start(), m.end(), m.group(), [c.replace(m)])


# --- subject-verb agreement -----------------------------------------------------------------

_AGREEMENT = [
    (re.compile(r"\b(?:he|she|it|He|She|It) (don't)\b"), "doesn't", "3SG"),
    (re.compile(r"\b(?:I|you|we|they|You|We|They) (doesn't)\b"), "don't", "PL"),
    (re.compile(r"\b(?:he|she|He|She) (have)\b"), "has", "3SG"),
    (re.compile(r"\b(?:he|she|He|She) (are)\b"), "is", "3SG"),
    (re.compile(r"(?:^|(?<=[.!?] ))It (have|are)\b"), None, "3SG"),
    (re.compile(r"\b(?:we|they|We|They) (was)\b"), "were", "PL"),
    (re.compile(r"\b(?:we|they|We|They) (is)\b"), "are", "PL"),
    (re.compile(r"\b(?:we|they|We|They) (has)\b"), "have", "PL"),
]
_FIX_3SG = {"have": "has", "are": "is"}
_FIX_PL = {"is": "are", "was": "were", "has": "have"}


def agreement(text: str, is_word: IsWord) -> Iterator[Match]:
    for pattern, fix, kind in _AGREEMENT:
        for m in pattern.finditer(text):
            if _prev_word(text, m.start()) in _SUBJ_EXCLUDE:
                continue  # "does he have", "let it have", "insist that he have"
            verb = m.group(1)
            right = fix or (_FIX_3SG if kind == "3SG" else _FIX_PL)[verb]
            s = m.start(1) - m.start()
            yield Match(
                "AGREEMENT_SINGULAR" if kind == "3SG" else "AGREEMENT_PLURAL",
                f'The verb does not agree with its subject: "{right}" instead of "{verb}".',
                m.start(),
                m.end(),
                m.group(),
                [m.group()[:s] + right + m.group()[s + len(verb) :]],
            )


# --- sentence start -------------------------------------------------------------------------

ABBREVIATIONS = frozenset(
    [
        "e.g",
        "eg",
        "i.e",
        "ie",
        "etc",
        "vs",
        "cf",
        "approx",
        "al",
        "fig",
        "figs",
        "no",
        "nos",
        "ch",
        "vol",
        "vols",
        "sec",
        "secs",
        "p",
        "pp",
        "ca",
        "resp",
        "incl",
        "excl",
        "min",
        "max",
        "dept",
        "est",
        "viz",
        "ibid",
        "op",
        "cit",
        "var",
        "ver",
        "ed",
        "eds",
        "st",
        "mt",
        "jr",
        "sr",
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "inc",
        "ltd",
        "co",
        "corp",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "mon",
        "tue",
        "wed",
        "thu",
        "fri",
        "sat",
        "sun",
        "approx",
        "ref",
        "refs",
        "eq",
        "eqs",
        "ex",
        "esp",
        "gen",
        "govt",
        "hr",
        "hrs",
        "misc",
        "nr",
        "num",
        "pt",
        "pts",
        "sq",
        "tel",
        "vol",
        "wk",
        "yr",
        "yrs",
        "u.s",
        "a.m",
        "p.m",
    ]
)
SENTENCE_OPENERS = frozenset(
    [
        "the",
        "this",
        "that",
        "these",
        "those",
        "it",
        "its",
        "we",
        "you",
        "they",
        "he",
        "she",
        "i",
        "there",
        "here",
        "in",
        "on",
        "at",
        "for",
        "if",
        "when",
        "while",
        "but",
        "and",
        "so",
        "then",
        "also",
        "however",
        "a",
        "an",
        "some",
        "many",
        "most",
        "all",
        "each",
        "every",
        "our",
        "your",
        "their",
        "my",
        "what",
        "how",
        "why",
        "where",
        "who",
        "after",
        "before",
        "as",
        "to",
        "with",
        "by",
        "from",
        "please",
        "now",
        "finally",
        "first",
        "next",
        "once",
        "since",
        "although",
        "because",
        "unlike",
        "instead",
        "otherwise",
        "thus",
        "therefore",
        "no",
        "not",
        "only",
        "even",
        "both",
        "either",
        "neither",
        "other",
        "such",
        "until",
        "during",
        "this",
        "let",
        "use",
        "see",
        "note",
    ]
)
"""Sentence starters a lower-case letter is a slip on, not a parameter or a command's name."""
_SENTENCE_START = re.compile(r"(?<=[\w)\"'\]])([.!?]) +([a-z][a-z']*)(?![\w(\-./_@:])")


def sentence_start(text: str, is_word: IsWord) -> Iterator[Match]:
    for m in _SENTENCE_START.finditer(text):
        before = text[: m.start()]
        token = before.rsplit(" ", 1)[-1].strip("\"')]([").lower()
        if len(token) < 2 or token in ABBREVIATIONS or "." in token or not token.replace("'", "").isalpha():
            continue  # "e.g. this", "J. smith", "v1. then": not a sentence end
        if m.group(1) == "." and len(before.split()) < 2:
            continue  # "Step 1. install": too short to be a sentence
        word = m.group(2)
        if word not in SENTENCE_OPENERS:
            continue  # "size is optional", "pytest is ...": a parameter or a name, not a slip
        s, e = m.span(2)
        yield Match(
            "SENTENCE_START_CASE",
            "This sentence does not start with an upper-case letter.",
            s,
            e,
            word,
            [word[0].upper() + word[1:]],
        )


# --- spacing and punctuation ----------------------------------------------------------------

_SPACE_BEFORE = re.compile(r"([^\W\d_]+)( +)([,;!?]|\.(?!\.))(?= |$)")
_DOUBLED = re.compile(r"(?<=[^\W\d_])(,,|;;|\.\.(?![.\w/])|,\.|;\.|,;|;,)(?= |$)")
_NO_SPACE_COMMA = re.compile(r"(?<![\w.,/@\-])([a-z]{2,}),([a-z]{2,})(?![\w(./@\-])")


def punctuation(text: str, is_word: IsWord) -> Iterator[Match]:
    for m in _SPACE_BEFORE.finditer(text):
        mark = m.group(3)
        yield Match(
            "SPACE_BEFORE_PUNCTUATION",
            f'There should be no space before "{mark}".',
            m.start(),
            m.end(),
            m.group(),
            [m.group(1) + mark],
        )
    for m in _DOUBLED.finditer(text):
        mark = m.group()
        fix = "." if mark in ("..", ",.", ";.") else mark[0]
        yield Match(
            "DOUBLED_PUNCTUATION",
            f'Doubled or misplaced punctuation: "{mark}".',
            m.start(),
            m.end(),
            mark,
            [fix],
        )
    for m in _NO_SPACE_COMMA.finditer(text):
        if is_word(m.group(1)) and is_word(m.group(2)):
            yield Match(
                "MISSING_SPACE_AFTER_COMMA",
                "Add a space after the comma.",
                m.start(),
                m.end(),
                m.group(),
                [f"{m.group(1)}, {m.group(2)}"],
            )


RULES: list[Callable[[str, IsWord], Iterator[Match]]] = [
    repeated_word,
    a_an,
    confusions,
    agreement,
    sentence_start,
    punctuation,
]
RULE_IDS = [
    "REPEATED_WORD",
    "A_AN",
    "COULD_OF",
    "YOUR_YOURE",
    "YOURE_YOUR",
    "ITS_ITS",
    "ITS_OWN",
    "THEN_THAN",
    "AFFECT_EFFECT",
    "EFFECT_AFFECT",
    "THEIR_THERE",
    "LOWERCASE_I",
    "AGREEMENT_SINGULAR",
    "AGREEMENT_PLURAL",
    "SENTENCE_START_CASE",
    "SPACE_BEFORE_PUNCTUATION",
    "DOUBLED_PUNCTUATION",
    "MISSING_SPACE_AFTER_COMMA",
]


def _always(word: str) -> bool:
    return True


def check(text: str, is_word: IsWord = _always) -> list[Match]:
    """All rule matches in an English ``text``, in text order, overlapping matches dropped."""
    if PLACEHOLDER in text:
        # Keep offsets: the placeholder becomes a neutral non-word character.
        text = text.replace(PLACEHOLDER, "\u2022")
    found = [m for rule in RULES for m in rule(text, is_word)]
    for m in found:
        if MARK in m.text:
            m.text = m.text.replace(MARK, "")
            m.suggestions = [s.replace(MARK, "") for s in m.suggestions]
    found.sort(key=lambda m: (m.start, -m.end))
    out: list[Match] = []
    last_end = -1
    for m in found:
        if m.start >= last_end:
            out.append(m)
            last_end = m.end
    return out
