"""Technical words in the prose of documentation are terms of the site, not misspellings; real
typos next to them stay reported.

Each case is a crawl of a few pages through :class:`LanguageChecker`: the site's code, API
signatures and links to other sites tell which unknown words are names.
"""

from __future__ import annotations

from pipelines.language.checker import LanguageChecker
from pipelines.language.extract import extract_blocks, looks_like_signature
from pipelines.language.spelling import OK, Speller

SITE = "https://docs.example.org/"


def reported(*pages: str) -> set[str]:
    """Words reported as misspelt after a crawl of ``pages`` (HTML bodies)."""
    checker = LanguageChecker("en_US", site_url=SITE, builtin_grammar=False)
    found = []
    for n, body in enumerate(pages):
        url = f"{SITE}p{n}.html"
        found += checker.page_findings(url, checker.analyse(f"<html lang='en'><body>{body}</body></html>"))
    found += checker.finalize()
    return {f["word"] for f in found if f["type"] == "spelling"}


def test_names_used_in_code_are_terms_in_prose():
    """``shutil.rmtree()`` in code makes "rmtree" in prose a name; so are its plural and the
    forms made from it (``venvs``, ``picklable``, ``decref'ing``, ``unpickleable``)."""
    code = ("<p>Call <code>shutil.rmtree()</code>, <code>python -m venv</code>, <code>import pickle</code>, "
            "<code>Py_DECREF(op)</code>.</p>")  # fmt: skip
    prose = ("<p>The rmtree example removes venvs; values must be picklable, some are unpickleable, "
             "and the caller is responsible for decref'ing it. That makes mutiple writes.</p>")  # fmt: skip
    assert reported(code, prose) == {"mutiple"}
    # without the code, the same words are unknown
    assert {"rmtree", "venvs", "picklable", "unpickleable", "mutiple"} <= reported(prose)


def test_api_signatures_are_code():
    """An API signature (``window.overlay(destwin[, sminrow])``) is not prose, and the names of
    its parameters are terms where the prose mentions them."""
    page = ("<dl><dt>window.overlay(<em>destwin</em>[, <em>sminrow</em>, <em>dmaxrow</em>])\u00b6</dt>"
            "<dd><p>Overlay the window on top of <em>destwin</em>; <em>dmaxrow</em> is the last row; "
            "the detault is the whole window.</p></dd></dl>")  # fmt: skip
    assert reported(page) == {"detault"}
    blocks = [b.text for b in extract_blocks(f"<html><body>{page}</body></html>")[1]]
    assert not any(text.startswith("window.overlay") for text in blocks)


def test_signature_shape():
    for text in ("PyObject *PyList_New(Py_ssize_t len)\u00b6", "shutil.rmtree(path, ignore_errors=False)",
                 "MailSender.send(to, subject, cc=None, attachs=(), mimetype='text/plain')"):  # fmt: skip
        assert looks_like_signature(text), text
    for text in ("Add item(s)", "Call us (weekdays)", "open(file)", "See the guide (it is short)",
                 "Foo.bar(this is a long sentence of prose)"):  # fmt: skip
        assert not looks_like_signature(text), text


def test_names_in_links_to_other_sites_are_terms():
    """A word of a link's text that is in the linked site's address is a name (``wget`` linking
    to gnu.org/software/wget); a typo in a link within the site is still a typo, even when the
    page's address repeats it."""
    page = ('<p>Download it with <a href="https://www.gnu.org/software/wget/">wget</a> or use '
            '<a href="https://github.com/pytest-dev/pytest-xdist">pytest-xdist</a>; read '
            f'<a href="{SITE}guide/the-detault-setup.html">the detault setup</a> and '
            '<a href="https://example.net/help">the helpp page</a>.</p>')  # fmt: skip
    assert reported(page) == {"detault", "helpp"}


def test_apostrophe_endings_of_words_are_not_misspellings():
    speller = Speller("en_US")
    for word in ("or'ed", "and'ed", "xz'ed", "m'th"):
        assert speller.verdict(word) == OK, word
    assert speller.verdict("mutiple'ed") != OK
