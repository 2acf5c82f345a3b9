"""Offline language identification of a text block with py3langid, for blocks long enough to tell."""

from __future__ import annotations

import hashlib
import logging
import mmap
import os
import tempfile
import threading
from functools import lru_cache
from pathlib import Path

logger = logging.getLogger(__name__)

MIN_CHARS = 40
"""Shorter texts (menu items, headings) are not identified: the guess would be noise."""
MIN_WORDS = 6
CONFIDENCE = 0.95
"""Normalised probability a guess needs before it overrides a page-wide declaration."""

_lock = threading.Lock()
_identifier = None


def prepare() -> None:
    """Unpack the model into :func:`cache_dir` if it is not there yet (about a second, once per
    machine): a crawl does it at its start, on a thread, so that the first block that looks
    foreign costs only mapping the files (milliseconds), never unpacking on the reactor."""
    try:
        _model_files()
    except (OSError, ValueError) as exc:
        logger.info("Language detector: the model cannot be cached (%s)", exc)


def _get():
    global _identifier
    with _lock:
        if _identifier is None:
            _identifier = _mapped() or _unpacked()
        return _identifier


def _unpacked():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def cache_dir() -> Path:
    """Where the unpacked model is kept (``$XDG_CACHE_HOME/flawless``, else ``~/.cache/flawless``)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "flawless"


def _mapped():
    """The model with its two large tables (70 MB unpacked) mapped from files in
    :func:`cache_dir` instead of held in the process's memory: a crawl touches a small part of
    them, and the pages it touches are the kernel's to share and reclaim. Same answers as the
    unpacked model; ``None`` when the cache cannot be written (then the model is unpacked)."""
    import numpy as np
    from py3langid import langid

    try:
        folder, table, moves = _model_files()
        typecode = (folder / "typecode").read_text()
        full = _unpacked_small(folder)
        with moves.open("rb") as f:
            mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        identifier = langid.LanguageIdentifier(
            np.load(table, mmap_mode="r"), full["nb_pc"], full["nb_classes"],
            memoryview(mapped).cast("B").cast(typecode), full["tk_output"], norm_probs=True,
            tk_row=full["tk_row"])
    except (OSError, ValueError, TypeError, KeyError) as exc:
        logger.info("Language detector: the model is held in memory (%s)", exc)
        return None
    return identifier


def _model_files() -> tuple[Path, Path, Path]:
    """The cache folder of this model, with its two large tables (written if missing)."""
    from py3langid import langid

    folder = cache_dir() / f"langid-{_stamp(langid.MODEL_DIR / langid.MODEL_FILE)}"
    table, moves = folder / "nb_ptc.npy", folder / "tk_nextmove.bin"
    if not (table.exists() and moves.exists()):
        _write_cache(folder, table, moves)
    return folder, table, moves


@lru_cache(maxsize=4)
def _stamp(model: Path) -> str:
    """The model's own digest (4.5 MB, milliseconds): every installation of the same model,
    in any virtual environment or clone, shares one cache folder instead of 66 MB each."""
    with model.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()[:12]


def _write_cache(folder: Path, table: Path, moves: Path) -> None:
    """Unpack the model once into ``folder`` (atomically: crawls may start side by side)."""
    import pickle

    import numpy as np

    identifier = _unpacked()
    folder.mkdir(parents=True, exist_ok=True)
    small = {"nb_pc": identifier.nb_pc, "nb_classes": identifier.nb_classes,
             "tk_output": identifier.tk_output, "tk_row": identifier.tk_row}
    for path, write in (
        (folder / "small.pickle", lambda f: pickle.dump(small, f, protocol=pickle.HIGHEST_PROTOCOL)),
        (folder / "typecode", lambda f: f.write(identifier.tk_nextmove.typecode.encode())),
        (table, lambda f: np.save(f, np.ascontiguousarray(identifier.nb_ptc))),
        (moves, lambda f: identifier.tk_nextmove.tofile(f)),
    ):
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _unpacked_small(folder: Path) -> dict:
    import pickle

    with (folder / "small.pickle").open("rb") as f:
        return pickle.load(f)  # our own cache file, written by _write_cache


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
