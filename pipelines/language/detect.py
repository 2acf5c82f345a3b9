"""Offline language identification of a text block with py3langid, for blocks long enough to tell."""

from __future__ import annotations

import threading

MIN_CHARS = 40
"""Shorter texts (menu items, headings) are not identified: the guess would be noise."""
MIN_WORDS = 6
CONFIDENCE = 0.95
"""Normalised probability a guess needs before it overrides a page-wide declaration."""

_lock = threading.Lock()
_identifier = None


def _get():
    global _identifier
    with _lock:
        if _identifier is None:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            _identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        return _identifier


def long_enough(text: str) -> bool:
    return len(text) >= MIN_CHARS and text.count(" ") + 1 >= MIN_WORDS


def identify(text: str) -> tuple[str, float]:
    """``(ISO 639-1 code, probability)``, or ``("", 0.0)`` when the text is too short to tell."""
    if not long_enough(text):
        return "", 0.0
    lang, prob = _get().classify(text)
    return str(lang), float(prob)
