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


def _word_start(alternatives: str) -> str:
    """``"[Tt]he|[Oo]ur"`` as a regex group that matches those words at a word start, written so
    that each branch starts with a literal letter: the regex engine then skips positions that
    cannot start a match instead of trying every branch there (``\\b(?:[Tt]he|...)`` is several
    times slower on long texts)."""
    words = []
    for alt in alternatives.split("|"):
        m = re.fullmatch(r"\[(\w)(\w)\](.*)", alt)
        words += [m.group(1) + m.group(3), m.group(2) + m.group(3)] if m else [alt]
    return "(?:" + "|".join(re.escape(w[0]) + r"(?<!\w.)" + w[1:] for w in words) + ")"


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
_REPEAT = re.compile(r"(?<![\w\-])([^\W\d_]+) +(\1)\b", re.IGNORECASE)
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

_ARTICLE = re.compile(
    r"([aA](?<![\w'\"(\-./&@#\u2060].)(?:n(?! +\u2060?[aiAI])|(?! +\u2060?[bcdgjkpqtvwyzBCDGJKPQTVWYZ])))"
    r"( +)\u2060?([^\W\d_][\w'\-]*)"
)
"""An article and the word after it; it starts with a literal letter (fast to scan for), and
skips "a" before a consonant letter and "an" before "a" or "i", which :func:`vowel_sound` never
finds wrong."""
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
    "unanim",
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


_ONSETS = frozenset(
    [
        "bl",
        "br",
        "ch",
        "cl",
        "cr",
        "dr",
        "dw",
        "fl",
        "fr",
        "gh",
        "gl",
        "gn",
        "gr",
        "kl",
        "kn",
        "mn",
        "pn",
        "kr",
        "ph",
        "pl",
        "pr",
        "ps",
        "pt",
        "qu",
        "rh",
        "sc",
        "sh",
        "sk",
        "sl",
        "sm",
        "sn",
        "sp",
        "sq",
        "st",
        "sw",
        "th",
        "tr",
        "ts",
        "tw",
        "wh",
        "wr",
    ]
)
"""How English words may start with two consonants; other clusters are read letter by letter."""


def vowel_sound(word: str) -> bool | None:
    """Whether ``word`` starts with a vowel sound; ``None`` when unsure (then no rule fires)."""
    first = re.split(r"[-']", word, maxsplit=1)[0]
    if len(first) == 1:  # "an x-axis", "a u-turn": the letter's name decides
        return first.lower() in "aefhilmnorsx"
    if not first.isalpha() or first.isupper() or not first[1:].islower():
        return None  # acronyms (an FAQ, a URL), CamelCase: pronunciation unknown
    w = first.lower()
    if w[0] not in "aeiou" and w[1] not in "aeiouy" and w[:2] not in _ONSETS:
        # "an mbox", "an xterm", "an ms pause": read letter by letter
        return w[0] in "fhlmnrsx"
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
        if text[end : end + 1] == "(" or text[end : end + 2] in ("._", ".g", ".e"):
            continue  # "a f(x)": a name, not a word; "a e.g. zip file": an abbreviation
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
    hints: tuple[str, ...] = ()
    """Lower-case strings one of which a text must hold for the pattern to match (a fast
    pre-check: most blocks hold none)."""


