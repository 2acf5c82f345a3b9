"""Grammar by Harper, the offline English grammar checker (Rust, in process via ``harper-py``).

Only the rules in :data:`RULES` are on: Harper's defaults include style advice ("all of the" →
"all the", "a middleware") that raises about a dozen alarms per 10,000 words of edited
documentation. The rules kept were chosen on the planted set in ``tests/sites/voices`` and on
real documentation (see ``scripts/bench_language.py grammar``): each one catches mistakes site
owners make and raised no false alarm there.

A ``harper.Linter`` is not thread-safe and costs about a second to build, so
:class:`HarperChecker` holds one per dialect and is meant to be used from one thread. Harper's
per-call overhead dominates short texts, so the sentences of a page that could hold a mistake
Harper's rules find (:data:`TRIGGER`) go in as one text, one sentence per paragraph, and the
lints are mapped back to the blocks.
"""

from __future__ import annotations

import re

from pipelines.language.extract import MARK, PLACEHOLDER
from pipelines.language.grammar import Match

RULES: frozenset[str] = frozenset(
    [
        "AdjectiveDoubleDegree",  # "more easier", "most cheapest"
        "DidPast",  # "did went"
        "NounVerbConfusion",  # "will effect the price", "had a huge affect on" (filtered, see below)
        "PronounVerbAgreement",  # "he go", "I has", "it don't" (not after a variable "i")
    ]
)
"""Harper rules that are on, by Harper's rule name (the finding's ``rule``).

Left off after the evaluation, with what they raised on the Python documentation: ``AnA`` (the
variables in "a and b"; our ``A_AN`` is kept instead), ``CapitalizePersonalPronouns`` (the
index ``i``; our ``LOWERCASE_I``), ``RepeatedWords`` ("PyStatus PyStatus_Ok"; our
``REPEATED_WORD``), ``ItsContraction`` and ``ItsPossessive`` ("its associated", "it's binary";
our ``ITS_ITS``), ``PronounInflectionBe`` ("between them isn't"), and every style rule."""

_EFFECT_NOUN_BEFORE = frozenset(
    [
        "the",
        "a",
        "an",
        "its",
        "their",
        "his",
        "her",
        "our",
        "your",
        "my",
        "this",
        "no",
        "any",
        "has",
        "have",
        "had",
        "only",
        "side",
        "same",
        "desired",
        "net",
        "whose",
        "of",
        "in",
        "into",
        "take",
        "takes",
        "took",
        "some",
        "each",
        "every",
        "little",
        "big",
        "huge",
        "great",
    ]
)
_AFFECT_VERB_BEFORE = frozenset(
    [
        "to",
        "will",
        "would",
        "can",
        "could",
        "may",
        "might",
        "must",
        "should",
        "not",
        "does",
        "do",
        "did",
        "also",
        "and",
        "never",
    ]
)

TRIGGER = re.compile(
    r"\b(?:[Mm]ore|[Mm]ost) (?:[a-z]+(?:er|est)|better|best|worse|worst)\b|\b(?:[Dd]id|didn't)\b"
    r"|\b(?:[Hh]e|[Ss]he|[Ii]t) (?!(?:can|could|will|would|shall|should|may|might|must|did|didn't|cannot|"
    r"can't|won't|also|then|only|just|never|always|still|not|and|or|to|in|on|at|by|for|with|from|that|"
    r"up|out|again|is|was|wasn't|isn't|has|hasn't|does|doesn't|as|if|into|a|an|the)\b|\w+(?:s|ed)\b)[a-z]"
    r"|\b(?:I|[Yy]ou|[Ww]e|[Tt]hey) "
    r"(?!(?:is|was|has|does|always|sometimes|perhaps|as|thus|its|his|this)\b)[a-z]+s\b"
    r"|\b(?:I|[Yy]ou|[Ww]e|[Tt]hey) (?:is|was|has|does)\b|\b(?:I|[Ii]t) (?:are|were|have|don't)\b"
)
"""A sentence Harper's rules could flag: only those go to Harper, which is by far the slowest
part of the language stage (its cost is per word, whatever rules are on). "more" and "most" only
before a comparative or superlative; "effect" and "affect" only where :func:`_doubtful` would
keep Harper's match (not "the effect", not "to affect"; see :func:`worth_checking`)."""
_CONFUSABLE = re.compile(r"\b(?:[Aa]ffect|[Ee]ffect(?:s|ed|ing)?)\b")
_SENTENCE = re.compile(r"[^.!?]*(?:[.!?]+|$)")
SEPARATOR = "\n\n"
"""Between blocks: a paragraph break, so a block's end is a sentence end for Harper."""
NEUTRAL = "\u2022"
"""What a left-out inline element (code) reads as: a symbol, not a word or a sentence end."""

