"""Hunspell dictionaries through pyenchant, and the choice of dictionary for a language tag.

Debian's Enchant ordering file (``/usr/share/enchant-2/enchant.ordering``) lists Aspell first for
``en_US``, ``en_GB``, ... and a per-language entry wins over ``*``; so
``Broker.set_ordering("*", "hunspell")`` alone still yields Aspell. We set the ordering for each
tag we request, and accept the dictionary only if its provider really is Hunspell.
"""

from __future__ import annotations

import logging
import threading

import enchant

logger = logging.getLogger(__name__)

PROVIDER = "hunspell"

_lock = threading.Lock()
_broker: enchant.Broker | None = None
_dicts: dict[str, enchant.Dict | None] = {}


def broker() -> enchant.Broker:
    global _broker
    with _lock:
        if _broker is None:
            _broker = enchant.Broker()
        return _broker


def hunspell_dict(tag: str) -> enchant.Dict | None:
    """The Hunspell dictionary for ``tag`` (``en_US``), or ``None`` if Hunspell has none."""
    with _lock:
        if tag in _dicts:
            return _dicts[tag]
    b = broker()
    found: enchant.Dict | None = None
    with _lock:
        b.set_ordering(tag, PROVIDER)
        try:
            if b.dict_exists(tag):
                candidate = b.request_dict(tag)
                if candidate.provider.name == PROVIDER and candidate.tag == tag:
                    found = candidate
        except enchant.errors.Error:
            found = None
        _dicts[tag] = found
    return found


def installed_languages() -> list[str]:
    """Tags (``en_GB``, ``en_US``, ...) for which Hunspell has a dictionary on this system."""
    return sorted(tag for tag in broker().list_languages() if hunspell_dict(tag) is not None)


def normalise_tag(tag: str) -> tuple[str, str]:
    """``"en-gb"`` → ``("en", "GB")``; ``"zh-Hant-TW"`` → ``("zh", "TW")``; ``""`` → ``("", "")``."""
    parts = tag.replace("_", "-").strip().split("-")
    primary = parts[0].lower() if parts and parts[0].isalpha() else ""
    region = ""
    for part in parts[1:]:
        if len(part) == 2 and part.isalpha():
            region = part.upper()
            break
    return primary, region


class DictionaryChooser:
    """Maps a language tag to an installed Hunspell dictionary, with the site's default variant.

    A tag with a region (``en-GB``) picks that variant. A bare tag (``en``, or a detector's
    answer) picks the site's own variant when the language matches, else ``xx_XX``, else any
    installed variant. ``None`` means: no dictionary, do not check.
    """

    def __init__(self, site_language: str = "en_US", available: list[str] | None = None):
        self.available = available if available is not None else installed_languages()
        primary, region = normalise_tag(site_language or "en_US")
        self.site_primary = primary
        self.site_tag = self._pick(primary, region)
        self._cache: dict[str, tuple[str | None, bool]] = {}

    def _pick(self, primary: str, region: str) -> str | None:
        if not primary:
            return None
        if region and f"{primary}_{region}" in self.available:
            return f"{primary}_{region}"
        if primary == getattr(self, "site_primary", None) and getattr(self, "site_tag", None):
            return self.site_tag
        if f"{primary}_{primary.upper()}" in self.available:
            return f"{primary}_{primary.upper()}"
        if primary in self.available:
            return primary
        variants = [t for t in self.available if t.split("_")[0] == primary]
        return variants[0] if variants else None

    def choose(self, tag: str) -> tuple[str | None, bool]:
        """``(dictionary tag or None, strict)``: strict when the tag named a region we have."""
        try:
            return self._cache[tag]
        except KeyError:
            pass
        primary, region = normalise_tag(tag)
        chosen = self._pick(primary, region)
        strict = bool(region) and chosen == f"{primary}_{region}"
        self._cache[tag] = (chosen, strict)
        return chosen, strict

    def variants(self, tag: str) -> list[str]:
        """Other installed variants of ``tag``'s language (``en_GB`` for ``en_US``)."""
        primary = tag.split("_")[0]
        return [t for t in self.available if t != tag and t.split("_")[0] == primary]