def _any_of(hints: tuple[str, ...] | None) -> re.Pattern[str] | None:
    """One pattern that finds any of ``hints`` (a text holds one of them when it matches anywhere):
    one scan in C instead of one ``in`` per hint."""
    return re.compile("|".join(re.escape(h) for h in hints)) if hints else None


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
        ("could of", "should of", "would of", "must of", "might of"),
    ),
    Confusion(
        "YOUR_YOURE",
        'Did you mean "you\'re" (you are)?',
        re.compile(r"\b([Yy]our) (?:welcome(?=[.!,;]| to\b| *$)|not\b|a\b|an\b|the\b|gonna\b)"),
        _sub(1, "you're"),
        ("your ",),
    ),
    Confusion(
        "YOURE_YOUR",
        'Did you mean "your" (belonging to you)?',
        re.compile(r"\b([Yy]ou're) own\b"),
        _sub(1, "your"),
        ("you're own",),
    ),
    Confusion(
        "ITS_ITS",
        'Did you mean "it\'s" (it is / it has)?',
        re.compile(r"\b([Ii]ts) (?:a|an|the|not|been|going to)\b"),
        _sub(1, "it's"),
        ("its ",),
    ),
    Confusion(
        "ITS_OWN",
        'Did you mean "its" (belonging to it)?',
        re.compile(r"\b([Ii]t's) own\b"),
        _sub(1, "its"),
        ("it's own",),
    ),
    Confusion(
        "THEN_THAN",
        'Did you mean "than" (a comparison)?',
        re.compile(rf"\b(?:{_COMPARATIVES}) (then)\b", re.IGNORECASE),
        _sub(1, "than"),
        (" then",),
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
        ("affect",),
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
        ("effect",),
    ),
    Confusion(
        "THEIR_THERE",
        'Did you mean "there"?',
        re.compile(r"\b([Tt]heir) (?:is|are|was|were)\b"),
        _sub(1, "there"),
        ("their ",),
    ),
    Confusion(
        "LOWERCASE_I",
        'The pronoun "I" is always written in upper case.',
        re.compile(r"(?<![\w'./\-])(i)(?:'m|'ve|'ll|'d| am\b| have\b| was\b| think\b| will\b)"),
        _sub(1, "I"),
        ("i'", "i "),
    ),
    Confusion(
        "LOWERCASE_I",
        'The pronoun "I" is always written in upper case.',
        re.compile(
            r"(?:^|(?<=[.!?] )|(?<=\band )|(?<=\bbut )|(?<=\bso )|(?<=\bwhen )|(?<=\bif )|"
            r"(?<=\bbecause )|(?<=\bthat ))(i)(?= (?:love|like|know|want|hope|need|feel|believe|guess|"
            r"wish|really|just|also|never|always|remember|agree|did|do|can|could|would|should)\b)"
        ),
        _sub(1, "I"),
        ("i ",),
    ),
]


_CONFUSION_HINTS = [_any_of(c.hints) for c in CONFUSIONS]


def confusions(text: str, is_word: IsWord) -> Iterator[Match]:
    low = text.lower()
    for c, hints in zip(CONFUSIONS, _CONFUSION_HINTS, strict=True):
        if hints is not None and hints.search(low) is None:
            continue
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
_AGREEMENT_ANY = re.compile(
    _word_start("[Hh]e|[Ss]he|[Ii]t|I|[Yy]ou|[Ww]e|[Tt]hey") + r" (?:don't|doesn't|have|are|was|is|has)\b"
)
"""What any of :data:`_AGREEMENT` needs: a text without it is skipped in one scan."""
_FIX_3SG = {"have": "has", "are": "is"}
_FIX_PL = {"is": "are", "was": "were", "has": "have"}


def agreement(text: str, is_word: IsWord) -> Iterator[Match]:
    if not _AGREEMENT_ANY.search(text):
        return
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


def space_before(text: str, is_word: IsWord) -> Iterator[Match]:
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


_COMMA_JOIN = re.compile(r"[a-z],[a-z]")


def punctuation(text: str, is_word: IsWord) -> Iterator[Match]:
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
    if not _COMMA_JOIN.search(text):
        return
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


# --- mistakes site owners make that Harper's chosen rules miss ---------------------------------
#
# Each rule looks at a narrow frame (a determiner, a fixed word, a sentence start) where the
# wrong form cannot be right, so that it stays quiet on edited text; see
# ``scripts/bench_language.py grammar`` for what each one catches and raises.

_S = r"(?:^|(?<=[.!?:;] )|(?<=[.!?:;]\u2022 ))"
"""A sentence (or block) start."""
_PLURAL_NOT = frozenset(
    [
        "news",
        "means",
        "series",
        "species",
        "physics",
        "mathematics",
        "economics",
        "politics",
        "ethics",
        "analytics",
        "statistics",
        "graphics",
        "athletics",
        "gymnastics",
        "electronics",
        "logistics",
        "thanks",
        "odds",
        "goods",
        "lens",
        "bus",
        "gas",
        "atlas",
        "canvas",
        "alias",
        "bias",
        "chaos",
        "basis",
        "axis",
        "status",
        "campus",
        "virus",
        "corpus",
        "always",
        "sometimes",
        "perhaps",
        "nevertheless",
        "besides",
        "afterwards",
        "nowadays",
        "towards",
        "unless",
        "its",
        "his",
        "hers",
        "ours",
        "yours",
        "theirs",
        "this",
        "thus",
        "us",
        "yes",
        "is",
        "was",
        "has",
        "does",
        "as",
        "whereas",
    ]
)


def _plural(word: str, is_word: IsWord) -> bool:
    """Whether lower-case ``word`` reads as a regular plural noun (``prices``, ``potatoes``)."""
    if len(word) < 4 or not word.endswith("s") or word in _PLURAL_NOT:
        return False
    if word.endswith(("ss", "us", "is", "ics", "ness", "ous", "'s")):
        return False
    if word.endswith("ies") and is_word(word[:-3] + "y"):
        return True
    if word.endswith("ves") and (is_word(word[:-3] + "f") or is_word(word[:-3] + "fe")):
        return True
    if word.endswith("es") and is_word(word[:-2]) and word[-3] in "sxzho":
        return True
    return is_word(word[:-1])