_DIALECTS = {"GB": 1, "AU": 2, "CA": 3, "IN": 4}
_CODE_SPAN = re.compile(r"`([^`]+)`")


def dialect(tag: str) -> int:
    """Harper's dialect number for a dictionary tag such as ``en_GB`` (American by default)."""
    region = tag.split("_")[1].upper() if "_" in tag else ""
    return _DIALECTS.get(region, 0)


def message_text(message: str) -> str:
    """Harper's Markdown message as plain text: `` `word` `` becomes "word"."""
    return _CODE_SPAN.sub(r'"\1"', message).strip()


class HarperChecker:
    """Harper's chosen rules over the blocks of a page; blocking, use from one thread."""

    def __init__(self, rules: frozenset[str] | None = RULES):
        self.rules = rules
        """Rule names to turn on; ``None``: Harper's own defaults (for evaluation)."""
        self._linters: dict[int, object] = {}

    def linter(self, tag: str):
        number = dialect(tag)
        linter = self._linters.get(number)
        if linter is None:
            import harper

            linter = harper.Linter(harper.Dialect(number))
            if self.rules is not None:
                defaults = linter.get_default_lint_config()
                unknown = self.rules - defaults.keys()
                if unknown:
                    raise ValueError(f"Harper has no rule named {sorted(unknown)}")
                linter.set_lint_config({name: name in self.rules for name in defaults})
            self._linters[number] = linter
        return linter

    def check(self, texts: list[str], tag: str = "en_US") -> list[list[Match]]:
        """Matches per text, in text order; ``texts`` are English blocks (apostrophes normalised)."""
        out: list[list[Match]] = [[] for _ in texts]
        if not texts:
            return out
        pieces: list[tuple[int, int, str]] = []  # (text index, offset in text, sentence)
        for index, text in enumerate(texts):
            for m in _SENTENCE.finditer(text):
                if m.group().strip() and (self.rules is None or worth_checking(m.group())):
                    pieces.append((index, m.start(), m.group()))
        if not pieces:
            return out
        starts = []
        pos = 0
        for _, _, piece in pieces:
            starts.append(pos)
            pos += len(piece) + len(SEPARATOR)
        joined = SEPARATOR.join(p.replace(PLACEHOLDER, NEUTRAL).replace(MARK, " ") for _, _, p in pieces)
        lints = self.linter(tag).organized_lints(joined, language="plaintext")
        for rule, found in lints.items():
            for lint in found:
                start, end = lint.span.start, lint.span.end
                number = _block_of(starts, start)
                index, offset_in_text, piece = pieces[number]
                offset = starts[number]
                text = texts[index]
                if end - offset > len(piece) or end <= start:
                    continue  # spans a sentence boundary: not a mistake in either
                s, e = start - offset + offset_in_text, end - offset + offset_in_text
                suggestions = []
                for suggestion in lint.suggestions:
                    kind = int(suggestion.kind)
                    if kind == 0:
                        fix = suggestion.replacement_text
                    elif kind == 1:
                        fix = ""
                    else:
                        fix = lint.problem_text + suggestion.replacement_text
                    if fix not in suggestions:
                        suggestions.append(fix)
                if _doubtful(rule, text, s, e):
                    continue
                out[index].append(
                    Match(
                        rule, message_text(lint.message), s, e, text[s:e].replace(MARK, ""), suggestions[:5]
                    )
                )
        for matches in out:
            matches.sort(key=lambda m: (m.start, -m.end))
        return out


def worth_checking(sentence: str) -> bool:
    """Whether Harper's chosen rules could flag something in ``sentence`` that
    :func:`_doubtful` keeps."""
    if TRIGGER.search(sentence):
        return True
    if "ffect" not in sentence:
        return False
    for m in _CONFUSABLE.finditer(sentence):
        if not _doubtful("NounVerbConfusion", sentence, m.start(), m.end()):
            return True
    return False


def _previous_word(text: str, pos: int) -> str:
    words = text[:pos].split()
    return words[-1].lower().strip("\"'(“" + MARK) if words else ""


def _doubtful(rule: str, text: str, start: int, end: int) -> bool:
    """Harper matches seen to be wrong on real text: "its effect applies" (a noun after a
    determiner), "in order to affect" (a verb after "to"), "the index i is" (a variable)."""
    word = text[start:end].lower()
    before = _previous_word(text, start)
    if rule == "NounVerbConfusion":
        if word.startswith("effect"):
            return before in _EFFECT_NOUN_BEFORE
        return word != "affect" or before in _AFFECT_VERB_BEFORE
    if rule == "PronounVerbAgreement":
        return before == "i"
    return False


def _block_of(starts: list[int], offset: int) -> int:
    lo, hi = 0, len(starts) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if starts[mid] <= offset:
            lo = mid
        else:
            hi = mid - 1
    return lo
