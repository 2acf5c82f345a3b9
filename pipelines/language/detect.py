"""Offline language identification of a text block with py3langid, for blocks long enough to tell."""

from __future__ import annotations

import threading
from functools import lru_cache

MIN_CHARS = 40
"""Shorter texts (menu items, headings) are not identified: the guess would be noise."""
MIN_WORDS = 6
CONFIDENCE = 0.95
"""Normalised probability a guess needs before it overrides a page-wide declaration."""

_lock = threading.Lock()
_identifier = None


def load() -> None:
    """Load the model now (about a second and 80 MB): a crawl does it once at its start, on a
    thread, rather than on the reactor at the first block that looks foreign."""
    _get()


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
    return _classify(text)


@lru_cache(maxsize=4096)
def _classify(text: str) -> tuple[str, float]:
    # Link texts and template blocks repeat on every page: each is classified once.
    lang, prob = _get().classify(text)
    return str(lang), float(prob)