_IRREGULAR_PLURALS = frozenset(
    ["people", "children", "men", "women", "mice", "feet", "teeth", "geese", "loaves", "lives"]
)
_COUNT_WORDS = (
    r"two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|several|many|multiple|"
    r"numerous|various|dozens|hundreds|thousands"
)


def existential(text: str, is_word: IsWord) -> Iterator[Match]:
    """ "There is two ways": a singular "there is" before a plural count."""
    for m in re.finditer(rf"\b([Tt]here(?: is|'s| was|\u2019s)) ({_COUNT_WORDS})\b(?![-'])", text):
        verb = m.group(1)
        right = verb[:5] + (" were" if verb.endswith("was") else " are")
        yield Match("THERE_IS_PLURAL", f'Use "{right}" before a plural: "{m.group(2)}" is more than one.',
                    m.start(), m.end(1), verb, [right])  # fmt: skip


def less_fewer(text: str, is_word: IsWord) -> Iterator[Match]:
    """ "less items": things that are counted take "fewer"."""
    for m in re.finditer(r"\b([Ll]ess) ([a-z]+)\b(?![-'])", text):
        noun = m.group(2)
        if noun in _IRREGULAR_PLURALS or _plural(noun, is_word):
            right = _keep_case(m.group(1), "fewer")
            yield Match("LESS_FEWER", f'"{noun}" can be counted: use "fewer" instead of "less".',
                        m.start(), m.end(), m.group(), [f"{right} {noun}"])  # fmt: skip


_CONTRACTIONS = {
    "dont": "don't", "doesnt": "doesn't", "didnt": "didn't", "isnt": "isn't", "arent": "aren't",
    "wasnt": "wasn't", "werent": "weren't", "hasnt": "hasn't", "havent": "haven't",
    "hadnt": "hadn't", "wouldnt": "wouldn't", "shouldnt": "shouldn't", "couldnt": "couldn't",
    "mustnt": "mustn't", "youre": "you're", "theyre": "they're", "im": "I'm", "ive": "I've",
}  # fmt: skip
MISSING_APOSTROPHE_WORDS = frozenset(_CONTRACTIONS) | {"cant", "wont"}
"""Contractions written without their apostrophe: grammar reports them, spelling does not."""
_SUBJECTS = r"I|you|we|they|he|she|it|who|that|You|We|They|He|She|It|[a-z]+s"


def missing_apostrophe(text: str, is_word: IsWord) -> Iterator[Match]:
    """ "dont", "doesnt"; "cant" and "wont" (words of their own) only after a subject."""
    for m in re.finditer(r"(?<![\w'./\-])([Dd]ont|[Dd]oesnt|[Dd]idnt|[Ii]snt|[Aa]rent|[Ww]asnt|[Ww]erent|"
                         r"[Hh]asnt|[Hh]avent|[Hh]adnt|[Ww]ouldnt|[Ss]houldnt|[Cc]ouldnt|[Mm]ustnt|"
                         r"[Tt]heyre|[Yy]oure)(?![\w'\-])", text):  # fmt: skip
        yield _apostrophe(m, _keep_case(m.group(1), _CONTRACTIONS[m.group(1).lower()]))
    for m in re.finditer(rf"\b(?:{_SUBJECTS}) ([Cc]ant|[Ww]ont) (?=[a-z]+\b)", text):
        word = m.group(1)
        yield _apostrophe(m, "can't" if word.lower() == "cant" else "won't", 1)


def _apostrophe(m: re.Match[str], right: str, group: int = 1) -> Match:
    word = m.group(group)
    return Match("MISSING_APOSTROPHE", f'"{word}" needs an apostrophe: "{right}".',
                 m.start(group), m.end(group), word, [right])  # fmt: skip


_SUBORDINATORS = frozenset(
    [
        "if",
        "until",
        "when",
        "whenever",
        "because",
        "why",
        "that",
        "so",
        "and",
        "but",
        "what",
        "how",
        "where",
        "while",
        "unless",
        "since",
        "whether",
        "once",
        "though",
        "although",
        "think",
        "know",
        "hope",
        "sure",
    ]
)
_ITS_ADVERB = "not|been|going|called|always|never|also|still|really"
_ITS_ADJECTIVE = (
    "possible|important|likely|unlikely|true|ready|done|easy|hard|clear|worth|soft|best|better|fine|okay|free"
)
_ITS_AFTER = (
    r"(?=[.,;:!?)]| (?:to|that|for|when|if|enough|than|and|but|because|now|again|here|there|yet)\b| *$)"
)


def its_contraction(text: str, is_word: IsWord) -> Iterator[Match]:
    """ "Its possible", "until its soft": "its" as the subject of a clause is "it's"."""
    for m in re.finditer(rf"\b([Ii]ts) (?:(?:{_ITS_ADVERB})\b|(?:{_ITS_ADJECTIVE}){_ITS_AFTER})", text):
        before = _prev_word(text, m.start())
        start = text[: m.start()].rstrip(" \u2022")
        if before in _SUBORDINATORS or not start or start[-1] in '.!?:;,(\u201c"':
            yield Match("ITS_ITS", 'Did you mean "it\'s" (it is / it has)?', m.start(1), m.end(1),
                        m.group(1), [_keep_case(m.group(1), "it's")])  # fmt: skip


_WHOSE_NEXT = frozenset(
    ["has", "had", "is", "was", "it", "they", "he", "she", "we", "I", "you", "are", "were", "will"]
)


def whose_whos(text: str, is_word: IsWord) -> Iterator[Match]:
    """ "who's recipe it was" (whose) and "whose going" (who's)."""
    for m in re.finditer(r"\b([Ww]ho's) ([a-z]+) ([A-Za-z]+)\b", text):
        noun, after = m.group(2), m.group(3)
        if after in _WHOSE_NEXT and not noun.endswith(("ing", "ed", "ly")) and noun not in _NOT_NOUN:
            yield Match("WHOSE_WHOS", 'Did you mean "whose" (belonging to whom)?', m.start(1), m.end(1),
                        m.group(1), [_keep_case(m.group(1), "whose")])  # fmt: skip
    for m in re.finditer(
        r"\b([Ww]hose) (?:going|coming|been|gonna|not|the|a|an|there|here|in charge)\b", text
    ):
        yield Match("WHOSE_WHOS", 'Did you mean "who\'s" (who is / who has)?', m.start(1), m.end(1),
                    m.group(1), [_keep_case(m.group(1), "who's")])  # fmt: skip


_NOT_NOUN = frozenset(
    [
        "been",
        "not",
        "also",
        "still",
        "just",
        "really",
        "always",
        "never",
        "here",
        "there",
        "ready",
        "able",
        "about",
        "going",
        "to",
        "in",
        "on",
        "at",
        "next",
        "responsible",
        "interested",
        "right",
        "wrong",
        "sure",
        "afraid",
        "allowed",
        "new",
        "online",
        "available",
    ]
)


def lose_loose(text: str, is_word: IsWord) -> Iterator[Match]:
    """ "you loose the data": the verb is "lose"."""
    pattern = (r"\b(?:I|you|we|they|he|she|it|to|will|'ll|can|could|would|might|may|must|should|"
               r"[Dd]on't|doesn't|didn't|never|not|You|We|They) (loose)\b"
               r"(?! (?:fit|change|soil|end)\b)")  # fmt: skip
    for m in re.finditer(pattern, text):
        yield Match("LOSE_LOOSE", 'Did you mean "lose" (the verb)? "Loose" means not tight.',
                    m.start(1), m.end(1), "loose", ["lose"])  # fmt: skip


def pronoun_case(text: str, is_word: IsWord) -> Iterator[Match]:
    """ "Me and Tom started", "him and me spent", "between you and I", "allow we to"."""
    for m in re.finditer(rf"{_S}(Me|Him|Her|Them|Us) and (?:[a-z]+ )?[a-zA-Z]+ "
                         r"(?:[a-z]+ed|[a-z]+s|had|have|are|were|"
                         r"went|got|came|made|did|do|will|would|can|could|come|go|spent|built|took|"
                         r"ran|began|saw|met|left|found|love|like|live|work)\b", text):  # fmt: skip
        word = m.group(1)
        right = {"Me": "I", "Him": "He", "Her": "She", "Them": "They", "Us": "We"}[word]
        yield Match("PRONOUN_CASE", f'Use the subject form "{right}" for who does something.',
                    m.start(1), m.end(1), word, [right])  # fmt: skip
    for m in re.finditer(r"\b(?:says|said|think|and|that|because) "
                         r"((?:him|her|them|us|me) and (?:me|him|her|them|us))"
                         r" (?:[a-z]+ed|had|have|are|were|went|got|came|made|did|spent|built|took)\b",
                         text):  # fmt: skip
        yield Match("PRONOUN_CASE", "Use the subject forms (he, she, they, we, I) for who does something.",
                    m.start(1), m.end(1), m.group(1), [])  # fmt: skip
    for m in re.finditer(
        r"\b(?:[Bb]etween|for|with|to|from|about|against|among) (?:you|him|her|them|us) and (I)\b(?!')", text
    ):
        yield Match("PRONOUN_CASE", 'After a preposition, use "me" instead of "I".',
                    m.start(1), m.end(1), "I", ["me"])  # fmt: skip
    for m in re.finditer(r"\b(?:of|with|from|about|allow|allows|let|lets|help|helps|tell|tells|give|gives|"
                         r"ask|asks|thank|between|among|against|toward|towards|without) (he|she|we|they)\b"
                         r"(?= *(?:[.,;!?]|to\b|$))", text):  # fmt: skip
        word = m.group(1)
        right = {"he": "him", "she": "her", "we": "us", "they": "them"}[word]
        yield Match(
            "PRONOUN_CASE", f'Use the object form "{right}" here.', m.start(1), m.end(1), word, [right]
        )


_SINGULAR_DET = r"[Ee]ach|[Ee]very|[Aa]|[Aa]n|[Oo]ne"
_MODALS = frozenset(
    [
        "i",
        "you",
        "he",
        "she",
        "it",
        "we",
        "they",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "can",
        "could",
        "will",
        "would",
        "shall",
        "should",
        "may",
        "might",
        "must",
        "do",
        "does",
        "did",
        "cannot",
        "need",
        "dare",
        "all",
        "both",
        "only",
        "also",
        "too",
        "then",
        "now",
        "often",
        "still",
        "just",
        "always",
        "never",
        "here",
        "there",
        "which",
        "that",
        "who",
        "whom",
        "whose",
        "what",
        "two",
        "three",
        "four",
        "five",
        "first",
        "second",
        "last",
        "latter",
    ]
)
_DET = r"[Tt]he|[Oo]ur|[Yy]our|[Tt]heir|[Hh]is|[Hh]er|[Mm]y|[Ii]ts"
_NOT_SINGULAR_HEAD = frozenset(
    [
        "people",
        "police",
        "staff",
        "team",
        "data",
        "media",
        "sheep",
        "fish",
        "deer",
        "family",
        "government",
        "committee",
        "crew",
        "couple",
        "majority",
        "audience",
        "public",
        "cattle",
        "personnel",
        "management",
        "number",
        "lot",
        "lots",
        "variety",
        "handful",
        "host",
        "plenty",
        "range",
        "bunch",
        "group",
        "total",
        "third",
        "quarter",
        "half",
        "percent",
        "rest",
        "part",
        "portion",
        "fraction",
        "kind",
        "sort",
        "type",
        "following",
        "above",
        "below",
        "best",
        "first",
        "last",
        "latter",
        "former",
        "same",
        "other",
        "few",
        "many",
        "more",
        "most",
        "remaining",
        "rich",
        "poor",
        "young",
        "old",
        "elderly",
        "next",
        "previous",
        "board",
        "council",
        "company",
    ]
)
_PREPOSITIONS = frozenset(
    [
        "of",
        "at",
        "in",
        "on",
        "for",
        "with",
        "from",
        "by",
        "to",
        "after",
        "before",
        "during",
        "under",
        "over",
        "about",
        "than",
        "like",
        "into",
        "through",
        "between",
        "among",
        "without",
        "within",
        "across",
        "behind",
        "beside",
        "near",
        "per",
        "via",
    ]
)
_PLURAL_VERB = r"are|were|have|don't|aren't|weren't|haven't"
_SINGULAR_SUBJECT_VERB = r"are|have|don't|aren't|haven't"
"""Plural verbs a singular subject cannot take ("were" can: "as if the key were")."""
_SINGULAR_VERB = r"is|was|has|doesn't|isn't|wasn't|hasn't"
_BASE_VERBS = (
    "take|make|go|use|handle|come|give|get|want|know|seem|become|mean|say|include|provide|"
    "require|allow|contain|tell|send|pick|sell|keep|cost|let|buy|grow|bake|hold|show|offer"
)
_OBJECT_START = (
    "(?:the|a|an|your|our|their|its|his|her|my|it|them|us|me|him|this|that|these|those|two|three|four|"
    "five|six|seven|eight|nine|ten|less|more|some|any|all|every|up|out|down|off|back|away|in|to|into|"
    "retries)"
)


def _singular_noun(word: str, is_word: IsWord) -> bool:
    return (word.islower() and not word.endswith(("s", "ed", "ly")) and word not in _NOT_SINGULAR_HEAD
            and word not in _IRREGULAR_PLURALS and word not in _MODALS
            and word not in _FUNCTION_WORDS and is_word(word))  # fmt: skip


_CLAUSE_OPENERS = frozenset(
    [
        "that",
        "if",
        "when",
        "whenever",
        "because",
        "while",
        "since",
        "although",
        "though",
        "but",
        "so",
        "where",
        "unless",
        "once",
        "until",
        "whether",
        "says",
        "said",
        "think",
        "thinks",
        "believe",
        "hope",
        "know",
        "knows",
    ]
)


def _clause_start(text: str, pos: int) -> bool:
    """Whether ``pos`` starts a sentence or a clause (where a noun phrase is the subject)."""
    before = text[:pos].rstrip(" \u2022")
    if not before or before[-1] in '.!?:;(\u201c"':
        return True
    return before[-1].isalpha() and _prev_word(text, pos) in _CLAUSE_OPENERS


_EACH_OF = re.compile(rf"\b(?:[Ee]ach|[Oo]ne|[Nn]either|[Ee]ither|[Ee]very one) of "
                      r"(?:the|our|your|their|these|those|its|his|her|my|us|them)"
                      rf"(?: [a-z]+)?? ([a-z]+) ({_PLURAL_VERB}|[a-z]+)\b")  # fmt: skip
_EACH_OF_VERBS = re.compile(_BASE_VERBS + "|return|agree|work|run|support|cost")
_SINGULAR_ARE = re.compile(
    rf"{_word_start(_SINGULAR_DET)} (?:([a-z]+) )?([a-z]+)(?: of [a-z]+(?: [a-z]+)?)? "
    rf"({_SINGULAR_SUBJECT_VERB})\b"
)
_SINGULAR_ARE_HINTS = (" are", " have", " don't", " aren't", " haven't")
_PLURAL_IS = re.compile(
    rf"{_word_start(_DET)} ([a-z]+)(?: of (?:the |our |your |their |an? )?[a-z]+)? ({_SINGULAR_VERB})\b"
)
_PLURAL_IS_HINT = re.compile(r" (?:is|was|has|doesn't)")
"""What a match of :data:`_PLURAL_IS` holds (its verbs after a space; "isn't" starts with "is")."""
_SINGULAR_USE = re.compile(
    rf"{_word_start(_DET + '|' + _SINGULAR_DET)} (?:([a-z]+) )?([a-z]+) "
    rf"(?:({_SINGULAR_SUBJECT_VERB})\b|({_BASE_VERBS}) (?={_OBJECT_START}\b))"
)
_WHO = re.compile(
    r"\b(?:(everyone|anyone|someone|no one|nobody|everybody|somebody|anybody)|"
    rf"(?:{_SINGULAR_DET}) ([a-z]+)|([a-z]+)) who ({_PLURAL_VERB}|{_SINGULAR_VERB})\b"
)


def noun_agreement(text: str, is_word: IsWord) -> Iterator[Match]:
    """Agreement of a verb with a noun subject in frames that leave no doubt about the subject:
    "each token are", "a page of results are", "the farmers has", "the recipe use less salt",
    "each of the tools have", "a customer who have"."""
    seen: set[int] = set()

    def hit(m: re.Match[str], group: int, right: str, subject: bool = True) -> Match | None:
        if m.start(group) in seen or (subject and not _clause_start(text, m.start())):
            return None  # "each of our loaves is", "containing the signals is": not the subject
        seen.add(m.start(group))
        verb = m.group(group)
        message = f'The verb does not agree with its subject: "{right}" instead of "{verb}".'
        return Match("AGREEMENT_NOUN", message,
                     m.start(group), m.end(group), verb, [right])  # fmt: skip

    plural_fix = {"are": "is", "were": "was", "have": "has", "don't": "doesn't", "aren't": "isn't",
                  "weren't": "wasn't", "haven't": "hasn't"}  # fmt: skip
    singular_fix = {v: k for k, v in plural_fix.items()}
    # each of the tools have / one of the volunteers were
    for m in _EACH_OF.finditer(text) if " of " in text else ():
        verb = m.group(2)
        if (
            m.group(1) not in ("us", "them")
            and not _plural(m.group(1), is_word)
            and m.group(1) not in _IRREGULAR_PLURALS
        ):
            continue
        if verb in plural_fix:
            found = hit(m, 2, plural_fix[verb])
        elif _EACH_OF_VERBS.fullmatch(verb):
            found = hit(m, 2, verb + ("es" if verb.endswith(("sh", "ch", "o")) else "s"))
        else:
            found = None
        if found:
            yield found
    # each token are / a new tenant are / a page of results are
    for m in _SINGULAR_ARE.finditer(text) if any(h in text for h in _SINGULAR_ARE_HINTS) else ():
        head = m.group(2)
        if m.group(1) and (m.group(1) in _NOT_SINGULAR_HEAD or not _singular_noun(m.group(1), is_word)):
            continue
        if _singular_noun(head, is_word) and (m.group(1) is None or is_word(m.group(1))):
            found = hit(m, 3, plural_fix[m.group(3)])
            if found:
                yield found
    # the farmers has / the prices of our compost is / the terms of an order is
    for m in _PLURAL_IS.finditer(text) if _PLURAL_IS_HINT.search(text) else ():
        if _plural(m.group(1), is_word):
            found = hit(m, 2, singular_fix[m.group(2)])
            if found:
                yield found
    # our apprentice are / the recipe use less salt
    for m in _SINGULAR_USE.finditer(text):
        if m.group(1) and (m.group(1).endswith("s") or m.group(1) in _MODALS):
            continue  # "the patterns here are", "the codecs all use"
        if not _singular_noun(m.group(2), is_word):
            continue
        if m.group(3):
            found = hit(m, 3, plural_fix[m.group(3)])
        else:
            verb = m.group(4)
            found = hit(m, 4, verb + ("es" if verb.endswith(("sh", "ch", "o")) else "s"))
        if found:
            yield found
    # a customer who have / people who has / everyone who have
    for m in _WHO.finditer(text) if " who " in text else ():
        verb = m.group(4)
        if m.group(1) or (m.group(2) and _singular_noun(m.group(2), is_word)):
            if verb in plural_fix:
                found = hit(m, 4, plural_fix[verb], subject=False)
                if found:
                    yield found
        elif m.group(3) and (m.group(3) == "people" or _plural(m.group(3), is_word)) and verb in singular_fix:
            found = hit(m, 4, singular_fix[verb], subject=False)
            if found:
                yield found


_MODAL = (
    r"can|could|will|would|shall|should|may|might|must|cannot|can't|won't|wouldn't|shouldn't|"
    r"couldn't|didn't|doesn't|don't|'ll"
)


def modal_verb_form(text: str, is_word: IsWord) -> Iterator[Match]:
    """ "You can turns this off", "we will answers": a modal takes the verb's base form."""
    for m in re.finditer(rf"(?<=[a-z] )({_MODAL}) ([a-z]+s)\b(?![-'])", text):
        word = m.group(2)
        if word in _PLURAL_NOT or word.endswith(("ss", "us", "is", "'s")) or not _plural(word, is_word):
            continue
        if _prev_word(text, m.start()) in ("how", "what", "when", "why", "where", "which", "who"):
            continue
        end = re.compile(r"[.!?]").search(text, m.end())
        if end and end.group() == "?":
            continue  # "How many bytes should tokens use?": a question, the subject follows
        base = (
            word[:-3] + "y"
            if word.endswith("ies")
            else word[:-2]
            if word.endswith(("shes", "ches", "sses", "xes", "oes"))
            else word[:-1]
        )
        yield Match("VERB_FORM", f'After "{m.group(1)}", use the base form "{base}".', m.start(2), m.end(2),
                    word, [base])  # fmt: skip


_YOURE = re.compile(r"\b(?:for|of|with|to|in|on|from|about|by|at|into|thank you for) ([Yy]ou're)\b")
_THERE_OWN = re.compile(
    r"\b([Tt]here) own\b|\b(?:in|of|for|with|from|by|to) (there) "
    r"(?:original|favourite|favorite|children|family|friends|homes?|accounts?|password|orders?)\b"
)


def possessives(text: str, is_word: IsWord) -> Iterator[Match]:
    """ "for you're support" (your), "in there own pots" (their)."""
    for m in _YOURE.finditer(text):
        yield Match("YOURE_YOUR", 'Did you mean "your" (belonging to you)?', m.start(1), m.end(1), m.group(1),
                    [_keep_case(m.group(1), "your")])  # fmt: skip
    for m in _THERE_OWN.finditer(text):
        group = 1 if m.group(1) else 2
        yield Match("THERE_THEIR", 'Did you mean "their" (belonging to them)?', m.start(group), m.end(group),
                    m.group(group), [_keep_case(m.group(group), "their")])  # fmt: skip


HINTS: dict[Callable[[str, IsWord], Iterator[Match]], tuple[str, ...]] = {}
"""Per rule function: lower-case strings one of which a text must hold for it to match."""
RULE_IDS_OF: dict[Callable[[str, IsWord], Iterator[Match]], tuple[str, ...]] = {}
"""Per rule function: the rule ids it can report (it is skipped when none is wanted)."""

RULES: list[Callable[[str, IsWord], Iterator[Match]]] = [
    repeated_word,
    a_an,
    confusions,
    agreement,
    sentence_start,
    space_before,
    punctuation,
    existential,
    less_fewer,
    missing_apostrophe,
    its_contraction,
    whose_whos,
    lose_loose,
    pronoun_case,
    noun_agreement,
    modal_verb_form,
    possessives,
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
    "THERE_IS_PLURAL",
    "LESS_FEWER",
    "MISSING_APOSTROPHE",
    "WHOSE_WHOS",
    "LOSE_LOOSE",
    "PRONOUN_CASE",
    "AGREEMENT_NOUN",
    "VERB_FORM",
    "THERE_THEIR",
]


HINTS.update(
    {
        agreement: (" he ", " she ", " it ", " we ", " they ", " you ", " i "),
        punctuation: (",", ";", ".."),
        pronoun_case: (
            "me and",
            "him and",
            "her and",
            "them and",
            "us and",
            " and i",
            " he",
            " she",
            " we",
            " they",
        ),
        existential: ("there",),
        less_fewer: ("less ",),
        missing_apostrophe: (*(w for w in _CONTRACTIONS if w not in ("im", "ive")), "cant", "wont"),
        its_contraction: ("its ",),
        whose_whos: ("who's", "whose"),
        lose_loose: ("loose",),
        modal_verb_form: (
            "can",
            "could",
            "will",
            "would",
            "shall",
            "should",
            "may",
            "might",
            "must",
            "n't",
            "'ll",
        ),
        possessives: ("you're", "there"),
    }
)
RULE_IDS_OF.update(
    {
        repeated_word: ("REPEATED_WORD",),
        a_an: ("A_AN",),
        confusions: tuple(c.rule for c in CONFUSIONS),
        agreement: ("AGREEMENT_SINGULAR", "AGREEMENT_PLURAL"),
        sentence_start: ("SENTENCE_START_CASE",),
        space_before: ("SPACE_BEFORE_PUNCTUATION",),
        punctuation: ("DOUBLED_PUNCTUATION", "MISSING_SPACE_AFTER_COMMA"),
        existential: ("THERE_IS_PLURAL",),
        less_fewer: ("LESS_FEWER",),
        missing_apostrophe: ("MISSING_APOSTROPHE",),
        its_contraction: ("ITS_ITS",),
        whose_whos: ("WHOSE_WHOS",),
        lose_loose: ("LOSE_LOOSE",),
        pronoun_case: ("PRONOUN_CASE",),
        noun_agreement: ("AGREEMENT_NOUN",),
        modal_verb_form: ("VERB_FORM",),
        possessives: ("YOURE_YOUR", "THERE_THEIR"),
    }
)


def _always(word: str) -> bool:
    return True


_PLANS: dict[frozenset[str] | None, list] = {}


def _plan(rules: frozenset[str] | None) -> list:
    """``(rule function, hints, all its ids wanted)`` for the functions :func:`check` runs."""
    plan = _PLANS.get(rules)
    if plan is None:
        plan = [
            (rule, _any_of(HINTS.get(rule)), rules is None or all(i in rules for i in RULE_IDS_OF[rule]))
            for rule in RULES
            if rules is None or any(i in rules for i in RULE_IDS_OF[rule])
        ]
        _PLANS[rules] = plan
    return plan


def check(text: str, is_word: IsWord = _always, rules: frozenset[str] | None = None) -> list[Match]:
    """Matches of ``rules`` (ids; all when ``None``) in an English ``text``, in text order,
    overlapping matches dropped."""
    if PLACEHOLDER in text:
        # Keep offsets: the placeholder becomes a neutral non-word character.
        text = text.replace(PLACEHOLDER, "\u2022")
    low = " " + text.lower()
    found: list[Match] = []
    if rules is not None and not isinstance(rules, frozenset):
        rules = frozenset(rules)
    for rule, hints, every in _plan(rules):
        if hints is not None and hints.search(low) is None:
            continue
        if every:
            found.extend(rule(text, is_word))
        else:
            found.extend(m for m in rule(text, is_word) if m.rule in rules)
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


OWN_RULES = (
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
    "DOUBLED_PUNCTUATION",
    "MISSING_SPACE_AFTER_COMMA",
    "THERE_IS_PLURAL",
    "LESS_FEWER",
    "MISSING_APOSTROPHE",
    "WHOSE_WHOS",
    "LOSE_LOOSE",
    "PRONOUN_CASE",
    "AGREEMENT_NOUN",
    "VERB_FORM",
    "THERE_THEIR",
)
"""The rules that run beside Harper's. Left off: ``SENTENCE_START_CASE`` and
``SPACE_BEFORE_PUNCTUATION`` (on real documentation they mostly flagged what extraction left
around code) and the ``AGREEMENT_SINGULAR``/``AGREEMENT_PLURAL`` cases Harper covers are kept
because they are exact."""
